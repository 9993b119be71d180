"""One point of a sweep or a search as one luigi job, whose training may diverge without failing the run.

A point's stage depends on trainings that can diverge (stages with :attr:`ArtifactTask.divergence_errors`).
If luigi ran them as ordinary tasks, one diverging point would leave the sweep or search that needs every
point forever "not run". So a :class:`PointJob` splits the point's DAG in two: the stages that cannot
diverge, nor depend on one that can, are its luigi dependencies (scheduled, shared between points and spread
over ``--workers N`` as usual); the rest it builds itself, in its worker, in dependency order. A divergence
there is recorded beside the training (:mod:`stagecache.stages.divergence`) and ends the job as a *failed point*:
done, with nothing more to build. The stages it builds fire luigi's events as if luigi ran them (progress
lines, claims), and the failure one for the stage that diverged and for the point's stage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import luigi
from luigi.task import flatten

from stagecache.core.hooks import NOT_BUILT
from stagecache.stages.task import ArtifactTask, in_point, walk

log = logging.getLogger(__name__)


def stage_in_point(stage: str, point: str) -> ArtifactTask:
    """The stage of family ``stage`` in ``point`` (see :mod:`stagecache.core.points`)."""
    from luigi.task_register import Register

    return in_point(Register.get_task_cls(stage), point)


def diverged_stage(root: ArtifactTask) -> tuple[ArtifactTask, dict] | None:
    """The stage ``root`` reaches that diverged (its divergence record beside it), and the record; or None."""
    for task in walk(root):
        if task.divergence_errors:
            record = task.output().read_divergence()
            if record is not None:
                return task, record
    return None


def failure_of(root: ArtifactTask) -> dict | None:
    """The divergence record of a stage ``root`` reaches (a training that diverged), or None."""
    found = diverged_stage(root)
    return None if found is None else found[1]


def settled(root) -> bool:
    """Whether a point is done: its stage is complete (for a stage that publishes a page, the page too), or a stage
    it needs diverged (a failed point, done too). The one test a point job, a sweep and its progress lines share."""
    return bool(root.complete()) or (isinstance(root, ArtifactTask) and failure_of(root) is not None)


def may_diverge(root: ArtifactTask) -> set[str]:
    """The task ids of the stages of ``root``'s DAG that can diverge or depend on one that can."""
    risky: set[str] = set()
    for task in walk(root):  # dependencies first
        if task.divergence_errors or any(dep.task_id in risky for dep in flatten(task.requires())):
            risky.add(task.task_id)
    return risky


def settled_upstream(root: ArtifactTask) -> list[ArtifactTask]:
    """The stages that cannot diverge which the diverging part of ``root``'s DAG needs directly (``[root]`` when
    nothing in it can diverge): what luigi builds before the job."""
    risky = may_diverge(root)
    if root.task_id not in risky:
        return [root]
    needed: dict[str, ArtifactTask] = {}
    for task in walk(root):
        if task.task_id in risky:
            for dep in flatten(task.requires()):
                if dep.task_id not in risky:
                    needed.setdefault(dep.task_id, dep)
    return list(needed.values())


def build_in_process(root: ArtifactTask) -> BaseException | None:
    """Build what ``root`` needs that is not built yet, in this process and in dependency order, with luigi's
    events; the divergence that stopped it (recorded), or None once ``root`` is built."""
    for task in walk(root):
        if task.complete():
            continue
        task.trigger_event(luigi.Event.START, task)
        try:
            task.run()
        except task.divergence_errors as exc:
            task.trigger_event(luigi.Event.FAILURE, task, exc)
            risky = may_diverge(root)
            for rest in walk(root):  # what the point would have built after it: not run, and not a failure
                if rest is not task and rest.task_id in risky and not rest.complete():
                    rest.trigger_event(NOT_BUILT, rest)
            return exc
        except BaseException as exc:
            task.trigger_event(luigi.Event.FAILURE, task, exc)
            raise
        task.trigger_event(luigi.Event.SUCCESS, task)
    return None


class PointJob(luigi.Task):
    """Build ``stage`` in ``point``; a divergence on the way is the point's outcome, recorded, not a failure of
    the run. Complete once the stage is built or a stage it needs has diverged."""

    stage = luigi.Parameter(description="the family of the point's stage")
    point = luigi.Parameter(description="the point's values (see stagecache.core.points)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.after: list[PointJob] = []  # jobs to wait for: ones that build a shorter training this one continues

    def root(self) -> ArtifactTask:
        return stage_in_point(self.stage, self.point)

    def requires(self):
        return settled_upstream(self.root())

    def builds_itself(self) -> list[ArtifactTask]:
        """The stages this job builds in its worker (dependencies first): those not built yet of the part of the
        point's DAG that can diverge. Progress plans them as stages of the run."""
        if self.complete():  # built, or failed in an earlier run: nothing to build
            return []
        root = self.root()
        risky = may_diverge(root)
        return [t for t in walk(root) if t.task_id in risky and not t.complete()]

    def deps(self) -> list:
        return [*super().deps(), *self.after]

    def complete(self) -> bool:
        return settled(self.root())

    def run(self) -> None:
        exc = build_in_process(self.root())
        if exc is not None:
            self.diverged(exc)

    def diverged(self, exc: BaseException) -> None:
        """Say that the point failed (the record is written already)."""
        log.warning("%s: failed: %s (recorded; the rest goes on)", self.stage, str(exc).splitlines()[0])


def order_jobs(jobs: Mapping[str, PointJob], edges: dict[str, str]) -> None:
    """Make each job wait for the jobs that build the shorter trainings its own trainings continue (``edges``:
    ``{longer task_id: shorter task_id}`` from :func:`stagecache.experiments.lineages.order_lineages`). An edge that would
    close a circle of jobs is left out: that training then starts from nothing, to the same bits."""
    owner: dict[str, PointJob] = {}
    walks: dict[str, list[str]] = {}
    for key, job in jobs.items():
        walks[key] = [t.task_id for t in walk(job.root())]
        for task_id in walks[key]:
            owner.setdefault(task_id, job)
    waits: dict[int, list[PointJob]] = {id(job): [] for job in jobs.values()}

    def reaches(start: PointJob, goal: PointJob) -> bool:
        stack, seen = [start], set()
        while stack:
            job = stack.pop()
            if job is goal:
                return True
            if id(job) not in seen:
                seen.add(id(job))
                stack.extend(waits[id(job)])
        return False

    for key, job in jobs.items():
        for task_id in walks[key]:
            shorter = edges.get(task_id)
            other: Any = owner.get(shorter) if shorter else None
            if other is None or other is job or other in waits[id(job)] or reaches(other, job):
                continue
            waits[id(job)].append(other)
    for job in jobs.values():
        job.after = waits[id(job)]
