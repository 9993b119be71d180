"""Runs of the toy DAG under a real luigid (127.0.0.1): a worker killed mid-training, whose stage another
worker's retry resumes from its checkpoint, and the scheduler itself killed mid-run (issue 24, item 6)."""

from __future__ import annotations

import os
import signal
import time

from stagecache.run.scheduler_loss import SCHEDULER_LOST_EXIT
from tests.engine.conftest import epochs_saved, wait_for, wrote
from tests.services import LUIGID_PROCESSES


def test_a_killed_worker_leaves_no_partial_artifact_and_the_other_resumes_its_training(toy_dir, tmp_path, luigid):
    """luigid still has Train running, so the second worker waits for it (keep_alive); once luigid finds the first
    worker dead (no ping for worker_disconnect_delay, checked at each request for work: prune_on_get_work) it
    fails the task, and after retry_delay the second worker runs it again, from its checkpoint (Train's
    retry_count 2, as a pipeline's trainings have)."""
    toy = toy_dir
    toy.set("Train", "epochs", "100")
    toy.build(toy.package.Square())  # the shared input, built up front (local scheduler in this process)
    toy.use_luigid(luigid)
    target = toy.output(toy.package.Train())
    doomed = toy.start(tmp_path / "a", "Train", "--Train-epoch-seconds", "0.05")
    assert wait_for(lambda: epochs_saved(target) >= 2 or doomed.poll() is not None)
    assert doomed.poll() is None, doomed.communicate()[0][-3000:]
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert not target.exists()

    survivor = toy.start(tmp_path / "b", "Summary", "--workers", "2")
    out = survivor.communicate(timeout=120)[0]
    assert survivor.returncode == 0, out[-4000:]
    assert "Train: resuming after epoch" in out, out[-4000:]
    assert wrote(out) == ["Summary", "Total", "Train"], out[-4000:]  # each stage built once
    assert target.load()["epoch"] == list(range(1, 101))
    assert toy.build(toy.package.Summary()) == set()


def test_a_scheduler_killed_mid_run_lets_the_running_training_finish_and_save(toy_dir, tmp_path, luigid):
    """luigid SIGKILLed while Train runs under --workers 2: its progress reports never block it, it finishes and
    saves its artifact, no other stage starts (Summary waits for it), and the worker ends with one line and exit
    45; the rerun finds Train done."""
    toy = toy_dir
    toy.set("Train", "epochs", "40")
    toy.build(toy.package.Total())  # so that Train is the one stage running when luigid dies
    toy.use_luigid(luigid)
    target = toy.output(toy.package.Train())
    toy.set("core", "rpc_retry_wait", "1")  # luigi's client gives up on luigid after a few seconds, not 60
    proc = toy.start(tmp_path / "run", "Summary", "--workers", "2", "--Train-epoch-seconds", "0.05")
    toy.config.remove_option("core", "rpc_retry_wait")  # read by luigi's client only, not by this process's luigi
    assert wait_for(lambda: epochs_saved(target) >= 2 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    killed_at = time.monotonic()
    server = LUIGID_PROCESSES[luigid]
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == SCHEDULER_LOST_EXIT == 45, out[-4000:]
    assert time.monotonic() - killed_at < 60, "the training stalled on the dead scheduler"
    assert target.exists(), out[-4000:]  # finished and saved
    # what is left of its checkpoints is the final training state a longer training continues from
    assert target.checkpointer().epochs() == [40]
    (line,) = [line for line in out.splitlines() if "stopped answering during the run" in line]
    assert line.endswith("no other stage was started; rerun once it answers again (exit 45)"), line
    assert "Train done (saved)" in line, line
    assert "RPCError" not in out.split("stopped answering")[-1] and "Traceback" not in out, out[-4000:]
    assert not toy.output(toy.package.Summary()).exists()  # nothing after the loss

    # the rerun (local scheduler) finds Train done
    assert toy.build(toy.package.Summary()) == {"Summary"}
