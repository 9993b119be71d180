"""SIGTERM and SIGINT stop a real ``luigi --module tasks`` run cleanly (issue 24, item 7).

One line names the stage stopped and the checkpoint it keeps, the exit code is 128 + the
signal (143, 130), no worker process survives the luigi process (none keeps writing under
PID 1), and the rerun resumes after that checkpoint. With ``--workers 2`` the training runs in a
process luigi forked, and the signal goes to the luigi process alone (as ``kill PID`` and
systemd's stop send it).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

import tasks
from stagecache.core.signals import STOP_EXIT
from tests.tasks.conftest import luigi_process
from tests.tasks.test_reliability import _epochs_saved


def _wait_for(predicate, timeout=180.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _listing(directory):
    return sorted((p.name, p.stat().st_mtime_ns) for p in directory.iterdir()) if directory.is_dir() else []


@pytest.mark.parametrize(
    "signum, workers",
    # one and two workers; SIGINT goes through the same handler, checked once
    [(signal.SIGTERM, "1"), (signal.SIGTERM, "2"), (signal.SIGINT, "2")],
    ids=["SIGTERM-1-worker", "SIGTERM-2-workers", "SIGINT-2-workers"],
)
def test_a_signal_stops_the_run_with_one_line_no_orphan_and_the_rerun_resumes(pipeline, tmp_path, signum, workers):
    pipeline.set("TrainDeepMLP", "epochs", "120")  # long enough to be stopped mid-way, short to resume
    pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")
    pipeline.build(tasks.OneHotMNIST())
    target = tasks.TrainDeepMLP().output()
    proc = luigi_process(pipeline, tmp_path, "EvaluateDeepMLP", "--workers", workers)
    assert _wait_for(lambda: _epochs_saved(target) >= 3 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()[0][-3000:]

    os.kill(proc.pid, signum)  # the luigi process only, not its process group
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == STOP_EXIT[signum] == 128 + signum, out[-3000:]
    assert _wait_for(lambda: _group_is_gone(proc.pid), timeout=10), "a worker process outlived luigi"
    before = _listing(target.checkpoint_dir)
    time.sleep(1.0)
    assert _listing(target.checkpoint_dir) == before  # nothing keeps writing
    assert not target.exists()

    lines = [line for line in out.splitlines() if "stopped by" in line]
    assert len(lines) == 1, out[-3000:]
    match = re.search(
        rf"stopped by {signal.Signals(signum).name}: TrainDeepMLP keeps its checkpoint after epoch "
        rf"(\d+) \({re.escape(str(target.checkpoint_dir))}\); rerun to resume \(exit {128 + signum}\)$",
        lines[0],
    )
    assert match, lines[0]
    kept = int(match.group(1))
    assert kept >= 3 and (target.checkpoint_dir / f"epoch-{kept:05d}.json").exists()
    assert "Traceback" not in out, out[-3000:]

    rerun = luigi_process(pipeline, tmp_path, "EvaluateDeepMLP", "--workers", workers)
    out = rerun.communicate(timeout=600)[0]
    assert rerun.returncode == 0, out[-3000:]
    assert f"TrainDeepMLP: resuming after epoch {kept}" in out, out[-3000:]
    assert target.load()["history"]["epoch"] == list(range(1, 121))
    assert pipeline.build(tasks.EvaluateDeepMLP()) == set()
