"""Faults injected for real: killed processes, concurrent runs, corrupt checkpoints, divergence."""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tasks
from pipeline.data.idx import encode_idx
from pipeline.training import TrainingDivergedError
from stagecache.storage.checkpoints import DirectoryCheckpointer
from tests.tasks.conftest import luigi_process


def _epochs_saved(target) -> int:
    """The newest epoch checkpointed so far (0 for none): polling one file name could miss it under load."""
    names = [p.stem for p in target.checkpoint_dir.glob("epoch-*.json")] if target.checkpoint_dir.is_dir() else []
    return max((int(n.split("-")[1]) for n in names), default=0)


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
    assert _wait_for(lambda: _epochs_saved(target) >= 3), proc.communicate()[0][-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not target.exists() and not target.path.exists()

    assert pipeline.build(tasks.TrainDeepMLP()) == {"TrainDeepMLP"}
    resumed = target.load()
    assert resumed["history"]["epoch"] == list(range(1, 31))
    # only the final training state stays (a longer training continues from it: test_continuation.py)
    assert sorted(p.name for p in target.checkpoint_dir.iterdir()) == ["epoch-00030.joblib", "epoch-00030.json"]
    assert not [p for p in target.path.parent.iterdir() if p.name.startswith(".tmp-")]

    # the same run uninterrupted, elsewhere
    pipeline.set("artifacts", "root", str(tmp_path / "clean"))
    pipeline.build(tasks.TrainDeepMLP())
    clean = tasks.TrainDeepMLP().output().load()
    for name in clean["weights"]:
        np.testing.assert_array_equal(resumed["weights"][name], clean["weights"][name])
    assert resumed["history"]["train_loss"] == clean["history"]["train_loss"]


def test_killed_during_an_artifact_write_leaves_no_artifact_and_no_temporaries(pipeline, tmp_path):
    pipeline.build(tasks.DownloadMNIST())
    target = tasks.OneHotMNIST().output()
    writer = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from stagecache.storage.localfs import atomic_write

        def slow(fh):
            fh.write(b"partial bytes of an artifact" * 1000)
            fh.flush()
            print("WRITING", flush=True)
            time.sleep(120)

        atomic_write(Path({str(target.path)!r}), slow)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", writer],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == "WRITING"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    temporaries = [p for p in target.path.parent.iterdir() if p.name.startswith(".tmp-")]
    assert temporaries and not target.path.exists()

    assert pipeline.build(tasks.OneHotMNIST()) == {"OneHotMNIST"}
    assert target.exists()
    assert not [p for p in target.path.parent.iterdir() if p.name.startswith(".tmp-")]


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


def test_a_forked_worker_trains_the_bits_of_a_one_worker_build(pipeline, tmp_path):
    """README's command (``--workers 2``) trains each model in a process luigi forks: the deep net's weights (its
    dropout masks and XLA's threaded products are where a forked worker could differ) are those of a one-worker
    build, bit for bit. (Two runs at once, each stage built once: tests/engine/test_two_runs.py, on the toy DAG.)"""
    pipeline.build(tasks.OneHotMNIST())
    proc = luigi_process(pipeline, tmp_path, "TrainDeepMLP", "--workers", "2")
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    assert "TrainDeepMLP: wrote " in out, out[-3000:]
    forked = tasks.TrainDeepMLP().output().load()["weights"]
    pipeline.set("artifacts", "root", str(tmp_path / "one-worker"))
    assert "TrainDeepMLP" in pipeline.build(tasks.TrainDeepMLP())
    alone = tasks.TrainDeepMLP().output().load()["weights"]
    assert sorted(alone) == sorted(forked)
    for name, value in alone.items():
        np.testing.assert_array_equal(value, forked[name], err_msg=name)


def test_divergence_stops_training_without_an_artifact(pipeline):
    pipeline.set("TrainLogReg", "lr", "1e38")
    error = pipeline.build_failing(tasks.TrainLogReg())
    assert isinstance(error, TrainingDivergedError)
    assert "TrainLogReg: training loss is nan in epoch 1, batch 2 of 10, learning rate 1e+38" in str(error)
    assert not tasks.TrainLogReg().output().path.exists()


def test_bad_idx_fails_naming_the_file_and_writes_nothing(pipeline, tmp_path, tiny_mnist):
    bad = tmp_path / "bad-mirror"
    shutil.copytree(tiny_mnist[0], bad)
    labels = encode_idx(np.zeros(600, dtype=np.uint8))  # 600 labels for 768 images
    (bad / "train-labels-idx1-ubyte.gz").unlink()
    (bad / "train-labels-idx1-ubyte").write_bytes(labels)
    pins = {**tiny_mnist[1], "train-labels-idx1-ubyte": hashlib.sha256(labels).hexdigest()}
    pipeline.set("DownloadMNIST", "mirrors", json.dumps([str(bad)]))
    pipeline.set("DownloadMNIST", "sha256", json.dumps(pins))
    error = pipeline.build_failing(tasks.OneHotMNIST())
    assert isinstance(error, ValueError)
    assert "train-images-idx3-ubyte/train-labels-idx1-ubyte: 768 images but 600 labels" in str(error)
    target = tasks.OneHotMNIST().output()
    assert not target.path.exists() and not target.manifest_path.exists()


def test_disk_full_is_a_clean_error_and_keeps_what_was_there(pipeline, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(small)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        pipeline.set("artifacts", "root", str(small))
        assert pipeline.build(tasks.DownloadMNIST()) == {"DownloadMNIST"}
        error = pipeline.build_failing(tasks.OneHotMNIST())  # ~2.6 MB of arrays do not fit
        assert isinstance(error, OSError) and error.errno == errno.ENOSPC
        assert tasks.DownloadMNIST().output().exists()
        leftovers = [p.name for p in (small / "OneHotMNIST").iterdir() if not p.name.endswith(".lock")]
        assert leftovers == []

        # an unwritable file system (read-only): the same clean failure, nothing lost
        subprocess.run(["mount", "-o", "remount,ro", str(small)], check=True)
        error = pipeline.build_failing(tasks.OneHotMNIST())
        assert isinstance(error, OSError) and error.errno == errno.EROFS
        assert tasks.DownloadMNIST().output().exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("TrainDeepMLP", "lr", "-0.1", "[TrainDeepMLP] lr must be > 0, got -0.1"),
        ("TrainDeepMLP", "p_drop_hidden", "1.0", "[TrainDeepMLP] p_drop_hidden must lie in [0, 1), got 1.0"),
        ("TrainMLP", "batch_size", "0", "[TrainMLP] batch_size must be > 0, got 0"),
        ("TrainCharRNN", "optimizer", "sgd", "'optimizer' (sgd is not a valid choice"),
        ("pytensor", "backend", "tensorflow", "[pytensor] backend: tensorflow is not a valid choice"),
        ("pytensor", "compile_cache_max_mb", "0", "[pytensor] compile_cache_max_mb must be > 0, got 0"),
        ("pytensor", "compile_cache_max_mb", "lots", "[pytensor] invalid configuration:"),
    ],
)
def test_invalid_configuration_fails_before_any_work(pipeline, section, key, value, message):
    pipeline.set(section, key, value)
    with pytest.raises(ValueError) as err:
        tasks.FullReport().fingerprint()
    assert message in str(err.value)
    assert not pipeline.root.exists()


