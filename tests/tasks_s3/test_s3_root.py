"""The artifact base class on an ``s3://`` root: publish, reuse, verified loads, leases, checkpoints,
the report/champions/history helpers, status, ``artifacts list`` and ``artifacts gc``."""
from __future__ import annotations

import io
import json
import pickle
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from luigi.task_register import Register

import tasks
from tasks import published
from tasks.checkpoints import StoreCheckpointer
from tasks.store_target import StoreArtifactTarget
from tasks.stores.leases import LeaseLost, acquire_lease, lease_key, read_lease


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
        assert isinstance(target, StoreArtifactTarget)
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


def test_load_checks_the_sha256_before_unpickling_even_when_size_and_etag_pass(s3pipeline, tmp_path):
    s3pipeline.build(tasks.DownloadMNIST())
    target = tasks.DownloadMNIST().output()
    manifest = target.manifest()
    # A manifest rewritten to name a forged object (as someone with write access to manifests could)
    # still carries the sha256 the loader checks: the forged bytes are never unpickled.
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Booby(marker))
    s3pipeline.store.put_if_absent("DownloadMNIST/evil.joblib", evil)
    forged = dict(manifest, artifact={**manifest["artifact"], "key": "DownloadMNIST/evil.joblib",
                                      "bytes": len(evil), "etag": s3pipeline.store.head("DownloadMNIST/evil.joblib").etag})
    info = s3pipeline.store.head(target.manifest_key)
    s3pipeline.store.put_if_match(target.manifest_key, json.dumps(forged).encode(), info.etag)
    with pytest.raises(tasks.base.ArtifactCorruptError, match="checksum"):
        target.load()
    assert not marker.exists()
    assert target.manifest() is None  # quarantined: the stage counts as not built


def test_a_worker_that_lost_its_lease_cannot_publish(s3pipeline):
    target = tasks.DownloadMNIST().output()
    with pytest.raises(LeaseLost):
        with target.build_guard():
            # another host takes the lease over (as after this one stalled past its ttl)
            state = read_lease(s3pipeline.store, target.stem)
            s3pipeline.store.put_if_match(lease_key(target.stem), b'{"owner": "other", "token": "t", "ttl": 3}',
                                          state.etag)
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
    assert keys(store, "TrainMLP/") == {f"TrainMLP/0123456789abcdef.checkpoints/epoch-0000{e}.{s}"
                                        for e in (2, 3) for s in ("joblib", "json")}
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

    Register.clear_instance_cache()
    assert pytensor().compile_cache_dir() == tmp_path / "host" / "cache" / "compile_cache"
