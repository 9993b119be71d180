"""The artifact base class on an ``s3://`` root: publish, reuse, verified loads, leases, checkpoints,
the report/champions/history helpers, status, ``artifacts list`` and ``artifacts gc``."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from luigi.task_register import Register

import tasks
from stagecache.storage.checkpoints import StoreCheckpointer
from stagecache.storage.roots import ArtifactCorruptError
from stagecache.storage.roots.bucket import BucketTarget
from stagecache.storage.stores.leases import LeaseLost, acquire_lease, lease_key, read_lease
from tasks import published


class Booby:
    """Unpickling this creates the file ``path`` (stands for any code an attacker could run)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def keys(store, prefix=""):
    return set(store.list(prefix))


def test_an_s3_root_publishes_each_stage_and_reuses_it(s3pipeline, tmp_path):
    ran = s3pipeline.build(tasks.OneHotMNIST())
    assert ran == {"DownloadMNIST", "OneHotMNIST"}
    store = s3pipeline.store
    for task in (tasks.DownloadMNIST(), tasks.OneHotMNIST()):
        target = task.output()
        assert isinstance(target, BucketTarget)
        manifest = json.loads(store.get(f"{target.stem}.json")[0])
        assert manifest["fingerprint"] == task.fingerprint()
        assert manifest["artifact"]["key"] in keys(store, target.stem)
    assert not any(k.startswith("_leases/") for k in keys(store))  # released after each build
    assert s3pipeline.build(tasks.OneHotMNIST()) == set()
    assert not (tmp_path / "s3:").exists() and not Path("s3:").exists()  # nothing written as a local path
    # the loads went through this host's verified cache
    data = tasks.OneHotMNIST().output().load()
    assert data["X_train"].shape[1] == 784
    cached = list((tmp_path / "host" / "cache").rglob("*"))
    assert any(p.is_file() and len(p.name) == 64 for p in cached)


def test_a_replaced_object_is_detected_never_unpickled_quarantined_and_rebuilt(s3pipeline, tmp_path):
    s3pipeline.build(tasks.OneHotMNIST())
    store, target = s3pipeline.store, tasks.OneHotMNIST().output()
    artifact = target.manifest()["artifact"]
    marker = tmp_path / "pwned"
    store.delete(artifact["key"])
    store.put_if_absent(artifact["key"], pickle.dumps(Booby(marker)), metadata={"sha256": artifact["sha256"]})
    assert target.verdict().state == "corrupt"
    assert s3pipeline.will_run(tasks.OneHotMNIST()) == {"OneHotMNIST"}
    assert s3pipeline.build(tasks.OneHotMNIST()) == {"OneHotMNIST"}
    assert not marker.exists()
    assert any(k.startswith("_quarantine/") and k.endswith(artifact["key"]) for k in keys(store))
    assert tasks.OneHotMNIST().output().load()["X_train"].shape[1] == 784


def test_an_object_replaced_by_bytes_of_the_same_size_shows_as_corrupt_by_its_etag(s3pipeline):
    s3pipeline.build(tasks.DownloadMNIST())
    store, target = s3pipeline.store, tasks.DownloadMNIST().output()
    key = target.manifest()["artifact"]["key"]
    data, info = store.get(key)
    store.put_if_match(key, data[:-1] + bytes([data[-1] ^ 1]), info.etag)  # one bit flipped, same size
    verdict = target.verdict()
    assert verdict.state == "corrupt" and "ETag" in verdict.problem
    assert s3pipeline.build(tasks.DownloadMNIST()) == {"DownloadMNIST"}
    assert target.verdict().state == "present"