def test_exit_codes_follow_the_retcode_section(pipeline, tmp_path):
    import configparser

    repo_cfg = configparser.ConfigParser()
    repo_cfg.read(Path(__file__).resolve().parents[2] / "luigi.cfg")
    for key, value in repo_cfg["retcode"].items():
        pipeline.set("retcode", key, value)
    pipeline.set("TrainLogReg", "lr", "1e38")
    failing = luigi_process(pipeline, tmp_path, "TrainLogReg")
    out = failing.communicate(timeout=300)[0]
    assert failing.returncode == int(repo_cfg["retcode"]["task_failed"]) == 30, out[-2000:]
    assert "TrainingDivergedError" in out
    pipeline.set("TrainLogReg", "lr", "0.1")
    pipeline.build(tasks.TrainLogReg())  # built here: the command's run has nothing left to do, and succeeds
    ok = luigi_process(pipeline, tmp_path, "TrainLogReg")
    out = ok.communicate(timeout=300)[0]
    assert ok.returncode == 0, out[-2000:]


def test_malformed_configuration_fails_before_any_work(pipeline, tmp_path):
    broken = tmp_path / "broken.cfg"
    broken.write_text("[TrainDeepMLP\nepochs = 3\n")
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(broken), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "tasks", "FullReport", "--local-scheduler"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "broken.cfg" in out.stderr and "line: 1" in out.stderr
    assert not (tmp_path / "artifacts").exists()
