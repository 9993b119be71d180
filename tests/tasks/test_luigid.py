"""Against a real central scheduler (luigid on 127.0.0.1): two workers, one killed mid-task."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import tasks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def luigid(pipeline, tmp_path):
    if shutil.which("luigid") is None:
        pytest.skip("luigid is not installed")
    port = _free_port()
    pipeline.set("core", "local_scheduler", "false")
    pipeline.set("core", "scheduler_host", "127.0.0.1")
    pipeline.set("core", "scheduler_port", str(port))
    pipeline.set("scheduler", "worker_disconnect_delay", "3")
    pipeline.set("scheduler", "retry_delay", "1")
    pipeline.set("worker", "keep_alive", "true")
    pipeline.set("worker", "ping_interval", "0.5")
    pipeline.set("worker", "wait_interval", "0.5")
    (tmp_path / "luigid-logs").mkdir()
    cfg = tmp_path / "luigid.cfg"
    with open(cfg, "w") as fh:
        pipeline.config.write(fh)
    server = subprocess.Popen(
        [shutil.which("luigid"), "--address", "127.0.0.1", "--port", str(port),
         "--state-path", str(tmp_path / "state.pickle"), "--logdir", str(tmp_path / "luigid-logs")],
        env={**os.environ, "LUIGI_CONFIG_PATH": str(cfg)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("luigid did not start")
    yield port
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def test_killed_worker_leaves_no_partial_artifact_and_the_other_finishes(pipeline, tmp_path, luigid):
    pipeline.set("TrainDeepMLP", "epochs", "300")  # long enough to be killed mid-way
    pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")
    pipeline.build(tasks.OneHotMNIST())  # shared input, built up front (local scheduler in this process)
    target = tasks.TrainDeepMLP().output()
    cfg = tmp_path / "worker.cfg"
    with open(cfg, "w") as fh:
        pipeline.config.write(fh)
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(tasks.__file__.rsplit("/tasks/", 1)[0])}

    def worker(*args):
        return subprocess.Popen([sys.executable, "-m", "luigi", "--module", "tasks", *args], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    doomed = worker("TrainDeepMLP")
    deadline = time.time() + 120
    while not (target.checkpoint_dir / "epoch-00002.json").exists():
        assert time.time() < deadline and doomed.poll() is None, doomed.communicate()[0][-3000:]
        time.sleep(0.02)
    # the survivor waits for the running TrainDeepMLP (keep_alive); once luigid prunes the dead worker
    # (its prune cycle is 60 s), the task is pending again and the survivor runs it from the checkpoint
    survivor = worker("FullReport", "--workers", "2")
    time.sleep(0.5)
    assert doomed.poll() is None, "the first worker finished before it could be killed"
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert not target.exists() and not target.path.exists()

    out = survivor.communicate(timeout=600)[0]
    assert survivor.returncode == 0, out[-4000:]
    assert target.exists()
    assert "TrainDeepMLP: resuming after epoch" in out
    wrote = [line.split(": wrote ")[0].rsplit(" ", 1)[-1] for line in out.splitlines() if ": wrote " in line]
    assert len(wrote) == len(set(wrote)), wrote  # each stage built once
    assert target.load()["history"]["epoch"] == list(range(1, 301))
    assert pipeline.build() == set()