def test_load_checks_the_sha256_before_unpickling_even_when_size_and_etag_pass(s3pipeline, tmp_path):
    s3pipeline.build(tasks.DownloadMNIST())
    target = tasks.DownloadMNIST().output()
    manifest = target.manifest()
    # A manifest rewritten to name a forged object (as someone with write access to manifests could)
    # still carries the sha256 the loader checks: the forged bytes are never unpickled.
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Booby(marker))
    s3pipeline.store.put_if_absent("DownloadMNIST/evil.joblib", evil)
    forged = dict(
        manifest,
        artifact={
            **manifest["artifact"],
            "key": "DownloadMNIST/evil.joblib",
            "bytes": len(evil),
            "etag": s3pipeline.store.head("DownloadMNIST/evil.joblib").etag,
        },
    )
    info = s3pipeline.store.head(target.manifest_key)
    s3pipeline.store.put_if_match(target.manifest_key, json.dumps(forged).encode(), info.etag)
    with pytest.raises(ArtifactCorruptError, match="checksum"):
        target.load()
    assert not marker.exists()
    assert target.manifest() is None  # quarantined: the stage counts as not built


def test_a_worker_that_lost_its_lease_cannot_publish(s3pipeline):
    target = tasks.DownloadMNIST().output()
    with pytest.raises(LeaseLost), target.build_guard():
        # another host takes the lease over (as after this one stalled past its ttl)
        state = read_lease(s3pipeline.store, target.stem)
        s3pipeline.store.put_if_match(lease_key(target.stem), b'{"owner": "other", "token": "t", "ttl": 3}', state.etag)
        target.write({"x": 1}, {"task": "DownloadMNIST"})
    assert target.manifest() is None
    assert not [k for k in keys(s3pipeline.store, "DownloadMNIST/") if k.endswith(".joblib")]


def test_a_stage_whose_lease_is_held_waits_and_takes_it_over_after_it_expires(s3pipeline):
    stem = tasks.DownloadMNIST().output().stem
    acquire_lease(s3pipeline.store, stem, ttl=2, owner="dead-host:1")  # never renewed: its holder died
    started = time.monotonic()
    assert s3pipeline.build(tasks.DownloadMNIST()) == {"DownloadMNIST"}
    assert time.monotonic() - started >= 2
    assert read_lease(s3pipeline.store, stem) is None


def test_checkpoints_in_the_store_resume_from_the_newest_intact_epoch(s3pipeline, tmp_path):
    store = s3pipeline.store
    checkpointer = StoreCheckpointer(store, "TrainMLP/0123456789abcdef.checkpoints/", keep=2)
    assert checkpointer.load_latest() is None
    for epoch in (1, 2, 3):
        checkpointer.save(epoch, {"epoch": epoch, "w": np.full(3, epoch)})
    assert keys(store, "TrainMLP/") == {
        f"TrainMLP/0123456789abcdef.checkpoints/epoch-0000{e}.{s}" for e in (2, 3) for s in ("joblib", "json")
    }
    # another host (its own empty cache) resumes from epoch 3
    other = s3pipeline.seaweed.store(store.prefix, cache_dir=tmp_path / "other-host")
    assert StoreCheckpointer(other, "TrainMLP/0123456789abcdef.checkpoints/").load_latest()["epoch"] == 3
    marker = tmp_path / "pwned"
    key = "TrainMLP/0123456789abcdef.checkpoints/epoch-00003.joblib"
    store.put_if_match(key, pickle.dumps(Booby(marker)), store.head(key).etag)
    fresh = s3pipeline.seaweed.store(store.prefix, cache_dir=tmp_path / "third-host")
    assert StoreCheckpointer(fresh, "TrainMLP/0123456789abcdef.checkpoints/").load_latest()["epoch"] == 2
    assert not marker.exists()
    checkpointer.clear()
    assert keys(store, "TrainMLP/") == set()


def test_a_checkpoint_save_after_the_lease_was_lost_raises(s3pipeline):
    store = s3pipeline.store
    lease = acquire_lease(store, "TrainMLP/abc", ttl=3, owner="me:1")
    store.put_if_match(lease_key("TrainMLP/abc"), b'{"owner": "other", "token": "t", "ttl": 3}', lease.etag)
    with pytest.raises(LeaseLost):
        StoreCheckpointer(store, "TrainMLP/abc.checkpoints/", lease=lease).save(1, {"epoch": 1})
    assert keys(store, "TrainMLP/abc.checkpoints/") == set()


