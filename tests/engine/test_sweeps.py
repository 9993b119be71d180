"""Sweeps of the toy DAG (its ``ToySweep``, a bare ``stagecache.SweepTask``) through ``luigi --module toydag``: a point
whose stage diverges is that point's outcome, not the run's failure. (Sweeps over two hosts:
tests/engine/test_two_hosts.py; the pipeline's sweeps and their page: tests/tasks/test_sweep.py.)"""

from __future__ import annotations

import pytest
from luigi.task import flatten

from stagecache.run.outcome import SOME_POINTS_FAILED_EXIT
from tests.engine.conftest import wrote

DIVERGING = """[sweep]
name = toy-diverging
stage = Square

[Square]
power = [2, 9]
"""


def test_a_diverging_point_is_marked_and_the_sweep_finishes_with_exit_5(toy_dir, tmp_path):
    """Square overflows at power 9 (toydag.arith): the other point and the sweep's artifact are built all the
    same, the failed point is marked with why and where its record is, and the command exits 5 ("done, some
    points failed"), the same on a rerun, which builds nothing. Deleting the record retries that point."""
    toy = toy_dir
    path = tmp_path / "toy-diverging.cfg"
    path.write_text(DIVERGING)
    run = toy.start(tmp_path / "run", "ToySweep", "--file", str(path))
    out = run.communicate(timeout=120)[0]
    assert run.returncode == SOME_POINTS_FAILED_EXIT == 5, out[-3000:]
    assert "Traceback" not in out
    assert "sweep toy-diverging: point power=9 failed: loss inf at epoch 1 (recorded; the sweep goes on)" in out, out[
        -3000:
    ]
    assert "sweep toy-diverging: 1 of 2 points failed (power=9)" in out, out[-3000:]
    assert wrote(out) == ["MakeNumbers", "Square", "ToySweep"], out[-3000:]

    sweep = toy.package.ToySweep(file=str(path))
    diverged = toy.output(sweep.point_roots()["power=9"])
    good, bad = toy.output(sweep).load()["points"]
    assert "failed" not in good and bad["failed"]["stage"] == "Square"
    assert bad["failed"]["why"].startswith("Square diverged (epoch 1, loss inf")
    assert bad["failed"]["record"] == diverged.divergence_location and diverged.read_divergence() is not None

    again = toy.start(tmp_path / "rerun", "ToySweep", "--file", str(path))
    out = again.communicate(timeout=120)[0]
    assert again.returncode == 5, out[-3000:]
    assert "nothing to run" in out and wrote(out) == [], out[-3000:]

    diverged.divergence_path.unlink()  # a retry of that configuration: it diverges again, and is marked again
    assert toy.build(sweep) == {"ToySweep"}  # the diverged stage ran, and failed again: no success but the sweep's
    assert diverged.read_divergence() is not None
    assert toy.output(sweep).load()["points"][1]["failed"]["stage"] == "Square"


PAGES = """[sweep]
name = toy-pages
stage = Summary

[Square]
power = [2, 3]
"""


def test_a_point_built_without_its_page_publishes_it_when_the_sweep_runs(toy_dir, tmp_path):
    """A point whose stage publishes a page is done only with its page: the point built by an earlier run that
    was killed between saving the artifact and publishing the page is finished by the sweep (its page published),
    not taken as done because its artifact is there."""
    toy = toy_dir
    path = tmp_path / "toy-pages.cfg"
    path.write_text(PAGES)
    sweep = toy.package.ToySweep(file=str(path))
    roots = sweep.point_roots()
    assert sorted(roots) == ["power=2", "power=3"]
    toy.build(roots["power=2"])
    page = toy.root().local_path(f"{roots['power=2'].own_directory()}/summary.json")
    assert page is not None and page.exists()
    page.unlink()  # the kill between the artifact and its page
    assert not roots["power=2"].complete() and toy.output(roots["power=2"]).exists()

    built = toy.build(sweep)
    assert built == {"Square", "Total", "Train", "Summary", "ToySweep"}
    assert page.exists() and all(root.complete() for root in roots.values())
    assert toy.build(sweep) == set()


LINEAGES = """[sweep]
name = toy-epochs
stage = Train

[Train]
epochs = [4, 2]
start = [0, 1]
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_longer_training_in_a_sweep_continues_from_the_shorter_one_whatever_the_order(toy_dir, tmp_path, workers):
    """Issue 31: ``epochs = [4, 2]`` (longest first), with one worker in this process and with two forked ones:
    each 4-epoch training waits for its point's 2-epoch one (a luigi dependency, not a priority) and continues
    from it, so the sweep trains 2 + 2 epochs per lineage, not 2 + 4."""
    toy = toy_dir
    path = tmp_path / "toy-epochs.cfg"
    path.write_text(LINEAGES)
    sweep = toy.package.ToySweep(file=str(path))
    if workers == 1:
        toy.build(sweep)
    else:
        proc = toy.start(tmp_path / "run", "ToySweep", "--file", str(path), "--workers", "2")
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, out[-3000:]
        # issue 33 item 10: with two workers the first line said "point 2/4" (a point another worker had just
        # built counted as built before the run) and that point never had its line
        points = [
            line.split("sweep toy-epochs: ")[1].split(" done")[0]
            for line in out.splitlines()
            if "sweep toy-epochs: point" in line
        ]
        assert points == [f"point {k}/4" for k in (1, 2, 3, 4)], out[-3000:]
    sweep.requires()  # in this process too: what orders the lineages (the two-worker run did it in its own)
    for start in (0, 1):
        trainings = {t.epochs: t for t in sweep.point_roots().values() if t.start == start}
        assert sorted(trainings) == [2, 4]
        longer, shorter = trainings[4], trainings[2]
        assert shorter in flatten(longer.deps()) and shorter not in flatten(longer.requires())
        assert toy.output(longer).manifest()["continued_from"] == {"fingerprint": shorter.fingerprint(), "epochs": "2"}
        assert "Train" not in toy.output(longer).manifest()["upstream"]
