"""Scheduled retraining: a cheap source check, the full DAG, then champion/challenger and history."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import luigi

from stagecache import ranges
from stagecache.manifest import valid_manifests
from stagecache.task import ArtifactTask
from tasks import published
from tasks.data import DownloadMNIST, DownloadShakespeare
from tasks.published import read_history  # noqa: F401 -- the history, for callers of this module
from tasks.report import EVALUATIONS, TRAININGS, FullReport

log = logging.getLogger(__name__)


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
        newest, today = None, self.date.isoformat()
        for manifest in valid_manifests(self.output().family_manifests()):
            day = (manifest.get("params") or {}).get("date")
            if isinstance(day, str) and day < today and (newest is None or day > newest["params"]["date"]):
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
        ranges.at_least(self, 0, integer=False, tolerance=self.tolerance)

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
        report_target = report.output()
        # not while FullReport builds or publishes: its lock, or its lease on an object store
        with report_target.build_guard(exclusive=True):
            report.publish(report_target)
        log.info("%s", summary_line(self.date.isoformat(), (target or self.output()).load()["decisions"]))

    def build(self, inputs):
        from pipeline.champions import METRICS, judge

        date = self.date.isoformat()
        data_version = {t.get_task_family(): t.fingerprint()[:16] for t in (DownloadMNIST(), DownloadShakespeare())}
        recorded = datetime.now(timezone.utc).isoformat(timespec="seconds")
        records = []
        for family, (metric, _) in METRICS.items():
            training, evaluation = TRAININGS[family](), EVALUATIONS[family]()
            challenger = dict(family=family, date=date, value=inputs[f"eval/{family}"][metric],
                              fingerprint=training.fingerprint(), tolerance=self.tolerance,
                              data_version=data_version, recorded=recorded,
                              artifacts={"artifact": training.output().reference(),
                                         "evaluation": evaluation.output().reference()})
            decided = {}

            def decide(champion, challenger=challenger, decided=decided):
                # pure in the champion: on an object store it is decided again when another host promoted first
                decided["record"], new = judge(champion=champion, **challenger)
                return new

            published.update_champion(family, decide)
            records.append(decided["record"])
        for record in records:
            log.info("%s: %s, %s", record["model"], record["outcome"], record["reason"])
        decisions = self.append_history(records)
        return {"date": date, "decisions": decisions, "sources": inputs["sources"]["versions"]}

    @staticmethod
    def append_history(records: list[dict]) -> list[dict]:
        """Append one JSON line per record to ``history.jsonl`` (kept by ``gc``); return what it holds.

        A record whose date, model and fingerprint are already there (a retrain that
        crashed after writing its history and is run again, or another host's retrain of
        the same day) is not written twice: the first record, with the decision taken then,
        is returned in its place. A directory root appends under a lock, an object store by
        compare-and-swap (:func:`tasks.published.append_history`).
        """
        return published.append_history(records, key=_history_key)


def _history_key(record: dict) -> tuple:
    return record.get("date"), record.get("model"), record.get("fingerprint")
