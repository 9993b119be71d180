"""SIGTERM and SIGINT stop a real ``luigi --module toydag`` run cleanly (issue 24, item 7), on the toy's
checkpointed Train.

One line names the stage stopped and the checkpoint it keeps, the exit code is 128 + the signal
(143, 130), no worker process survives the luigi process (none keeps writing under PID 1), and the
rerun resumes after that checkpoint. With ``--workers 2`` the stage runs in a process luigi forked,
and the signal goes to the luigi process alone (as ``kill PID`` and systemd's stop send it).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time

import pytest

from stagecache.core.signals import STOP_EXIT
from tests.engine.conftest import epochs_saved, wait_for

EPOCHS = 200  # at 0.05 s each, ten seconds: the signal comes after the third


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
def test_a_signal_stops_the_run_with_one_line_no_orphan_and_the_rerun_resumes(
    toy_dir, tmp_path, caplog, signum, workers
):
    toy = toy_dir
    toy.set("Train", "epochs", str(EPOCHS))
    toy.build(toy.package.Square())
    target = toy.output(toy.package.Train())
    proc = toy.start(tmp_path / "run", "Train", "--workers", workers, "--Train-epoch-seconds", "0.05")
    assert wait_for(lambda: epochs_saved(target) >= 3 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()[0][-3000:]

    os.kill(proc.pid, signum)  # the luigi process only, not its process group
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == STOP_EXIT[signum] == 128 + signum, out[-3000:]
    assert wait_for(lambda: _group_is_gone(proc.pid), timeout=10), "a worker process outlived luigi"
    before = _listing(target.checkpoint_dir)
    time.sleep(0.5)  # ten epochs' time
    assert _listing(target.checkpoint_dir) == before  # nothing keeps writing
    assert not target.exists()

    lines = [line for line in out.splitlines() if "stopped by" in line]
    assert len(lines) == 1, out[-3000:]
    match = re.search(
        rf"stopped by {signal.Signals(signum).name}: Train keeps its checkpoint after epoch "
        rf"(\d+) \({re.escape(str(target.checkpoint_dir))}\); rerun to resume \(exit {128 + signum}\)$",
        lines[0],
    )
    assert match, lines[0]
    kept = int(match.group(1))
    assert kept >= 3 and (target.checkpoint_dir / f"epoch-{kept:05d}.json").exists()
    assert "Traceback" not in out, out[-3000:]

    caplog.set_level(logging.INFO, logger="toydag")
    assert toy.build(toy.package.Train()) == {"Train"}
    assert f"Train: resuming after epoch {kept} from its checkpoint" in caplog.text
    assert toy.output(toy.package.Train()).load()["epoch"] == list(range(1, EPOCHS + 1))
    assert toy.build(toy.package.Train()) == set()
