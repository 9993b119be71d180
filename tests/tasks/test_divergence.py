"""A diverged training is recorded beside its artifact; a retry of the same configuration fails at once
(before loading inputs or compiling), any configuration change trains normally, and status and gc
know the record. With the in-process scheduler; tests/tasks/test_luigid.py runs it through luigid."""

from __future__ import annotations

import json
import logging

import pytest

import tasks
from pipeline.training import TrainingDivergedError
from stagecache.cli.gc import collect_garbage, stored_artifacts, used_keys
from stagecache.cli.listing import list_table
from stagecache.stages.divergence import DivergedBeforeError
from stagecache.stages.status import format_plan, plan
from stagecache.storage.roots import configured_root


@pytest.fixture
def spied(monkeypatch, caplog):
    """Counts TrainLogReg's input loads; captures the compile layer's log (one line per compiled function)."""
    calls = []
    original = tasks.TrainLogReg.load_inputs

    def load_inputs(self):
        calls.append(self.lr)
        return original(self)

    monkeypatch.setattr(tasks.TrainLogReg, "load_inputs", load_inputs)
    caplog.set_level(logging.INFO, logger="pipeline.compile.backend")
    return calls


def compiled(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled ")]


def test_a_diverged_configuration_is_refused_at_once_until_it_changes(pipeline, spied, caplog):
    pipeline.set("TrainLogReg", "lr", "1e38")
    error = pipeline.build_failing(tasks.TrainLogReg())
    assert isinstance(error, TrainingDivergedError)
    target = tasks.TrainLogReg().output()
    record = target.divergence_path
    assert record.name == f"{target.path.stem}.diverged.json" and record.parent == target.path.parent
    saved = json.loads(record.read_text())
    assert saved["task"] == "TrainLogReg" and saved["fingerprint"] == target.path.stem
    assert (saved["epoch"], saved["loss"], saved["error"]) == (1, "nan", str(error))
    assert saved["params"]["lr"] == "1e+38" and saved["time"].startswith("20")
    assert spied == [1e38] and compiled(caplog)  # the first attempt loaded its inputs and compiled
    assert not target.path.exists()

    # the same configuration again: refused before loading inputs or compiling, naming the record
    caplog.clear()
    error = pipeline.build_failing(tasks.TrainLogReg())
    assert isinstance(error, DivergedBeforeError)
    message = str(error)
    assert "\n" not in message
    assert message.startswith("TrainLogReg: this configuration diverged in an earlier run (epoch 1, loss nan, ")
    assert (
        f"recorded in {record}" in message
        and "change a significant parameter" in message
        and "delete that record" in message
    )
    assert spied == [1e38] and compiled(caplog) == []

    # status shows it (and changes nothing); gc keeps the record of the configuration in use
    before = record.read_bytes(), record.stat().st_mtime_ns
    (stage,) = [s for s in plan(tasks.TrainLogReg()) if s.family == "TrainLogReg"]
    assert stage.label == "diverged (will fail)" and stage.diverged == str(record)
    assert str(record) in stage.reasons[0] and "epoch 1, loss nan" in stage.reasons[0]
    assert "diverged (will fail)" in format_plan(plan(tasks.TrainLogReg()))
    assert (record.read_bytes(), record.stat().st_mtime_ns) == before
    items = stored_artifacts(configured_root())
    (item,) = [i for i in items if i.family == "TrainLogReg"]
    assert item.fingerprint == target.path.stem and f"TrainLogReg/{record.name}" in item.names and item.manifest is None
    assert collect_garbage(configured_root(), items, used_keys(tasks.TrainLogReg()), keep=0, dry_run=False) == ([], [])
    assert record.exists()

    # deleting the record allows one more try, which trains (and diverges and records) again
    record.unlink()
    assert isinstance(pipeline.build_failing(tasks.TrainLogReg()), TrainingDivergedError)
    assert spied == [1e38, 1e38] and record.exists()

    # any change of the configuration is a new fingerprint, which trains normally
    pipeline.set("TrainLogReg", "lr", "0.1")
    (stage,) = [s for s in plan(tasks.TrainLogReg()) if s.family == "TrainLogReg"]
    assert (stage.label, stage.reasons) == ("will run", ["never built"])  # a record is not a manifest
    assert pipeline.build(tasks.TrainLogReg()) == {"TrainLogReg"}
    fresh = tasks.TrainLogReg().output()
    assert fresh.exists() and fresh.path != target.path and not fresh.divergence_path.exists()
    assert spied == [1e38, 1e38, 0.1]
    assert [s.label for s in plan(tasks.TrainLogReg()) if s.family == "TrainLogReg"] == ["cached"]

    # gc never removes a divergence record, even once no configuration uses it: it is what stops a retry
    items = stored_artifacts(configured_root())
    assert "diverged" in list_table(items, used_keys(tasks.TrainLogReg()))
    removed, _ = collect_garbage(configured_root(), items, used_keys(tasks.TrainLogReg()), keep=0, dry_run=True)
    assert removed == []
    removed, _ = collect_garbage(configured_root(), items, used_keys(tasks.TrainLogReg()), keep=0, dry_run=False)
    assert removed == [] and record.exists() and fresh.exists()


def test_an_unreadable_record_still_refuses(pipeline, spied):
    pipeline.set("TrainLogReg", "lr", "1e38")
    record = tasks.TrainLogReg().output().divergence_path
    record.parent.mkdir(parents=True)
    record.write_text("{not json")
    error = pipeline.build_failing(tasks.TrainLogReg())
    assert isinstance(error, DivergedBeforeError) and "unreadable record" in str(error) and str(record) in str(error)
    assert spied == []
