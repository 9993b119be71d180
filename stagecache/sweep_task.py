"""The luigi task of a sweep: every point's DAG as one DAG (shared stages once), and a summary artifact.

A pipeline subclasses :class:`SweepTask` once and says what to take
from each point (:meth:`SweepTask.summarize`) and what to publish (:meth:`SweepTask.after_save`).
"""

from __future__ import annotations

import luigi

from stagecache.definition_file import DefinitionFile
from stagecache.lineages import order_lineages
from stagecache.project import current
from stagecache.sweep_progress import POINT_PROGRESS
from stagecache.sweeps import SweepDefinition, SweepPoint, read_sweep
from stagecache.task import ArtifactTask, in_point


class SweepTask(DefinitionFile[SweepDefinition], ArtifactTask):
    """``luigi --module <dag> <its subclass> --file sweeps/NAME.cfg``: the points of a sweep file, built under luigi's
    scheduling (so with ``--workers N`` and luigid, points and shared stages spread over the workers)."""

    file = luigi.Parameter(significant=False, description="the sweep definition (see stagecache.sweeps)")
    kind = "sweep"
    early_cutoff = False  # its artifact names its points' fingerprints

    def validate(self) -> None:
        self.definition  # noqa: B018 -- read and check the file now, before any work

    def read_definition(self) -> SweepDefinition:
        return read_sweep(self.file, current().default_task)

    def point_roots(self) -> dict[str, ArtifactTask]:
        """``{label: the stage the point builds}``, each in its point."""
        from luigi.task_register import Register

        stage = Register.get_task_cls(self.definition.stage)
        return {p.label: in_point(stage, p.point) for p in self.definition.points}

    def requires(self):
        roots = self.point_roots()
        POINT_PROGRESS.track(self.definition.name, roots)
        order_lineages(roots.values())  # a longer training continues from the point's shorter one
        return roots

    def upstream_fingerprints(self) -> dict[str, str]:
        """``{label: fingerprint}`` of each point's stage (labels, not families: every point has the same family)."""
        return {label: t.fingerprint() for label, t in self.point_roots().items()}

    def fingerprint_inputs(self) -> dict:
        return {**super().fingerprint_inputs(), "sweep": self.definition.definition()}

    def load_inputs(self):
        return None  # summarize() loads, verified, what it takes from each point

    def build(self, inputs):
        roots = self.point_roots()
        return {
            "name": self.definition.name,
            "stage": self.definition.stage,
            "file": self.file,
            "points": [self.summarize(point, roots[point.label]) for point in self.definition.points],
        }

    def summarize(self, point: SweepPoint, root: ArtifactTask) -> dict:
        """What the sweep's artifact keeps of one point: by default its label, values and stage fingerprint."""
        return {"label": point.label, "values": point.values, "fingerprint": root.fingerprint()}
