"""A sweep's point lines count every point once, in the order the run ends them (issue 33, item 10)."""

import logging

from stagecache.experiments.sweep_progress import PointProgress


class Point:
    """What the point lines read of a point's stage: its id and whether it is built."""

    def __init__(self, task_id: str, built: bool = False):
        self.task_id, self.built = task_id, built

    def complete(self) -> bool:
        return self.built


def lines(caplog) -> list[str]:
    found = [
        r.getMessage().split(": ", 1)[1].split(" (")[0]
        for r in caplog.records
        if r.name == "stagecache.experiments.sweep_progress"
    ]
    caplog.clear()
    return found


def test_a_point_another_worker_built_first_is_counted_when_it_ends_not_before(caplog):
    """With two workers, point b's end reached the sweep's lines first while point a, built a moment before by the
    other worker, already existed: the first line said "point 2/3" and a never had its own line."""
    caplog.set_level(logging.INFO, logger="stagecache.experiments.sweep_progress")
    a, b, c = Point("a"), Point("b"), Point("c", built=True)  # c was built by an earlier run
    progress = PointProgress()
    progress.track("s", {"A": a, "B": b, "C": c})
    a.built = b.built = True  # both workers' points are written; b's end is told first
    progress(b, True, 10.0)
    progress(a, True, 11.0)
    assert lines(caplog) == ["point 2/3 done", "point 3/3 done"]
    progress.track("s", {"A": a, "B": b, "C": c})  # luigi asks the sweep for its points again: nothing is reset
    progress(a, True, 12.0)
    assert lines(caplog) == []
