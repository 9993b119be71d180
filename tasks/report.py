"""The final stage: figures, metrics.json and an HTML page, published as ``<artifacts root>/report/``."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import luigi

from tasks import storage
from tasks.base import ArtifactTask
from tasks.config import artifacts
from tasks.evaluate import EvaluateCharRNN, EvaluateDeepMLP, EvaluateLogReg, EvaluateMLP
from tasks.status import walk
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP, TrainMoonsMLP

log = logging.getLogger(__name__)
EVALUATIONS = {"TrainLogReg": EvaluateLogReg, "TrainMLP": EvaluateMLP, "TrainDeepMLP": EvaluateDeepMLP,
               "TrainCharRNN": EvaluateCharRNN}
TRAININGS = {"TrainLogReg": TrainLogReg, "TrainMLP": TrainMLP, "TrainDeepMLP": TrainDeepMLP,
             "TrainCharRNN": TrainCharRNN}
PROJECT_DIR = Path(__file__).resolve().parents[1]


def history_path() -> Path:
    """``<root>/history.jsonl``: one JSON line per champion decision of every scheduled retrain."""
    return Path(artifacts().root) / "history.jsonl"


def history_lock() -> Path:
    """The lock held while ``history.jsonl`` is appended to or read for publishing."""
    return Path(artifacts().root) / "history.lock"


def history_bytes(locked: bool = True) -> bytes:
    """The bytes of ``history.jsonl`` (none when there is no file), read while no retrain appends
    (``locked=False``: read without taking the lock, which would create its file, e.g. for ``status``)."""
    if locked:
        with storage.exclusive_lock(history_lock()):
            return history_bytes(locked=False)
    try:
        return history_path().read_bytes()
    except FileNotFoundError:
        return b""


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

    def requires(self):
        return {**{f"train/{k}": t() for k, t in TRAININGS.items()},
                **{f"eval/{k}": t() for k, t in EVALUATIONS.items()},
                "moons": TrainMoonsMLP()}

    @property
    def report_dir(self) -> Path:
        return Path(artifacts().root) / "report"

    def published_provenance(self) -> bytes:
        """``provenance.json`` of the report published now (no bytes when there is none)."""
        try:
            return (self.report_dir / "provenance.json").read_bytes()
        except OSError:
            return b""

    def complete(self) -> bool:
        if not super().complete():
            return False
        from pipeline.report.build import history_digest, published_state

        return published_state(self.published_provenance()) == (
            self.fingerprint(), history_digest(history_bytes(locked=False)))

    def after_save(self, target=None) -> None:
        """Publish ``report/`` (also when the artifact was already built)."""
        self.publish(target)

    def publish(self, target=None) -> None:
        """Replace ``report/`` by the artifact's files with the history section drawn from ``history.jsonl`` now.

        The only code that writes ``report/``: this stage calls it once its artifact exists, and
        ``Retrain`` calls it (holding this stage's lock) after adding to the history.
        """
        from pipeline.report.build import publish_files

        target = target or self.output()
        storage.publish_directory(self.report_dir, publish_files(target.load()["files"], history_bytes()))
        log.info("report written: %s", (self.report_dir / "index.html").resolve().as_uri())

    def build(self, inputs):
        from pipeline.report.build import build_report, code_version, stage_fingerprints
        from pipeline.report.summary import provenance_rows

        manifests = [dict(t.output().manifest(), task=t.get_task_family())
                     for t in walk(self)[:-1]]  # every upstream stage, dependencies first (the report is last)
        return build_report(
            trained={k: inputs[f"train/{k}"] for k in TRAININGS},
            evaluated={k: inputs[f"eval/{k}"] for k in EVALUATIONS},
            moons=inputs["moons"], provenance=provenance_rows(manifests, stage_fingerprints(self.published_provenance())),
            fingerprint=self.fingerprint(), dpi=self.dpi,
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            code_version=code_version(PROJECT_DIR))