def test_the_compile_cache_stays_on_local_disk_under_an_s3_root(s3pipeline, tmp_path):
    from tasks.config import pytensor

    s3pipeline.set("pytensor", "compile_cache", "compile_cache")  # the default (the tests share an absolute one)
    assert pytensor().compile_cache_dir() == tmp_path / "host" / "cache" / "compile_cache"


def test_publish_directory_replaces_the_report_and_writes_the_provenance_last(s3pipeline):
    store = s3pipeline.store
    published.publish_directory(
        {"index.html": b"<p>1</p>", "old.png": b"x", "provenance.json": b'{"fingerprint": "a"}'}
    )
    published.publish_directory({"index.html": b"<p>2</p>", "provenance.json": b'{"fingerprint": "b"}'})
    assert keys(store, "report/") == {"report/index.html", "report/provenance.json"}
    assert published.read_published("index.html") == b"<p>2</p>"
    assert json.loads(published.read_published("provenance.json"))["fingerprint"] == "b"
    assert published.read_published("missing.png") is None
    assert published.report_location().endswith(f"{store.prefix}/report/")


def test_publish_directory_on_a_local_root_is_the_atomic_directory_swap(pipeline):
    published.publish_directory({"index.html": b"1", "provenance.json": b"{}"})
    published.publish_directory({"index.html": b"2", "provenance.json": b"{}"})
    assert sorted(p.name for p in (pipeline.root / "report").iterdir()) == ["index.html", "provenance.json"]
    assert published.read_published("index.html") == b"2"


def _history_key(record):
    return record["date"], record["model"]


@pytest.mark.parametrize("root", ["local", "s3"])
def test_history_appends_once_per_key_and_champions_swap_atomically(root, pipeline, request):
    if root == "s3":
        request.getfixturevalue("s3pipeline")
    first = published.append_history([{"date": "d1", "model": "M", "promoted": True}], _history_key)
    again = published.append_history(
        [{"date": "d1", "model": "M", "promoted": False}, {"date": "d2", "model": "M", "promoted": False}], _history_key
    )
    assert first[0]["promoted"] is True and again[0]["promoted"] is True  # the first decision is kept
    assert [(r["date"], r["promoted"]) for r in published.read_history()] == [("d1", True), ("d2", False)]
    assert published.read_champion("M") is None
    assert published.update_champion("M", lambda current: None) is None  # no promotion: nothing written
    assert published.read_champion("M") is None and not published.read_published("M.json", "champions")

    def better(value):
        return lambda current: {"value": value} if current is None or value > current["value"] else None

    assert published.update_champion("M", better(0.5)) == {"value": 0.5}
    assert published.update_champion("M", better(0.4)) == {"value": 0.5}
    assert published.read_champion("M") == {"value": 0.5}


def test_two_hosts_promoting_from_the_same_champion_cannot_both_win(s3pipeline):
    from stagecache.storage.stores.cas import read_json

    published.update_champion("M", lambda c: {"value": 0.5, "by": "seed"})
    seen = []

    def decide(value, by):
        def inner(current):
            seen.append((by, current["by"]))
            if by == "a" and len(seen) == 1:  # host b promotes while host a is deciding
                published.update_champion("M", decide(0.9, "b"))
            return {"value": value, "by": by} if value > current["value"] else None

        return inner

    assert published.update_champion("M", decide(0.7, "a")) == {"value": 0.9, "by": "b"}
    assert ("a", "b") in seen  # a decided again against b's champion, and kept it
    assert read_json(s3pipeline.store, "champions/M.json")[0]["by"] == "b"


