"""Two ``luigi --module toydag`` runs at once on one root: each stage is built once, by whichever run takes
its build guard first (an inter-process lock on a directory root, a lease on an object store)."""

from __future__ import annotations

from tests.engine.conftest import wrote


def test_two_processes_compute_each_stage_once(toy_dir, tmp_path):
    """README's kind of command (``--workers 2``: stages in forked processes) beside a one-worker run of the same
    DAG: each stage written once, both runs succeed, and a third run has nothing to do."""
    toy = toy_dir
    toy.set("Train", "epochs", "20")
    first = toy.start(tmp_path / "first", "Summary", "--workers", "2", "--Train-epoch-seconds", "0.02")
    second = toy.start(tmp_path / "second", "Summary", "--Train-epoch-seconds", "0.02")
    out1, out2 = first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]
    assert first.returncode == 0, out1[-3000:]
    assert second.returncode == 0, out2[-3000:]
    assert wrote(out1, out2) == ["MakeNumbers", "Square", "Summary", "Total", "Train"], (wrote(out1), wrote(out2))
    assert toy.build(toy.package.Summary()) == set()
    assert toy.output(toy.package.Train()).load()["epoch"] == list(range(1, 21))
