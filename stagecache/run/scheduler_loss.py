"""A central scheduler (luigid) that stops answering mid-run does not abort the stages running.

Luigi's client retries a request for about a minute (``[core] rpc_retry_attempts`` times,
``rpc_retry_wait`` apart) and then raises ``RPCError``; raised in a worker, that ends the run
with luigi's "unhandled exception" and kills the worker processes still training. Under
``luigi --module <dag>``, :func:`install` gives luigi a client (:class:`ToleratingScheduler`)
that, once a request has failed that way, stops asking: it answers the worker itself as a
scheduler with no more work would (so no other stage starts), the stages already running
finish and save their artifacts, and the command ends with one line and
:data:`SCHEDULER_LOST_EXIT`. A rerun finds those stages done. The loss fires
:data:`stagecache.core.hooks.scheduler_lost`.

Progress reports (:class:`stagecache.run.scheduler_progress.ProgressSender`) never wait for the scheduler at all.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from stagecache.core import hooks

log = logging.getLogger(__name__)

#: Exit code of a run whose central scheduler stopped answering (what was running finished).
SCHEDULER_LOST_EXIT = 45

_OFFLINE_WORK: dict[str, Any] = {
    "running_tasks": [],
    "task_id": None,
    "n_pending_tasks": 0,
    "n_unique_pending": 0,
    "n_pending_last_scheduled": 0,
    "worker_state": "disabled",
}


def _scheduler_class():
    from luigi.rpc import RemoteScheduler, RPCError

    class ToleratingScheduler(RemoteScheduler):
        """luigi's client to luigid that goes offline, instead of raising, once luigid has stopped answering."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.owner = os.getpid()
            self.lost: str | None = None
            self.answered = False  # whether luigid answered any request of this run
            self.finished: dict[str, str] = {}  # family -> DONE/FAILED, for the stages that ended offline
            self._lost_lock = threading.Lock()

        def _request(self, url, data, attempts=3, allow_null=True):
            if self.lost is None:
                try:
                    response = super()._request(url, data, attempts=attempts, allow_null=allow_null)
                except RPCError as exc:
                    self._lose(exc)
                else:
                    self.answered = True
                    return response
            return self._offline(url, data)

        def _lose(self, exc: Exception) -> None:
            with self._lost_lock:
                if self.lost is not None:
                    return
                cause = getattr(exc, "sub_exception", None)
                self.lost = f"{str(exc).splitlines()[0]}" + (f": {type(cause).__name__}" if cause else "")
            log.error(
                "central scheduler %s stopped answering (%s): the stages running now finish and are saved, "
                "no other stage starts",
                self._url,
                self.lost,
            )
            hooks.scheduler_lost.fire(self._url, self.lost)

        def _offline(self, url: str, data: dict):
            method = url.rstrip("/").rsplit("/", 1)[-1]
            if method == "add_task" and data.get("status") in ("DONE", "FAILED"):
                self.finished[data.get("family") or data.get("task_id", "?")] = data["status"]
            if method in ("get_work", "count_pending"):
                return dict(_OFFLINE_WORK)
            if method == "ping":
                return {"rpc_messages": []}
            return None

        def close(self):
            super().close()
            if self.lost is not None and os.getpid() == self.owner:
                log.error("%s", self.summary())
                raise SystemExit(SCHEDULER_LOST_EXIT)

        def summary(self) -> str:
            ended = ", ".join(
                f"{family} {'done (saved)' if status == 'DONE' else 'failed'}"
                for family, status in self.finished.items()
            )
            what = "stopped answering during the run" if self.answered else "did not answer"
            return (
                f"central scheduler {self._url} {what}: "
                + (f"{ended} after it did; " if ended else "")
                + f"no other stage was started; rerun once it answers again (exit {SCHEDULER_LOST_EXIT})"
            )

    return ToleratingScheduler


def install() -> None:
    """Make ``luigi --module <dag>`` talk to luigid through :class:`ToleratingScheduler` (once per process)."""
    from luigi import interface

    if getattr(interface._WorkerSchedulerFactory.create_remote_scheduler, "tolerating", False):
        return
    cls = _scheduler_class()

    def create_remote_scheduler(self, url):
        return cls(url)

    create_remote_scheduler.tolerating = True  # type: ignore[attr-defined]  # a marker attribute on the function
    # luigi offers no hook for its scheduler client: its factory method is replaced
    interface._WorkerSchedulerFactory.create_remote_scheduler = create_remote_scheduler  # type: ignore[method-assign]