def test_status_list_and_gc_on_an_s3_root(s3pipeline, capsys):
    from stagecache.cli import main

    s3pipeline.build(tasks.OneHotMNIST())
    Register.clear_instance_cache()
    assert main(["status", "OneHotMNIST"]) == 0
    out = capsys.readouterr().out
    assert "DownloadMNIST" in out and "cached" in out and "will run" not in out
    old = tasks.OneHotMNIST().output().stem
    s3pipeline.set("OneHotMNIST", "train_limit", "100")
    assert s3pipeline.will_run(tasks.OneHotMNIST()) == {"OneHotMNIST"}
    assert main(["status", "OneHotMNIST"]) == 0
    assert "parameter train_limit: 0 → 100" in capsys.readouterr().out
    s3pipeline.build(tasks.OneHotMNIST())
    new = tasks.OneHotMNIST().output().stem
    store = s3pipeline.store
    store.put_if_absent("OneHotMNIST/ffffffffffffffff.checkpoints/epoch-00001.joblib", b"x")  # an orphan
    busy = "OneHotMNIST/eeeeeeeeeeeeeeee"  # a build in progress on another host: lease live, no manifest yet
    store.put_if_absent(f"{busy}.checkpoints/epoch-00001.joblib", b"x")
    lease = acquire_lease(store, busy, ttl=60, owner="other-host:1")
    assert main(["artifacts", "list", "OneHotMNIST"]) == 0
    rows = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()[1:]}
    # TASK FINGERPRINT SIZE (2) STATE ("-") AGE USED
    assert rows[tuple(new.split("/"))].split()[6] == "yes" and rows[tuple(old.split("/"))].split()[6] == "no"
    assert ("OneHotMNIST", "ffffffffffffffff") in rows
    assert rows[("OneHotMNIST", "eeeeeeeeeeeeeeee")].endswith("being built by other-host:1")  # listed, never removed
    published.update_champion("OneHotMNIST", lambda c: {"model": "OneHotMNIST", "fingerprint": old.split("/")[1]})
    assert main(["artifacts", "gc", "OneHotMNIST", "--keep", "0"]) == 0
    out = capsys.readouterr().out
    assert "removed OneHotMNIST/ffffffffffffffff" in out and "removed 1 artifact(s); skipped 1 in use" in out
    assert f"skipped {busy}: being built by other-host:1" in out
    published.update_champion("OneHotMNIST", lambda c: {"model": "other", "fingerprint": "x"})
    assert main(["artifacts", "gc", "OneHotMNIST", "--keep", "0"]) == 0
    assert f"removed {old}" in capsys.readouterr().out
    left = keys(store, "OneHotMNIST/")
    assert not any(k.startswith(old) for k in left) and any(k.startswith(new) for k in left)
    assert any(k.startswith(busy) for k in left)
    lease.release()
    assert s3pipeline.build(tasks.OneHotMNIST()) == set()


def test_a_live_runs_claim_keeps_what_it_uses_from_gc_until_it_expires(s3pipeline, capsys):
    """A run on another host claims its stages in the bucket (``_runs/<owner>.json``, renewed while it
    lives): gc skips them and says so; once the claim is not renewed for ``lease_seconds`` it is dropped."""
    from stagecache.cli import main
    from stagecache.storage.roots import bucket_claims, configured_root

    s3pipeline.build(tasks.OneHotMNIST())
    stem = tasks.OneHotMNIST().output().stem
    root = configured_root()
    root.claim("other-host:7", {tuple(stem.split("/"))})
    assert root.live_claims()["other-host:7"] == {tuple(stem.split("/"))}
    s3pipeline.set("OneHotMNIST", "train_limit", "100")  # gc's configuration no longer uses it
    assert main(["artifacts", "gc", "OneHotMNIST", "--keep", "0"]) == 0
    out = capsys.readouterr().out
    assert f"skipped {stem}: in use by the run other-host:7" in out and f"removed {stem}" not in out
    # the other host died: its claim is no longer renewed, and expires
    with bucket_claims._lock:
        bucket_claims._held.clear()
    s3pipeline.set("artifacts", "lease_seconds", "1")
    deadline = time.time() + 30  # older than lease_seconds by the store's clock (whole seconds here)
    while "other-host:7" in configured_root().live_claims():
        assert time.time() < deadline, "the claim never expired"
        time.sleep(0.5)
    assert main(["artifacts", "gc", "OneHotMNIST", "--keep", "0"]) == 0
    assert f"removed {stem}" in capsys.readouterr().out
