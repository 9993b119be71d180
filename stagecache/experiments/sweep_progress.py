"""A sweep's progress: ``sweep NAME: point k/N done (label); N to go, ETA ...`` as each point's stage ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stagecache.experiments.point_jobs import settled

if TYPE_CHECKING:
    from stagecache.stages.task import ArtifactTask

log = logging.getLogger(__name__)


class PointProgress:
    """``sweep NAME: point k/N done (label); ETA ...`` as each point's stage ends (a subscriber of
    :data:`stagecache.core.hooks.stage_ended`, by :func:`install`)."""

    def __init__(self):
        self.sweeps: dict[str, dict] = {}  # root task_id -> the tracked sweep it belongs to

    def track(self, name: str, roots: Mapping[str, ArtifactTask]) -> None:
        """Follow the point roots (label -> task) of sweep ``name``: the points built before are done from the
        start, so the first point this run ends is counted after them (luigi asks a sweep for its points again
        later in the run: the same points keep their count)."""
        ids = {t.task_id: label for label, t in roots.items()}
        known = [self.sweeps.get(task_id) for task_id in ids]
        if known and all(state is not None and state["roots"] == ids for state in known):
            return
        state: dict[str, Any] = {
            "name": name,
            "roots": ids,
            "done": {t.task_id for t in roots.values() if settled(t)},
            "started": time.time(),
            "ran": 0,
        }
        for task_id in ids:
            self.sweeps[task_id] = state

    def __call__(self, task, succeeded: bool, now: float) -> None:
        from stagecache.run.progress import duration

        state = self.sweeps.get(task.task_id)
        if state is None or task.task_id in state["done"]:
            return
        state["done"].add(task.task_id)
        state["ran"] += 1
        total, done = len(state["roots"]), len(state["done"])
        left = total - done
        eta = (now - state["started"]) / state["ran"] * left
        log.info(
            "sweep %s: point %d/%d %s (%s)%s",
            state["name"],
            done,
            total,
            "done" if succeeded else "failed",
            state["roots"][task.task_id],
            f"; {left} to go, ETA {duration(eta)}" if left else "; all points done",
        )


POINT_PROGRESS = PointProgress()


def install() -> None:
    """Log each sweep's points as they are done (:func:`stagecache.install` calls it)."""
    from stagecache.core import hooks

    hooks.stage_ended.subscribe(POINT_PROGRESS)
