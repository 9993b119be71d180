"""``artifacts gc`` while a run builds, on the toy DAG: it skips what the run uses, and the run's rerun after a
kill never loses a finished epoch and builds nothing twice; once a run has ended, its claim goes with it."""

from __future__ import annotations

import logging
import os
import signal

from tests.engine.conftest import epochs_saved, wait_for


def test_gc_during_a_run_skips_what_it_uses_and_a_killed_run_resumes(toy_dir, tmp_path, caplog):
    toy = toy_dir
    toy.build(toy.package.Square())
    # the run's configuration: its own numbers (so its own Square, which Train reads) and a long training
    toy.set("MakeNumbers", "count", "7")
    toy.set("Train", "epochs", "200")
    data, training = toy.output(toy.package.Square()), toy.output(toy.package.Train())
    proc = toy.start(tmp_path / "run", "Train", "--Train-epoch-seconds", "0.05")
    try:
        assert wait_for(lambda: epochs_saved(training) >= 3 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        os.killpg(proc.pid, signal.SIGSTOP)  # paused, not ended: it holds its claim, lock and checkpoints meanwhile
        # gc's own configuration (the plain one) uses neither the run's Square nor its training
        toy.set("MakeNumbers", "count", "5")
        toy.set("Train", "epochs", "3")
        out = toy.cli("artifacts", "gc", "Train", "--keep", "0")
        assert f"skipped {data.stem}: in use by the run " in out, out  # written, unlocked: only the claim protects it
        assert f"skipped {training.stem}: " in out, out  # being built: its lock, and the claim
        assert "removed" in out and data.stem not in out.replace(f"skipped {data.stem}", "")
        assert training.checkpoint_dir.is_dir() and training.lock_path.exists() and data.exists()
        dry = toy.cli("artifacts", "gc", "Train", "--keep", "0", "--dry-run")
        assert training.stem not in dry.replace(f"skipped {training.stem}", ""), dry
        epochs_done = epochs_saved(training)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not training.exists() and training.checkpoint_dir.is_dir()  # killed mid-training, checkpoints kept

    # the rerun of the same configuration resumes where the killed run stopped, and builds each stage once
    toy.set("MakeNumbers", "count", "7")
    toy.set("Train", "epochs", "200")
    caplog.set_level(logging.INFO, logger="toydag")
    assert toy.build(toy.package.Train()) == {"Train"}  # its Square was kept: not rebuilt
    resumed = [r.getMessage() for r in caplog.records if "resuming after epoch" in r.getMessage()]
    assert resumed and int(resumed[0].split("resuming after epoch ")[1].split()[0]) >= epochs_done
    assert training.load()["epoch"] == list(range(1, 201))
    assert toy.build(toy.package.Train()) == set()


def test_gc_of_a_finished_run_removes_what_no_configuration_uses(toy_dir, tmp_path):
    """Once the run has ended its claim goes with it: the same gc removes its artifacts."""
    toy = toy_dir
    toy.build(toy.package.Square())
    toy.set("Train", "epochs", "4")
    proc = toy.start(tmp_path / "run", "Train")
    assert proc.wait(timeout=120) == 0, proc.communicate()[0][-3000:]
    stem = toy.output(toy.package.Train()).stem
    toy.set("Train", "epochs", "3")
    out = toy.cli("artifacts", "gc", "Train", "--keep", "0")
    assert f"removed {stem}" in out and "skipped" not in out, out
