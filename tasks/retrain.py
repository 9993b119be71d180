"""Scheduled retraining: a cheap source check, the full DAG, then champion/challenger and history."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import ClassVar

import luigi

from stagecache import ArtifactTask, canonical_hash, walk
from stagecache.core import ranges
from tasks import published
from tasks.data import DownloadMNIST, DownloadShakespeare
from tasks.published import read_history
from tasks.report import EVALUATIONS, MODELS, TRAININGS, FullReport

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
                log.warning(
                    "%s: %s changed since the last check; if this is a new release, set the new "
                    "sha256 pins in luigi.cfg to adopt it",
                    family,
                    found[0],
                )
        return {"date": self.date.isoformat(), "versions": versions}

    def previous_versions(self) -> dict:
        """The versions recorded by the newest earlier check, if any."""
        newest, today = None, self.date.isoformat()
        for manifest in self.output().family_manifests():
            day = (manifest.get("params") or {}).get("date")
            if isinstance(day, str) and day < today and (newest is None or day > newest["params"]["date"]):
                newest = manifest
        if newest is None:
            return {}
        target = self.target_for(newest["fingerprint"])
        return target.load()["versions"] if target.exists() else {}


class Retrain(ArtifactTask):
    """The daily job: check sources, build everything (cache hits when nothing changed), then decide the day:
    promote each model that is at least as good as its family's champion at the end of the previous day,
    append the day's decisions to the history, and have ``FullReport`` republish the report with it. Ends
    with one summary line at INFO: ``Retrain 2026-12-01: TrainLogReg unchanged since 2026-11-30, TrainMLP
    promoted, ... (1 promoted, 3 unchanged)``.

    A day is decided once: the task is complete when the history holds a decision for its date,
    whatever the configuration or code is now (a backfill after a change runs only the days that
    never ran). Days are decided in date order, each after the day before it, a dependency
    (``requires()["previous"]``): when the history holds an earlier day (the days between are decided
    first, at most :attr:`MAX_CATCH_UP_DAYS` of them: a date further ahead is refused, exit 3), and
    when ``RangeDaily --of Retrain`` asked this process about the day before and it was undecided (a
    backfill on an empty history, with any number of workers). A day before a day already decided is
    refused. ``--redecide --reason ...`` decides a decided day again, recorded as a re-decision.
    """

    #: The most days after the history's last decided day that one run decides (each one a task that waits
    #: for the one before it): a date further ahead is a mistake more often than a year without retraining.
    MAX_CATCH_UP_DAYS = 366
    #: ``{history location: days}`` that ``RangeDaily --of Retrain`` found undecided in this process (through
    #: :meth:`bulk_complete`): each of them is decided before the day after it. Forked worker processes
    #: inherit it; by then the day before is decided, so they need it not.
    range_days: ClassVar[dict[str, set[str]]] = {}

    date = luigi.DateParameter(description="the scheduled day")
    tolerance = luigi.FloatParameter(default=0.0, description="how much worse than the champion still promotes")
    redecide = luigi.BoolParameter(
        default=False,
        description="decide a day that was decided already, again: "
        "appended to the history as a re-decision of the day, with --reason",
    )
    reason = luigi.Parameter(default="", description="why the day is re-decided (with --redecide)")
    code = ("pipeline.champions",)
    # its build decides the day (appends to the history) and names the models' fingerprints: never reused
    early_cutoff = False

    def validate(self) -> None:
        ranges.at_least(self, 0, integer=False, tolerance=self.tolerance)
        if self.redecide and not self.reason.strip():
            raise ValueError("[Retrain] redecide needs a reason (--reason '...'): it is recorded with the decision")
        if self.reason and not self.redecide:
            raise ValueError("[Retrain] reason is only for a re-decision (--redecide)")

    @property
    def priority(self) -> float:
        """Earlier days first, when one run holds several that are free to run (the order of days itself is
        ``requires()["previous"]``, a dependency, never this priority): a positive number below 1, smaller for
        each later day (luigi only ever raises a task's priority, to the
        highest of the tasks that require it, so a negative one would be lost under ``RangeDaily``'s 0)."""
        return 1 - self.date.toordinal() / 1e7

    # A day is done once ----------------------------------------------------------------------------
    def decided_in(self, history: list[dict]) -> bool:
        """Whether ``history`` holds this task's decision: one of its day (or this re-decision of it)."""
        from pipeline.champions import decided_days, redecided

        date = self.date.isoformat()
        if self.redecide:
            return redecided(history, date, self.reason)
        return date in decided_days(history)

    @staticmethod
    def check_configuration() -> None:
        """Raise ``ValueError`` for a parameter out of range anywhere in the DAG, as luigi builds the task graph:
        a configuration error stops the run before anything is scheduled, decided days included."""
        walk(FullReport())

    def complete(self) -> bool:
        self.check_configuration()
        return self.decided_in(read_history())

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        """The dates already decided (what ``RangeDaily --of Retrain`` asks before scheduling), from one read
        of the history. The others are the backfill's days: each waits for the one before it
        (:attr:`range_days`), so that any number of workers decides them in date order."""
        Retrain.check_configuration()
        history = read_history()
        dates = list(parameter_tuples)
        decided = [date for date in dates if cls(date=date).decided_in(history)]
        undecided = {date.isoformat() for date in dates if date not in decided}
        Retrain.range_days.setdefault(published.history_location(), set()).update(undecided)
        return decided

    def previous_day(self):
        """The day before this one, when it must be decided first: it is not decided, and the history holds an
        earlier day or a backfill of this process asked for it. ``ValueError`` (a configuration error, exit 3)
        for a date more than :attr:`MAX_CATCH_UP_DAYS` after the history's last day before it."""
        from pipeline.champions import decided_days

        days = decided_days(read_history())
        date, before = self.date.isoformat(), self.date - timedelta(days=1)
        if date in days or before.isoformat() in days:
            return None
        earlier = max((day for day in days if day < date), default=None)
        if earlier is not None:
            gap = (self.date - datetime.fromisoformat(earlier).date()).days
            if gap > self.MAX_CATCH_UP_DAYS:
                first = datetime.fromisoformat(earlier).date() + timedelta(days=1)
                raise ValueError(
                    f"[Retrain] date {date} is {gap} days after the last day decided in "
                    f"{published.history_location()} ({earlier}): a run decides the days between first, at most "
                    f"{self.MAX_CATCH_UP_DAYS}; check the date, or decide the days from {first} in steps "
                    "(RangeDaily --of Retrain --start ... --stop ...)"
                )
            return before
        if before.isoformat() in Retrain.range_days.get(published.history_location(), set()):
            return before
        return None

    def requires(self):
        deps = {
            "sources": CheckSources(date=self.date),
            "report": FullReport(),
            **{f"eval/{k}": t() for k, t in EVALUATIONS.items()},
        }
        previous = self.previous_day()
        if previous is not None:
            deps["previous"] = Retrain(date=previous, tolerance=self.tolerance)
        return deps

    def upstream_fingerprints(self) -> dict[str, str]:
        """The models and sources this day is judged on: not the previous day (an order, not an input)."""
        return {t.get_task_family(): t.fingerprint() for k, t in self.requires().items() if k != "previous"}

    def load_inputs(self):
        return {k: t.output().load() for k, t in self.requires().items() if k != "previous"}

    def configuration(self) -> str:
        """A fingerprint of the configuration this decision runs with: every stage's significant parameters
        (not their code, which ``code_version`` names), and the tolerance."""
        stages = {t.get_task_family(): t.params_dict(significant_only=True) for t in walk(FullReport())}
        return canonical_hash({"stages": stages, "tolerance": self.tolerance})[:16]

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
        result = (target or self.output()).load()
        # Of two Retrains of one day at once, the second waits for the first's artifact under the build guard and
        # finds it: the first decided the day and logs the decision; the second says that it found it decided.
        built_here = self.__dict__.pop("_built_here", False)
        decided_now = built_here and result.get("decided_now", True)
        log.info(
            "%s",
            summary_line(
                f"{self.get_task_family()} {self.date.isoformat()}",
                result["decisions"],
                decided_now,
                result.get("redecision"),
            ),
        )

    def build(self, inputs):
        from pipeline.champions import METRICS, decide_day, latest_champions
        from pipeline.report.build import code_version
        from tasks.report import PROJECT_DIR

        date = self.date.isoformat()
        data_version = {t.get_task_family(): t.fingerprint()[:16] for t in (DownloadMNIST(), DownloadShakespeare())}
        recorded = datetime.now(timezone.utc).isoformat(timespec="seconds")
        challengers = {}
        for family, training_stage in TRAININGS.items():
            metric, _ = METRICS[MODELS[family]]
            training, evaluation = training_stage(), EVALUATIONS[family]()
            challengers[family] = {
                "value": inputs[f"eval/{family}"][metric],
                "fingerprint": training.fingerprint(),
                "artifacts": {"artifact": training.output().reference(), "evaluation": evaluation.output().reference()},
            }
        run = {"config": self.configuration(), "code_version": code_version(PROJECT_DIR)}
        documents = published.champions()  # for a family the history holds nothing of
        redecision = self.reason if self.redecide else None
        taken: dict = {}

        def decide(history: list[dict]) -> list[dict]:
            # pure in the history: on an object store it is decided again when another host appended first
            taken["new"], taken["day"] = decide_day(
                history,
                date=date,
                challengers=challengers,
                models=MODELS,
                tolerance=self.tolerance,
                recorded=recorded,
                data_version=data_version,
                run=run,
                redecide=redecision,
                documents=documents,
            )
            return taken["new"]

        published.append_decided(decide)
        history = read_history()
        published.sync_champions(latest_champions(history), len(history))
        for record in taken["day"]:
            log.info("%s: %s, %s", record["model"], record["outcome"], record["reason"])
        self._built_here = True  # after_save logs the day's line: this run decided it
        return {
            "date": date,
            "decisions": taken["day"],
            "decided_now": bool(taken["new"]),
            "redecision": redecision if taken["new"] else None,
            "sources": inputs["sources"]["versions"],
        }
