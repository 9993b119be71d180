"""A training's epochs: :class:`ReportsProgress` fires :data:`stagecache.core.hooks.epoch_ended` for each, and
:func:`install` reports them to luigi's scheduler (its progress bar and status line), best effort: a training
never waits for the scheduler and never fails because of it (see :mod:`stagecache.run.scheduler_loss` for a
scheduler that is gone)."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

import luigi

from stagecache.core import hooks

log = logging.getLogger(__name__)


class ProgressSender:
    """Sends progress reports to the scheduler from a daemon thread, best effort.

    A training never waits for the scheduler: :meth:`submit` hands the newest report over and
    returns; a report not yet sent when a newer one comes is dropped (only the latest matters).
    A scheduler that does not answer (luigid gone: luigi's client retries for about a minute)
    delays only this thread, and its error is logged once, never raised.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.pending: list | None = None
        self.busy = False
        self.pid: int | None = None  # the process whose thread runs (a forked child starts its own)
        self.warned = False

    def submit(self, calls: list) -> None:
        """Send ``[(function, argument), ...]`` (the forwarded ``set_*`` of luigi's status reporter) soon."""
        with self.cond:
            if self.pid != os.getpid():
                self.pid, self.pending, self.busy = os.getpid(), None, False
                threading.Thread(target=self._run, name="progress-to-scheduler", daemon=True).start()
            self.pending = calls
            self.cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until the reports submitted so far were sent (or failed)."""
        with self.cond:
            if self.pid != os.getpid():
                return True
            return self.cond.wait_for(lambda: self.pending is None and not self.busy, timeout)

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.pending is not None)
                calls, self.pending, self.busy = self.pending, None, True
            assert calls is not None  # wait_for returned once a report was pending
            for function, argument in calls:
                try:
                    function(argument)
                except Exception as exc:
                    if not self.warned:
                        self.warned = True
                        log.warning(
                            "progress not reported to the scheduler (%s); training goes on",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                        )
            with self.cond:
                self.busy = False
                self.cond.notify_all()


PROGRESS = ProgressSender()
#: Seconds a training's end waits for its last progress report (so that luigid shows 100%).
FLUSH_SECONDS = 5.0


if TYPE_CHECKING:
    _MixedInto = luigi.Task  # the mixin's run() calls the task's that follows it in the MRO
else:
    _MixedInto = object


class ReportsProgress(_MixedInto):
    """Mixin for training stages: :meth:`report_progress` fires :data:`stagecache.core.hooks.epoch_ended` with each
    epoch's record; the run's last report reaches luigi's scheduler before the stage ends (see :func:`install`)."""

    def report_progress(self, record: dict) -> None:
        """Tell the epoch's ``record`` (``epoch``, ``epochs`` and its figures) to the hook's subscribers."""
        hooks.epoch_ended.fire(self, record)

    def run(self):
        try:
            return super().run()
        finally:
            PROGRESS.flush(FLUSH_SECONDS)


def send_to_scheduler(task, record: dict) -> None:
    """Set luigi's progress percentage and status message of ``task`` (progress bar and status line) from an
    epoch's ``record``, best effort (:class:`ProgressSender`: never blocking or failing the training)."""
    done, total = record["epoch"], record["epochs"]
    metrics = ", ".join(
        f"{k} {v:.4f}" for k, v in record.items() if k not in ("epoch", "epochs") and isinstance(v, float)
    )
    # luigi forwards these to the task only while it runs: take them now, the thread calls them later
    percentage = getattr(task, "set_progress_percentage", None)
    message = getattr(task, "set_status_message", None)
    calls = [(percentage, round(100.0 * done / total, 1)), (message, f"epoch {done}/{total}: {metrics}")]
    calls = [(f, a) for f, a in calls if callable(f)]
    if calls:
        PROGRESS.submit(calls)


def install() -> None:
    """Report each epoch to luigi's scheduler (:func:`stagecache.install` calls it)."""
    hooks.epoch_ended.subscribe(send_to_scheduler)
