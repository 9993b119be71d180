"""What a sweep and a search share: the artifacts of one point's stages, and a page published beside the artifact."""

from __future__ import annotations

import json

from stagecache import ArtifactTask, walk
from tasks import published
from tasks.report import EVALUATIONS, TRAININGS

MOONS = "TrainMoonsMLP"


def point_artifacts(root: ArtifactTask) -> tuple[dict, dict, dict | None]:
    """The training and evaluation artifacts (``{family: artifact}``) and the two-moons net's (or None) among the
    stages ``root`` reaches: what :func:`pipeline.experiments.points.summarize_point` takes."""
    stages = {t.get_task_family(): t for t in walk(root)}
    trained = {f: stages[f].output().load() for f in TRAININGS if f in stages}
    evaluated = {
        f: stages[e.get_task_family()].output().load() for f, e in EVALUATIONS.items() if e.get_task_family() in stages
    }
    return trained, evaluated, stages[MOONS].output().load() if MOONS in stages else None


class PublishedPage:
    """Mixed into a stage that publishes a page in :attr:`directory` after it saves: the run's last line links the
    page, and the stage is complete only once the page published is this very artifact's."""

    directory: str

    def result_link(self) -> str | None:
        if published.read_published("index.html", self.directory) is None:
            return None
        return published.report_link(directory=self.directory)

    def complete(self) -> bool:
        if not super().complete():  # type: ignore[misc]
            return False
        page = published.read_published("provenance.json", self.directory)
        try:
            return page is not None and json.loads(page).get("fingerprint") == self.fingerprint()  # type: ignore[attr-defined]
        except ValueError:
            return False
