"""Scheduled retraining: a cheap source check, the full DAG, then champion/challenger and history."""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import luigi

from tasks import storage
from tasks.base import ArtifactTask
from tasks.config import artifacts
from tasks.data import DownloadMNIST, DownloadShakespeare
from tasks.report import EVALUATIONS, TRAININGS, FullReport, history_bytes, history_lock, history_path

log = logging.getLogger(__name__)


def _root() -> Path:
    return Path(artifacts().root)


class CheckSources(ArtifactTask):
    """Ask each download's mirrors whether their files changed, without downloading them.

    The built data stays what the sha256 pins say; a changed source is reported so the
    user can adopt a new release by updating the pins in luigi.cfg.
    """

    date = luigi.DateParameter(description="the scheduled day this check belongs to")
    code = ("pipeline.data.sources",)

    def requires(self):
        return []

    def build(self, inputs):
        from pipeline.data.sources import first_reachable_version

        previous = self.previous_versions()
        versions = {}
        for download in (DownloadMNIST(), DownloadShakespeare()):
            family = download.get_task_family()
            found = first_reachable_version(list(download.mirrors), sorted(download.sha256), timeout=download.timeout)
            versions[family] = None if found is None else {"mirror": found[0], "version": found[1]}
            old = previous.get(family)
            if found is None:
                log.warning("%s: no mirror answered the source check", family)
            elif old and old["mirror"] == found[0] and old["version"] != found[1]:
                log.warning("%s: %s changed since the last check; if this is a new release, set the new "
                            "sha256 pins in luigi.cfg to adopt it", family, found[0])
        return {"date": self.date.isoformat(), "versions": versions}

    def previous_versions(self) -> dict:
        """The versions recorded by the newest earlier check, if any."""
        newest, directory = None, self.output().path.parent
        for path in directory.glob("*.json") if directory.is_dir() else []:
            manifest = json.loads(path.read_text())
            if manifest["params"]["date"] < self.date.isoformat() and (
                    newest is None or manifest["params"]["date"] > newest["params"]["date"]):
                newest = manifest
        if newest is None:
            return {}
        target = self.target_for(newest["fingerprint"])
        return target.load()["versions"] if target.exists() else {}


class Retrain(ArtifactTask):
    """The daily job: check sources, build everything (cache hits when nothing changed), then promote
    each model that is at least as good as its family's champion, append to the history, and have
    ``FullReport`` republish the report with it. Ends with one summary line at INFO:
    ``Retrain 2026-12-01: TrainLogReg kept, TrainMLP promoted, ... (1 promoted, 3 kept)``."""

    date = luigi.DateParameter(description="the scheduled day")
    tolerance = luigi.FloatParameter(default=0.0, description="how much worse than the champion still promotes")
    code = ("pipeline.champions",)

    def validate(self) -> None:
        if self.tolerance < 0:
            raise ValueError(f"[Retrain] tolerance must be >= 0, got {self.tolerance}")

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        """The dates already retrained (what ``RangeDaily --of Retrain`` asks before scheduling)."""
        return [date for date in parameter_tuples if cls(date=date).complete()]

    def requires(self):
        return {"sources": CheckSources(date=self.date), "report": FullReport(),
                **{f"eval/{k}": t() for k, t in EVALUATIONS.items()}}

    def after_save(self, target=None) -> None:
        """Have ``FullReport`` republish the report with the history just appended, then log the summary line.

        Not through the scheduler: a ``FullReport`` yielded as a dynamic dependency right after it
        was done (two dates retrained in one run, e.g. ``RangeDaily`` catching up) is not rerun
        for luigi's ``stable_done_cooldown_secs``, and the worker spins on this task meanwhile.
        """
        from pipeline.champions import summary_line

        report = FullReport()
        with storage.exclusive_lock(report.output().lock_path):  # not while FullReport builds or publishes
            report.publish()
        log.info("%s", summary_line(self.date.isoformat(), (target or self.output()).load()["decisions"]))

    def build(self, inputs):
        from pipeline.champions import METRICS, challenge

        champions_dir = _root() / "champions"
        champions = {}
        for family in METRICS:
            path = champions_dir / f"{family}.json"
            champions[family] = json.loads(path.read_text()) if path.exists() else None
        records, promoted = challenge(
            date=self.date.isoformat(), evaluations={f: inputs[f"eval/{f}"] for f in METRICS},
            fingerprints={f: TRAININGS[f]().fingerprint() for f in METRICS}, champions=champions,
            tolerance=self.tolerance,
            data_version={t.get_task_family(): t.fingerprint()[:16] for t in (DownloadMNIST(), DownloadShakespeare())},
            recorded=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            artifacts={f: {"artifact": str(TRAININGS[f]().output().path),
                           "evaluation": str(EVALUATIONS[f]().output().path)} for f in METRICS})
        for family, champion in promoted.items():
            storage.atomic_write_bytes(champions_dir / f"{family}.json", json.dumps(champion, indent=2).encode())
        for record in records:
            log.info("%s: %s, %s", record["model"], record["outcome"], record["reason"])
        decisions = self.append_history(records)
        return {"date": self.date.isoformat(), "decisions": decisions, "sources": inputs["sources"]["versions"]}

    @staticmethod
    def append_history(records: list[dict]) -> list[dict]:
        """Append one JSON line per record to ``<root>/history.jsonl`` (kept by ``gc``); return what it holds.

        A record whose date, model and fingerprint are already there (a retrain that
        crashed after writing its history and is run again) is not written twice: the
        first record, with the decision taken then, is returned in its place.
        """
        path = history_path()
        with storage.exclusive_lock(history_lock()):
            existing = {_history_key(r): r for r in read_history()}
            new = [r for r in records if _history_key(r) not in existing]
            if new:
                with open(path, "a+b") as fh:  # writes append, whatever was read
                    if fh.tell():
                        fh.seek(-1, os.SEEK_END)
                        if fh.read(1) != b"\n":
                            fh.write(b"\n")  # a line cut short by a crash stays alone on its line
                    for record in new:
                        fh.write((json.dumps(record, sort_keys=True) + "\n").encode())
                    fh.flush()
                    os.fsync(fh.fileno())
        return [existing.get(_history_key(r), r) for r in records]


def _history_key(record: dict) -> tuple:
    return record.get("date"), record.get("model"), record.get("fingerprint")


def read_history() -> list[dict]:
    """Every record of ``<root>/history.jsonl``, oldest first (an unreadable line is skipped with a warning)."""
    from pipeline.report.history import parse_history

    path = history_path()
    records, bad = parse_history(history_bytes(locked=False).decode(errors="replace"))
    for number in bad:
        log.warning("%s line %d is not a JSON record (cut short by a crash?); skipped", path, number)
    return records
