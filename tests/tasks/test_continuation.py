"""Longer trainings continue from shorter ones: the final training state of a build with fewer epochs is
kept beside its artifact, and a build that differs only by more epochs starts from it, to the same bits
(the engine's side, a killed continued build included, on the toy DAG: tests/engine/test_continuation.py)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import tasks
from stagecache.cli import main
from stagecache.cli.gc import collect_garbage, stored_artifacts, trim_training_states, used_keys
from stagecache.cli.listing import list_table
from stagecache.run.scheduler_progress import ReportsProgress
from stagecache.stages.status import plan
from stagecache.storage.roots import configured_root

MODELS = ["TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP"]
TIMINGS = {"epoch_seconds", "eval_seconds"}


@pytest.fixture
def epochs_trained(monkeypatch):
    """``(family, epoch)`` of every epoch trained in this process from now on (via the progress hook)."""
    seen: list[tuple[str, int]] = []
    original = ReportsProgress.report_progress

    def spy(self, record):
        seen.append((self.get_task_family(), record["epoch"]))
        return original(self, record)

    monkeypatch.setattr(ReportsProgress, "report_progress", spy)
    return seen


def _task(family: str, **params):
    return getattr(tasks, family)(**params)


def assert_same_training(a: dict, b: dict) -> None:
    """Weights (and every other array or number a model stores) equal to the bit; the history too,
    except the seconds it took."""
    for name in a["weights"]:
        np.testing.assert_array_equal(a["weights"][name], b["weights"][name])
    assert set(a["history"]) == set(b["history"])
    for key in set(a["history"]) - TIMINGS:
        assert a["history"][key] == b["history"][key], key
    for key in ("kept", "last"):  # the char-RNN's kept (best) epoch
        assert a.get(key) == b.get(key)
    if "grid" in a:  # the moons' decision boundary
        np.testing.assert_array_equal(a["grid"]["p1"], b["grid"]["p1"])


def _scratch(pipeline, tmp_path, family: str, epochs: int) -> dict:
    """The same training built from the start in a root of its own."""
    root = pipeline.get("artifacts", "root")
    pipeline.set("artifacts", "root", str(tmp_path / "scratch"))
    try:
        pipeline.build(_task(family, epochs=epochs))
        return _task(family, epochs=epochs).output().load()
    finally:
        pipeline.set("artifacts", "root", root)


@pytest.mark.parametrize("family", MODELS)
def test_a_longer_training_continues_and_ends_bit_identical_to_one_from_scratch(
    pipeline, tmp_path, family, epochs_trained
):
    pipeline.build(_task(family, epochs=2))
    short = _task(family, epochs=2).output()
    manifest = short.manifest()
    assert manifest["training_state"]["checkpoint"] == 2 and manifest["training_state"]["bytes"] > 0
    assert short.checkpointer().epochs() == [2]  # only the final state is kept

    epochs_trained.clear()
    assert pipeline.build(_task(family, epochs=4)) == {family}
    assert epochs_trained == [(family, 3), (family, 4)]  # only the missing epochs
    longer = _task(family, epochs=4).output()
    assert longer.manifest()["continued_from"] == {"fingerprint": manifest["fingerprint"], "epochs": "2"}
    continued = longer.load()
    assert continued["history"]["epoch"] == [1, 2, 3, 4]

    assert_same_training(continued, _scratch(pipeline, tmp_path, family, 4))


def test_status_names_the_build_a_training_continues_from(pipeline):
    pipeline.build(tasks.TrainLogReg())
    source = tasks.TrainLogReg().fingerprint()
    pipeline.set("TrainLogReg", "epochs", "4")
    status = {s.family: s for s in plan(tasks.TrainLogReg())}["TrainLogReg"]
    assert status.reasons[0] == f"continues from epochs=2 (fingerprint {source[:16]}…)"
    assert "parameter epochs: 2 → 4" in status.reasons

    # fewer epochs, or another significant parameter changed too: nothing to continue from
    pipeline.set("TrainLogReg", "epochs", "1")
    assert not any("continues" in r for r in {s.family: s for s in plan(tasks.TrainLogReg())}["TrainLogReg"].reasons)
    pipeline.set("TrainLogReg", "epochs", "4")
    pipeline.set("TrainLogReg", "lr", "0.2")
    assert not any("continues" in r for r in {s.family: s for s in plan(tasks.TrainLogReg())}["TrainLogReg"].reasons)


def test_a_sweep_of_epochs_trains_each_epoch_once(pipeline, epochs_trained):
    pipeline.build(tasks.OneHotMNIST())
    epochs_trained.clear()
    # listed longest first: the engine's priority still builds the shortest first
    pipeline.build(tasks.TrainLogReg(epochs=5), tasks.TrainLogReg(epochs=2), tasks.TrainLogReg(epochs=3))
    assert [e for _, e in epochs_trained] == [1, 2, 3, 4, 5]  # 5 epochs, not 10
    assert tasks.TrainLogReg(epochs=5).output().manifest()["continued_from"]["epochs"] == "3"


def test_a_continued_training_that_fails_midway_resumes_from_its_own_checkpoint(
    pipeline, tmp_path, monkeypatch, epochs_trained, caplog
):
    pipeline.build(tasks.TrainDeepMLP())
    original = ReportsProgress.report_progress

    def crash_after_epoch_3(self, record):  # after epoch 3's checkpoint was saved: as a kill would leave it
        original(self, record)
        if record["epoch"] == 3:
            raise RuntimeError("killed")

    monkeypatch.setattr(ReportsProgress, "report_progress", crash_after_epoch_3)
    pipeline.set("TrainDeepMLP", "epochs", "5")
    pipeline.build_failing(tasks.TrainDeepMLP())
    target = tasks.TrainDeepMLP().output()
    assert not target.exists() and target.checkpointer().epochs()[-1] == 3
    assert (
        "resumes after its own checkpoint 3"
        in {s.family: s for s in plan(tasks.TrainDeepMLP())}["TrainDeepMLP"].reasons
    )

    monkeypatch.setattr(ReportsProgress, "report_progress", original)
    caplog.set_level(logging.INFO)
    caplog.clear()
    assert pipeline.build(tasks.TrainDeepMLP()) == {"TrainDeepMLP"}
    assert "continuing from" not in caplog.text and "resuming after epoch 3" in caplog.text
    assert target.checkpointer().epochs() == [5]
    assert_same_training(target.load(), _scratch(pipeline, tmp_path, "TrainDeepMLP", 5))


def test_gc_keeps_the_training_state_only_of_what_the_configuration_uses(pipeline, capsys):
    pipeline.build(tasks.TrainMLP())
    short = tasks.TrainMLP().output()
    pipeline.set("TrainMLP", "epochs", "3")
    pipeline.build(tasks.TrainMLP())
    longer = tasks.TrainMLP().output()
    root = configured_root()
    used = used_keys(tasks.TrainMLP())
    items = stored_artifacts(root)
    table = list_table(items, used)
    assert "STATE" in table.splitlines()[0]
    mlp = {i.fingerprint: i for i in items if i.family == "TrainMLP"}
    assert mlp[longer.stem.split("/")[1]].checkpoint_bytes == longer.manifest()["training_state"]["bytes"]

    removed, _ = collect_garbage(root, items, used, keep=1, dry_run=True)  # keeps the unused 2-epoch one
    assert not [i for i in removed if i.family == "TrainMLP"]
    trimmed, _ = trim_training_states(root, items, used, removed, dry_run=True)
    assert [(i.family, i.fingerprint) for i in trimmed] == [("TrainMLP", short.stem.split("/")[1])]
    capsys.readouterr()
    assert main(["artifacts", "gc", "TrainMLP", "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert f"dropped the training state of {short.stem} (" in out and longer.stem not in out
    assert short.exists() and short.checkpointer().epochs() == []  # the artifact stays, its state went
    assert longer.exists() and longer.checkpointer().epochs() == [3]  # used: kept

    pipeline.set("TrainMLP", "epochs", "4")  # continues from 3 (kept), never from 2 (state dropped)
    reasons = {s.family: s for s in plan(tasks.TrainMLP())}["TrainMLP"].reasons
    assert reasons[0] == f"continues from epochs=3 (fingerprint {longer.stem.split('/')[1]}…)"
