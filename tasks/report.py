"""The final stage: figures, metrics.json and an HTML page, published as ``<artifacts root>/report/``
(a directory, or keys under an ``s3://`` root's prefix: see :mod:`tasks.published`)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import luigi

from stagecache import ArtifactTask, walk
from stagecache.core import ranges
from tasks import published
from tasks.evaluate import EvaluateCharRNN, EvaluateDeepMLP, EvaluateLogReg, EvaluateMLP
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP, TrainMoonsMLP

log = logging.getLogger(__name__)
EVALUATIONS = {
    "TrainLogReg": EvaluateLogReg,
    "TrainMLP": EvaluateMLP,
    "TrainDeepMLP": EvaluateDeepMLP,
    "TrainCharRNN": EvaluateCharRNN,
}
TRAININGS = {
    "TrainLogReg": TrainLogReg,
    "TrainMLP": TrainMLP,
    "TrainDeepMLP": TrainDeepMLP,
    "TrainCharRNN": TrainCharRNN,
}
# {training stage's family: the model it trains}: how pipeline/, which names no stage, knows what each name is
MODELS = {t.get_task_family(): t.model for t in (*TRAININGS.values(), TrainMoonsMLP)}
PROJECT_DIR = Path(__file__).resolve().parents[1]


class FullReport(ArtifactTask):
    """Requires every model's training and evaluation; publishes ``report/`` with the results.

    The artifact holds the report's files; ``report/`` is the one published copy, with the
    history of scheduled retrains drawn from ``history.jsonl`` each time it is published
    (:meth:`publish`). The task is complete only when ``report/`` was published from this
    fingerprint and from the history as it is now: whatever ran in between, a run of it
    republishes what is missing.
    """

    dpi = luigi.IntParameter(default=100, significant=False, description="resolution of the PNG figures")
    code = ("pipeline.report.build",)
    # after_save publishes report/: under the build guard even when another process built the artifact
    exclusive_after_save = True
    # the report names its upstream stages' fingerprints and manifests: rebuilt whenever they change
    early_cutoff = False

    def validate(self) -> None:
        ranges.check(self, "dpi", self.dpi, integer=True, low=10, high=1200)

    def requires(self):
        return {
            **{f"train/{k}": self.stage(t) for k, t in TRAININGS.items()},
            **{f"eval/{k}": self.stage(t) for k, t in EVALUATIONS.items()},
            "moons": self.stage(TrainMoonsMLP),
        }

    def own_directory(self) -> str:
        """``reports/<fingerprint>``: this configuration's own copy of the report, which no other run replaces."""
        return published.own_report_directory(self.fingerprint())

    def result_link(self) -> str | None:
        """This configuration's report page, once published (``report/`` may meanwhile show another's)."""
        if published.read_published("index.html", self.own_directory()) is None:
            return None
        return published.report_link(directory=self.own_directory())

    def published_provenance(self) -> bytes:
        """``provenance.json`` of the report published now in ``report/`` (no bytes when there is none)."""
        return published.read_published(published.PROVENANCE) or b""

    def complete(self) -> bool:
        if not super().complete():
            return False
        from pipeline.report.build import history_digest, published_state

        expected = (self.fingerprint(), history_digest(published.history_bytes()))
        own = published.read_published(published.PROVENANCE, self.own_directory()) or b""
        if self.point:  # a sweep's point publishes its own page only: report/ stays the configuration's
            return published_state(own) == expected
        return published_state(own) == expected and published_state(self.published_provenance()) == expected

    def after_save(self, target=None) -> None:
        """Publish ``report/`` (also when the artifact was already built)."""
        self.publish(target)

    def publish(self, target=None) -> None:
        """Publish the artifact's files, with the history section drawn from ``history.jsonl`` now, as this
        configuration's own ``reports/<fingerprint>/`` and then as ``report/`` (the latest run's).

        The only code that writes them: this stage calls it once its artifact exists, and
        ``Retrain`` calls it (holding this stage's build guard: a lock, or a lease on an object
        store) after adding to the history. On an object store the guard's lease is renewed
        before the first file and before ``provenance.json``, so a holder that lost it stops.
        """
        from pipeline.report.build import publish_files

        target = target or self.output()
        files = publish_files(target.load()["files"], published.history_bytes(), MODELS)
        lease = getattr(target, "lease", None)
        published.publish_directory(files, directory=self.own_directory(), lease=lease)
        if self.point:  # one of a sweep's points: report/ stays the configuration's
            log.info("report of this point written: %s", published.report_link(directory=self.own_directory()))
            return
        published.publish_directory(files, lease=lease)
        log.info(
            "report written: %s (latest: %s)",
            published.report_link(directory=self.own_directory()),
            published.report_link(),
        )

    def build(self, inputs):
        from pipeline.report.build import build_report, code_version, stage_fingerprints
        from pipeline.report.summary import provenance_rows

        manifests = [
            dict(t.output().manifest(), task=t.get_task_family()) for t in walk(self)[:-1]
        ]  # every upstream stage, dependencies first (the report is last)
        return build_report(
            trained={k: inputs[f"train/{k}"] for k in TRAININGS},
            evaluated={k: inputs[f"eval/{k}"] for k in EVALUATIONS},
            moons=inputs["moons"],
            models=MODELS,
            provenance=provenance_rows(manifests, stage_fingerprints(self.published_provenance())),
            fingerprint=self.fingerprint(),
            dpi=self.dpi,
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            code_version=code_version(PROJECT_DIR),
        )
