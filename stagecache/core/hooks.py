"""The engine's events, declared in one place: each hook's name, arguments, and when and where it fires.

Subscribe a function to a hook (``@hooks.stage_saved.subscribe``, or ``hooks.stage_saved.subscribe(f)``);
:meth:`Hook.subscribed` does it for a block. Subscribers run in the order they subscribed, in the thread
that fires the hook; one that raises is logged and the others still run, so a subscriber can neither fail
nor stop a run. Keep them quick: some hooks fire while the run's progress holds its lock.

Where a hook fires matters with ``--workers N``: luigi schedules in one process and runs each stage in
a process it forks. The scheduling hooks and the run's hooks fire in the scheduling process (the run's
progress carries a worker process's starts and ends to it); the building hooks fire where the stage runs.

==================  ============================  =====================================================
hook                arguments                     fires
==================  ============================  =====================================================
``stage_cached``    task                          scheduling found ``task`` complete: it will not run
``stage_needs``     task, dependency              scheduling found ``task`` incomplete; it needs
                                                  ``dependency`` (once per dependency; a stage without
                                                  dependencies fires none)
``run_planned``     stages, cached                as the first stage of a run starts: the stages to run,
                                                  dependencies first, and the cached ones met (tasks)
``stage_started``   task                          a stage of the run started
``epoch_ended``     task, record                  where the stage runs: a training stage reported an
                                                  epoch (:class:`stagecache.run.scheduler_progress.ReportsProgress`;
                                                  ``record`` holds ``epoch``, ``epochs`` and its figures)
``stage_saved``     task, target                  where the stage runs: this build wrote its artifact and
                                                  manifest to ``target`` (not when another process had)
``stage_ended``     task, succeeded, at           a stage of the run ended (``at``: ``time.time()`` then);
                                                  ``succeeded`` False for a failure, a worker process that
                                                  died and a timeout
``run_ended``       results                       once every stage the run planned has ended: ``[(task,
                                                  result, seconds or None), ...]`` in the summary table's
                                                  order, ``result`` one of ``cached``, ``ran``, ``failed``,
                                                  ``not run: needs a failed stage``
``scheduler_lost``  url, reason                   luigid stopped answering (``luigi --module`` only): the
                                                  stages running finish, no other starts
==================  ============================  =====================================================

The scheduling hooks are luigi's ``DEPENDENCY_PRESENT`` and ``DEPENDENCY_DISCOVERED`` on every
:class:`stagecache.stages.task.ArtifactTask` (:func:`connect`); ``run_planned``, ``stage_started``, ``stage_ended``
and ``run_ended`` come from :mod:`stagecache.run.progress`. :func:`stagecache.install` connects them all. A run that
finds everything complete fires only ``stage_cached``.

Besides these events, a stage class overrides methods of :class:`stagecache.stages.task.ArtifactTask` to act at its
own points: ``building(target)`` (a context around its build), ``after_save(target)`` and ``result_link()``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class Hook:
    """One named event: its subscribers, called in order with the hook's arguments."""

    def __init__(self, name: str, arguments: tuple[str, ...], fires: str):
        self.name, self.arguments, self.fires = name, arguments, fires
        self._subscribers: list[Callable[..., Any]] = []

    def __repr__(self) -> str:
        return f"<hook {self.name}({', '.join(self.arguments)})>"

    def subscribe(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback`` with the hook's arguments each time it fires (once, however often subscribed).
        Returns ``callback``, so that this serves as a decorator. A callback that cannot take the hook's
        arguments is refused here (``TypeError``), not when the hook fires."""
        try:
            inspect.signature(callback).bind(*self.arguments)
        except TypeError:
            raise TypeError(f"{callback!r} cannot take {self.name}'s arguments ({', '.join(self.arguments)})") from None
        except ValueError:  # a callable without a signature Python can read: taken as it is
            pass
        if callback not in self._subscribers:
            self._subscribers.append(callback)
        return callback

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback`` (nothing happens when it was not subscribed)."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(callback)

    @contextlib.contextmanager
    def subscribed(self, callback: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
        """``callback`` subscribed for the block, unsubscribed after it."""
        self.subscribe(callback)
        try:
            yield callback
        finally:
            self.unsubscribe(callback)

    def fire(self, *args: Any) -> None:
        """Call every subscriber with ``args`` (the hook's arguments, in order); log any that raises."""
        if len(args) != len(self.arguments):
            raise TypeError(f"{self.name} takes {len(self.arguments)} arguments ({', '.join(self.arguments)})")
        for callback in list(self._subscribers):
            try:
                callback(*args)
            except Exception:
                log.exception("a subscriber of %s failed: %r", self.name, callback)


stage_cached = Hook("stage_cached", ("task",), "scheduling found the stage complete: it will not run")
stage_needs = Hook("stage_needs", ("task", "dependency"), "scheduling found the stage incomplete, needing dependency")
run_planned = Hook("run_planned", ("stages", "cached"), "the first stage of a run starts: its plan")
stage_started = Hook("stage_started", ("task",), "a stage of the run started")
epoch_ended = Hook("epoch_ended", ("task", "record"), "a training stage reported an epoch, where it runs")
stage_saved = Hook("stage_saved", ("task", "target"), "this build wrote the stage's artifact and manifest")
stage_ended = Hook("stage_ended", ("task", "succeeded", "at"), "a stage of the run ended")
run_ended = Hook("run_ended", ("results",), "every stage the run planned has ended")
scheduler_lost = Hook("scheduler_lost", ("url", "reason"), "the central scheduler stopped answering")

#: Every hook, in the order a run fires them.
HOOKS: tuple[Hook, ...] = (
    stage_cached,
    stage_needs,
    run_planned,
    stage_started,
    epoch_ended,
    stage_saved,
    stage_ended,
    run_ended,
    scheduler_lost,
)

#: The luigi event a sweep's point job fires on each stage of its point it does not build because a training of
#: the point diverged (:mod:`stagecache.experiments.point_jobs`); the run's progress counts them as not run.
NOT_BUILT = "event.stagecache.point.not_built"

_connected: set[type] = set()


def connect(task_class: type) -> None:
    """Fire the scheduling hooks from luigi's events on ``task_class`` (:class:`stagecache.stages.task.ArtifactTask`), once."""
    import luigi

    if task_class in _connected:
        return
    _connected.add(task_class)
    task_class.event_handler(luigi.Event.DEPENDENCY_PRESENT)(stage_cached.fire)  # type: ignore[attr-defined]
    task_class.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)(stage_needs.fire)  # type: ignore[attr-defined]


__all__ = [
    "HOOKS",
    "NOT_BUILT",
    "Hook",
    "connect",
    "epoch_ended",
    "run_ended",
    "run_planned",
    "scheduler_lost",
    "stage_cached",
    "stage_ended",
    "stage_needs",
    "stage_saved",
    "stage_started",
]
