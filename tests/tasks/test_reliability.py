"""Faults injected for real: killed processes, concurrent runs, corrupt checkpoints, divergence."""
import os
import signal
import time

import numpy as np
import pytest

import tasks
from tasks.checkpoints import DirectoryCheckpointer
from tests.tasks.conftest import luigi_process


def _wait_for(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_killed_training_resumes_and_ends_bit_identical(pipeline, tmp_path):
    pipeline.set("TrainDeepMLP", "epochs", "30")
    pipeline.build(tasks.OneHotMNIST())
    target = tasks.TrainDeepMLP().output()

    proc = luigi_process(pipeline, tmp_path, "TrainDeepMLP")
    assert _wait_for(lambda: (target.checkpoint_dir / "epoch-00003.json").exists()), proc.communicate()[0][-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not target.exists() and not target.path.exists()

    assert pipeline.build(tasks.TrainDeepMLP()) == {"TrainDeepMLP"}
    resumed = target.load()
    assert resumed["history"]["epoch"] == list(range(1, 31))
    assert not target.checkpoint_dir.exists()
    assert not [p for p in target.path.parent.iterdir() if p.name.startswith(".tmp-")]

    # the same run uninterrupted, elsewhere
    pipeline.set("artifacts", "root", str(tmp_path / "clean"))
    pipeline.build(tasks.TrainDeepMLP())
    clean = tasks.TrainDeepMLP().output().load()
    for name in clean["weights"]:
        np.testing.assert_array_equal(resumed["weights"][name], clean["weights"][name])
    assert resumed["history"]["train_loss"] == clean["history"]["train_loss"]


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tmp_path):
    ckpt = DirectoryCheckpointer(tmp_path / "x.checkpoints", tmp_path)
    for epoch in (1, 2, 3):
        ckpt.save(epoch, {"epoch": epoch, "state": {"w": np.full(3, epoch)}})
    assert sorted(p.name for p in ckpt.directory.glob("*.joblib")) == ["epoch-00002.joblib", "epoch-00003.joblib"]
    latest = ckpt.directory / "epoch-00003.joblib"
    latest.write_bytes(latest.read_bytes()[:-10])
    assert ckpt.load_latest()["epoch"] == 2
    assert (tmp_path / "_quarantine").is_dir()
    ckpt.clear()
    assert ckpt.load_latest() is None


def test_two_processes_compute_each_task_once(pipeline, tmp_path):
    first = luigi_process(pipeline, tmp_path, "FullReport", "--workers", "1")
    second = luigi_process(pipeline, tmp_path, "EvaluateDeepMLP")
    out1, out2 = first.communicate(timeout=600)[0], second.communicate(timeout=600)[0]
    assert first.returncode == 0, out1[-3000:]
    assert second.returncode == 0, out2[-3000:]
    wrote = [line for line in (out1 + out2).splitlines() if "tasks.base" in line and ": wrote " in line]
    families = [line.split(": wrote ")[0].rsplit(" ", 1)[-1] for line in wrote]
    assert sorted(families) == sorted(set(families)), families
    assert {"TrainDeepMLP", "EvaluateDeepMLP", "FullReport"} <= set(families)
    assert pipeline.build() == set()


def test_divergence_stops_training_without_an_artifact(pipeline):
    pipeline.set("TrainLogReg", "lr", "1e38")
    result = __import__("luigi").build([tasks.TrainLogReg()], local_scheduler=True, detailed_summary=True)
    assert result.status.name == "FAILED"
    assert not tasks.TrainLogReg().output().path.exists()


@pytest.mark.parametrize("section, key, value, message", [
    ("TrainDeepMLP", "lr", "-0.1", "[TrainDeepMLP] lr must be > 0, got -0.1"),
    ("TrainDeepMLP", "p_drop_hidden", "1.0", "[TrainDeepMLP] p_drop_hidden must lie in [0, 1), got 1.0"),
    ("TrainMLP", "batch_size", "0", "[TrainMLP] batch_size must be > 0, got 0"),
    ("TrainCharRNN", "optimizer", "sgd", "'optimizer' (sgd is not a valid choice"),
])
def test_invalid_configuration_fails_before_any_work(pipeline, section, key, value, message):
    pipeline.set(section, key, value)
    with pytest.raises(ValueError) as err:
        tasks.FullReport().fingerprint()
    assert message in str(err.value)
    assert not pipeline.root.exists()
