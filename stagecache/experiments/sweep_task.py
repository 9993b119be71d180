"""The luigi task of a sweep: every point's DAG as one DAG (shared stages once), and a summary artifact.

A pipeline subclasses :class:`SweepTask` once and says what to take
from each point (:meth:`SweepTask.summarize`) and what to publish (:meth:`SweepTask.after_save`).
"""

from __future__ import annotations

import logging

import luigi

from stagecache.experiments.definition_file import DefinitionFile
from stagecache.experiments.lineages import order_lineages
from stagecache.experiments.point_jobs import PointJob, diverged_stage, failure_of, order_jobs, stage_in_point
from stagecache.experiments.sweep_progress import POINT_PROGRESS
from stagecache.experiments.sweeps import SweepDefinition, SweepPoint, read_sweep
from stagecache.run.outcome import SOME_POINTS_FAILED_EXIT
from stagecache.stages.divergence import describe
from stagecache.stages.project import current
from stagecache.stages.task import ArtifactTask, in_point

log = logging.getLogger(__name__)


class SweepTask(DefinitionFile[SweepDefinition], ArtifactTask):
    """``luigi --module <dag> <its subclass> --file sweeps/NAME.cfg``: the points of a sweep file, built under luigi's
    scheduling (so with ``--workers N`` and luigid, points and shared stages spread over the workers)."""

    file = luigi.Parameter(significant=False, description="the sweep definition (see stagecache.experiments.sweeps)")
    kind = "sweep"
    early_cutoff = False  # its artifact names its points' fingerprints

    def validate(self) -> None:
        self.definition  # noqa: B018 -- read and check the file now, before any work

    def read_definition(self) -> SweepDefinition:
        return read_sweep(self.file, current().default_task)

    def point_roots(self) -> dict[str, ArtifactTask]:
        """``{label: the stage the point builds}`` (:class:`PointStages` where it builds several), each in its
        point."""
        return {p.label: point_root(self.definition.stage, p.point) for p in self.definition.points}

    def requires(self):
        """One :class:`stagecache.experiments.point_jobs.PointJob` per point: a point whose training diverges is a failed
        point of a finished sweep, not a failure of the run."""
        roots = self.point_roots()
        POINT_PROGRESS.track(self.definition.name, roots)
        edges = order_lineages(roots.values())  # a longer training continues from the point's shorter one
        jobs = {
            label: SweepPointJob(sweep=self.definition.name, stage=self.definition.stage, point=root.point, label=label)
            for label, root in roots.items()
        }
        order_jobs(jobs, edges)
        return jobs

    def upstream_fingerprints(self) -> dict[str, str]:
        """``{label: fingerprint}`` of each point's stage (labels, not families: every point has the same family)."""
        return {label: t.fingerprint() for label, t in self.point_roots().items()}

    def fingerprint_inputs(self) -> dict:
        return {**super().fingerprint_inputs(), "sweep": self.definition.definition()}

    def load_inputs(self):
        return None  # summarize() loads, verified, what it takes from each point

    def build(self, inputs):
        roots = self.point_roots()
        summaries = []
        for point in self.definition.points:
            root = roots[point.label]
            diverged = None if root.output().exists() else diverged_stage(root)
            if diverged is None:
                summaries.append(self.summarize(point, root))
            else:
                stage, record = diverged
                failure = {
                    "stage": stage.get_task_family(),
                    "fingerprint": stage.fingerprint(),
                    "record": stage.output().divergence_location,
                    "why": f"{stage.get_task_family()} diverged ({describe(record)})",
                }
                summaries.append({**self.summarize_failed(point, root), "failed": failure})
        failed = [s["label"] for s in summaries if s.get("failed")]
        if failed:
            log.warning(
                "sweep %s: %d of %d points failed (%s): each is marked, with its record, in the sweep's artifact "
                "and page; exit %d",
                self.definition.name,
                len(failed),
                len(summaries),
                ", ".join(failed),
                SOME_POINTS_FAILED_EXIT,
            )
        return {"name": self.definition.name, "stage": self.definition.stage, "file": self.file, "points": summaries}

    def summarize(self, point: SweepPoint, root: ArtifactTask) -> dict:
        """What the sweep's artifact keeps of one point: by default its label, values and stage fingerprint."""
        return SweepTask.summarize_failed(self, point, root)

    def summarize_failed(self, point: SweepPoint, root: ArtifactTask) -> dict:
        """What the artifact keeps of a point whose training diverged (:meth:`build` adds ``failed``: the stage,
        why, and where its record is); by default the label, values and stage fingerprint, loading nothing."""
        return {"label": point.label, "values": point.values, "fingerprint": root.fingerprint()}

    def complete(self) -> bool:
        """Built, and every point it marked failed is still recorded as diverged: deleting a record (to retry
        that configuration) makes the sweep build that point and summarize again."""
        if not super().complete():
            return False
        failed = [p for p in self.output().load()["points"] if p.get("failed")]
        if not failed:
            return True
        roots = self.point_roots()
        return all(failure_of(roots[p["label"]]) is not None for p in failed if p["label"] in roots)

    def exit_code(self) -> int | None:
        """:data:`SOME_POINTS_FAILED_EXIT` when the sweep is built and some of its points failed (see
        :mod:`stagecache.run.outcome`)."""
        target = self.output()
        if not target.exists():
            return None
        return SOME_POINTS_FAILED_EXIT if any(p.get("failed") for p in target.load()["points"]) else None


class PointStages(ArtifactTask):
    """The stages a point builds when a sweep names several (``stage = A, B``): one root for the point that needs
    them all. Its artifact lists their fingerprints; it loads none of them."""

    stages = luigi.Parameter(description="the families of the stages, joined by ', '")
    early_cutoff = False  # its artifact names its stages' fingerprints

    def requires(self):
        from luigi.task_register import Register

        return [self.stage(Register.get_task_cls(name.strip())) for name in self.stages.split(",")]

    def load_inputs(self):
        return None

    def build(self, inputs):
        return {"stages": {t.get_task_family(): t.fingerprint() for t in self.requires()}}


def point_root(stage: str, point: str) -> ArtifactTask:
    """The stage ``stage`` in ``point``, or the :class:`PointStages` of several (``"A, B"``)."""
    if "," in stage:
        return in_point(PointStages, point, stages=stage)
    return stage_in_point(stage, point)


class SweepPointJob(PointJob):
    """One point of a sweep (see :class:`stagecache.experiments.point_jobs.PointJob`)."""

    sweep = luigi.Parameter(description="the sweep's name")
    label = luigi.Parameter(significant=False, description="the point's label")

    def root(self) -> ArtifactTask:
        return point_root(self.stage, self.point)

    def diverged(self, exc: BaseException) -> None:
        log.warning(
            "sweep %s: point %s failed: %s (recorded; the sweep goes on)",
            self.sweep,
            self.label,
            str(exc).splitlines()[0],
        )
