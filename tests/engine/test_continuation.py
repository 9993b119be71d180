"""A longer build continues from the final training state of a shorter one (``continues_along``), on the toy DAG's
Train: only the missing epochs run, to the values of a build from scratch; killed, it resumes from its own newest
checkpoint, not from the shorter build again. (Each pipeline model's state, bit for bit:
tests/tasks/test_continuation.py.)"""

from __future__ import annotations

import logging
import os
import signal

from tests.engine.conftest import epochs_saved, wait_for


def _scratch(toy, tmp_path, epochs: int) -> dict:
    """The same training built from the start on a root of its own."""
    root = toy.config.get("artifacts", "root")
    toy.set("artifacts", "root", str(tmp_path / "scratch"))
    try:
        toy.build(toy.package.Train(epochs=epochs))
        return toy.output(toy.package.Train(epochs=epochs)).load()
    finally:
        toy.set("artifacts", "root", root)


def test_a_longer_build_continues_from_a_shorter_one_and_ends_as_one_from_scratch(toy, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="stagecache.stages.continuation")
    Train = toy.package.Train
    assert toy.build(Train(epochs=3)) == {"MakeNumbers", "Square", "Train"}
    short = toy.output(Train(epochs=3))
    assert short.manifest()["training_state"]["checkpoint"] == 3
    assert short.checkpointer().epochs() == [3]  # only the final state is kept

    assert toy.build(Train(epochs=5)) == {"Train"}
    longer = toy.output(Train(epochs=5))
    assert longer.manifest()["continued_from"] == {"fingerprint": short.manifest()["fingerprint"], "epochs": "3"}
    assert f"Train: continuing from epochs=3 (fingerprint {short.manifest()['fingerprint'][:16]}…)" in caplog.text
    assert longer.load() == _scratch(toy, tmp_path, 5)


def test_a_continued_build_killed_midway_resumes_from_its_own_checkpoint(toy_dir, tmp_path, caplog):
    toy = toy_dir
    toy.build(toy.package.Train())  # 3 epochs: the source
    toy.set("Train", "epochs", "100")
    target = toy.output(toy.package.Train())
    proc = toy.start(tmp_path / "run", "Train", "--Train-epoch-seconds", "0.05")
    assert wait_for(lambda: epochs_saved(target) >= 5 or proc.poll() is not None)
    os.killpg(proc.pid, signal.SIGKILL)
    out = proc.communicate()[0]
    assert "Train: continuing from epochs=3 (fingerprint " in out, out[-3000:]
    assert not target.exists()
    done = epochs_saved(target)
    assert 5 <= done < 100

    caplog.set_level(logging.INFO)
    caplog.clear()
    assert toy.build(toy.package.Train()) == {"Train"}
    assert "continuing from" not in caplog.text
    assert f"Train: resuming after epoch {done} from its checkpoint" in caplog.text  # its own newest
    assert target.load() == _scratch(toy, tmp_path, 100)
