"""FullReport and Retrain on an ``s3://`` root: the report, the history and the champions are keys
under the prefix; two retrains racing from two processes decide the day once."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from luigi.task_register import Register

import tasks
from tasks.retrain import read_history
from tests.tasks.conftest import ALL_TASKS

REPO = Path(tasks.__file__).resolve().parents[1]
DAY1, DAY2 = datetime.date(2026, 1, 30), datetime.date(2026, 1, 31)
FAMILIES = ("TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN")


def report_keys(store) -> set[str]:
    return {k[len("report/") :] for k in store.list("report/")}


def assert_published(store, records: int):
    """The bucket's report is FullReport's, and shows the bucket's history as it is now."""
    provenance = json.loads(store.get("report/provenance.json")[0])
    assert provenance["fingerprint"] == tasks.FullReport().fingerprint()
    history = store.get("history.jsonl")[0] if records else b""
    assert provenance["history"] == {"records": records, "sha256": hashlib.sha256(history).hexdigest()}
    page = store.get("report/index.html")[0].decode()
    assert ("History of scheduled retrains" in page) == bool(records)


def test_full_report_and_retrain_publish_report_history_and_champions_into_the_bucket(s3pipeline, tmp_path):
    store = s3pipeline.store
    assert s3pipeline.build(tasks.FullReport()) == ALL_TASKS
    assert {"index.html", "metrics.json", "provenance.json"} <= report_keys(store)
    assert any(name.endswith(".png") for name in report_keys(store)) and "history.png" not in report_keys(store)
    assert_published(store, records=0)
    assert not (tmp_path / "s3:").exists() and not Path("s3:").exists()  # nothing written as a local path
    assert s3pipeline.build(tasks.FullReport()) == set()  # complete: the bucket's report is this fingerprint's

    assert s3pipeline.build(tasks.Retrain(date=DAY1)) == {"CheckSources", "Retrain"}
    records = read_history()
    assert [(r["model"], r["promoted"]) for r in records] == [(f, True) for f in FAMILIES]
    assert "history.png" in report_keys(store)
    assert_published(store, records=4)
    for record in records:  # each champion names its training's object in the bucket (what gc keeps)
        champion = json.loads(store.get(f"champions/{record['model']}.json")[0])
        assert champion["fingerprint"] == record["fingerprint"] and champion["recorded"] == record["recorded"]
        training = tasks.report.TRAININGS[record["model"]]().output()
        assert champion["artifact"] == training.manifest()["artifact"]["key"] and store.head(champion["artifact"])
    assert s3pipeline.build(tasks.Retrain(date=DAY1), tasks.FullReport()) == set()

    # the next day: CheckSources finds the previous day's check in the bucket; nothing is promoted again
    assert s3pipeline.build(tasks.Retrain(date=DAY2)) == {"CheckSources", "Retrain"}
    assert (
        tasks.CheckSources(date=DAY2).previous_versions() == tasks.CheckSources(date=DAY1).output().load()["versions"]
    )
    assert [r["promoted"] for r in read_history()] == [True] * 4 + [False] * 4
    assert_published(store, records=8)
    assert s3pipeline.build(tasks.FullReport()) == set()
    # a report lost from the bucket is published again, history included
    for key in list(store.list("report/")):
        store.delete(key)
    assert s3pipeline.will_run() == {"FullReport"}
    assert s3pipeline.build(tasks.FullReport()) == {"FullReport"}
    assert_published(store, records=8)


RACER = '''import os
import sys
import time
from pathlib import Path

import luigi

import tasks
import stagecache.storage.stores.s3 as s3
from tasks import published

barrier, name = Path(os.environ["RACE_BARRIER"]), os.environ["RACE_NAME"]
append_decided = published.append_decided


def racing_append(decide):
    """Both racers decide the day on the history as it was before either appended (the compare-and-swap's read)."""
    waited = []

    def waiting(history):
        records = decide(history)
        if not waited:
            waited.append(True)
            (barrier / f"{name}-history").touch()
            deadline = time.time() + 60
            while len(list(barrier.glob("*-history"))) < 2 and time.time() < deadline:
                time.sleep(0.02)
        return records

    return append_decided(waiting)


published.append_decided = racing_append
for method in ("put_if_absent", "put_if_match"):
    def counting(self, key, *args, _put=getattr(s3.S3Store, method), **kwargs):
        info = _put(self, key, *args, **kwargs)
        if key.startswith("champions/") or key == "history.jsonl":
            print(f"written: {key}", flush=True)
        return info
    setattr(s3.S3Store, method, counting)

ok = luigi.build([tasks.Retrain(date=luigi.DateParameter().parse(sys.argv[1]), tolerance=float(sys.argv[2]))],
                 local_scheduler=True)
sys.exit(0 if ok else 1)
'''


def test_two_retrains_of_the_same_day_racing_from_two_processes_decide_the_day_once(s3pipeline, tmp_path):
    """Two retrains of one day (different tolerances, so two Retrain stages that no lease keeps apart) both decide
    the day on the history as it was before either appended: compare-and-swap lets one append; the other decides
    again on the newer history, finds the day decided, and both record that one decision; each champion is
    written once."""
    assert s3pipeline.build(tasks.FullReport()) == ALL_TASKS  # the models, up front (this process is a third host)
    config, barrier = tmp_path / "racers.cfg", tmp_path / "barrier"
    barrier.mkdir()
    with open(config, "w") as fh:
        s3pipeline.config.write(fh)
    (tmp_path / "racer.py").write_text(RACER)
    racers = []
    for name, tolerance in (("a", "0.0"), ("b", "0.5")):
        directory = tmp_path / name
        directory.mkdir()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "LUIGI_CONFIG_PATH": str(config),
            "RACE_BARRIER": str(barrier),
            "RACE_NAME": name,
        }
        racers.append(
            subprocess.Popen(
                [sys.executable, str(tmp_path / "racer.py"), DAY1.isoformat(), tolerance],
                cwd=directory,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [r.communicate(timeout=300)[0] for r in racers]
    assert [r.returncode for r in racers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    both = "".join(outputs)
    assert len(list(barrier.iterdir())) == 2  # both did decide on the empty history before either appended
    assert both.count("written: history.jsonl") == 1, both[-4000:]
    for family in FAMILIES:
        assert both.count(f"written: champions/{family}.json") == 1, both[-4000:]
    assert both.count("nothing judged again") == 1 and both.count("TrainLogReg promoted, TrainMLP promoted") == 2
    history = read_history()
    assert [(r["model"], r["promoted"]) for r in history] == [(f, True) for f in FAMILIES]
    Register.clear_instance_cache()
    outputs = [tasks.Retrain(date=DAY1, tolerance=t).output().load() for t in (0.0, 0.5)]
    assert [o["decisions"] for o in outputs] == [history, history]  # both retrains recorded the one decision
    assert sorted(o["decided_now"] for o in outputs) == [False, True]
    for record in history:
        champion = json.loads(s3pipeline.store.get(f"champions/{record['model']}.json")[0])
        assert {k: champion[k] for k in record} == record
    assert_published(s3pipeline.store, records=4)
    assert s3pipeline.build(tasks.FullReport()) == set()


def test_the_report_s_guard_waits_for_a_live_holder_even_when_the_artifact_is_published(s3pipeline):
    """A build may go on without the lease once the artifact it waits for is published; the report's publisher
    (which writes more than the artifact) waits until it holds the lease itself."""
    from stagecache.storage.stores.leases import acquire_lease

    s3pipeline.build(tasks.DownloadMNIST())
    s3pipeline.set("artifacts", "lease_seconds", "1")  # how long a guard waits before it looks again
    target = tasks.DownloadMNIST().output()
    other = acquire_lease(s3pipeline.store, target.stem, ttl=60, owner="other-host:1")  # a live holder
    with target.build_guard():
        assert target.lease is None  # published: no need to wait for the holder
    started = time.monotonic()
    threading.Timer(2.5, other.release).start()  # the holder finishes after the guard's first wait
    with target.build_guard(exclusive=True):
        assert target.lease is not None and time.monotonic() - started >= 2.5
