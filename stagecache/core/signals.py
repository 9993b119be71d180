"""SIGTERM and SIGINT stop a run cleanly: one line naming each stage stopped and the checkpoint it
keeps, every worker process stopped with it, and a documented exit code (:data:`STOP_EXIT`).

Installed once, by the DAG module, in the process ``luigi --module <dag>`` runs in (never under
``luigi.build`` in someone else's program, whose signals are its own). With ``--workers N``
luigi forks a process per running stage; they inherit the handler. What each process does:

- a worker process (forked by luigi) exits at once, quietly, with the same code: its last
  checkpoint is on disk (written atomically), its build lock is released with the process;
- the scheduling process stops its worker processes (SIGTERM, then SIGKILL after
  :data:`GRACE_SECONDS`), so that none keeps writing under PID 1, logs the line and exits.

A stop that arrives while a process writes a checkpoint or saves an artifact waits until that
write is done (:func:`critical`): a rerun then finds the checkpoint, or the stage done.
Nothing else is needed for the rerun: it resumes after the last checkpoint as after a kill.
What a process holds that would otherwise outlive it for a while (an object store's build lease,
which others wait on until it expires, and its run's claim) is handed back first, within
:data:`RELEASE_SECONDS` (:func:`on_stop`, :func:`always_on_stop`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from stagecache.core import hooks

log = logging.getLogger(__name__)

#: Exit code of a run stopped by each signal: 128 + the signal's number, as shells report it.
STOP_EXIT: dict[int, int] = {signal.SIGINT: 128 + signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}
#: Seconds a worker process gets to exit after SIGTERM before it is killed.
GRACE_SECONDS = 10.0
#: Seconds a stopping process gives the releases registered with :func:`on_stop`, all together.
RELEASE_SECONDS = 3.0

_owner: int | None = None  # the pid that installed the handlers (the scheduling process)
_depth = threading.local()  # how deep the current thread is in critical()
_pending: list[int] = []  # a signal that arrived inside critical(), handled when it is left
_stopping = False
_running: dict[str, Any] = {}  # task_id -> task: the run's stages started and not ended, in start order
_releases: dict[int, Callable[[], None]] = {}  # what to hand back before this process exits on a stop
_next_release = 0


def _register(release: Callable[[], None]) -> int:
    global _next_release
    _next_release += 1
    _releases[_next_release] = release
    return _next_release


def always_on_stop(release: Callable[[], None]) -> None:
    """Call ``release`` on any stop of this process from now on, as :func:`on_stop` does for a block."""
    _register(release)


@contextlib.contextmanager
def on_stop(release: Callable[[], None]):
    """For the block, a stop of this process calls ``release`` (best effort, in a thread, along with the
    other releases within :data:`RELEASE_SECONDS`) before it exits: for what a process holds that others
    would otherwise wait on until it expires."""
    key = _register(release)
    try:
        yield
    finally:
        _releases.pop(key, None)


def run_within(seconds: float, action: Callable[[], None], name: str) -> None:
    """Run ``action`` in a daemon thread and wait for it at most ``seconds``: a best-effort hand-back on the
    way out (an unreachable store) cannot hold the exit up longer."""
    thread = threading.Thread(target=action, name=name, daemon=True)
    thread.start()
    thread.join(seconds)


def _release_all() -> None:
    """Every registered release at once, each in its own thread (one that is slow, or waits on a lock the
    stopped thread holds, cannot hold up the others), all within :data:`RELEASE_SECONDS`."""

    def run(release: Callable[[], None]) -> None:
        try:
            release()
        except Exception as exc:
            log.warning("stopping: could not release %s (%s)", release, exc)

    threads = [
        threading.Thread(target=run, args=(release,), name="stagecache-stop-release", daemon=True)
        for release in list(_releases.values())
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + RELEASE_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _started(task) -> None:
    _running[task.task_id] = task


def _ended(task, succeeded: bool, at: float) -> None:
    _running.pop(task.task_id, None)


def install() -> None:
    """Handle SIGTERM and SIGINT in this process and the worker processes it forks (once), and follow which
    stages run (:data:`stagecache.core.hooks.stage_started`, ``stage_ended``) for the stop's line."""
    global _owner
    if _owner is not None or threading.current_thread() is not threading.main_thread():
        return
    hooks.stage_started.subscribe(_started)
    hooks.stage_ended.subscribe(_ended)
    _owner = os.getpid()
    for signum in STOP_EXIT:
        signal.signal(signum, _handle)


def installed() -> bool:
    return _owner is not None


@contextlib.contextmanager
def critical():
    """A block that a stop does not cut short (a checkpoint or artifact being written): a signal
    that arrives inside it takes effect when the outermost such block ends."""
    _depth.n = getattr(_depth, "n", 0) + 1
    try:
        yield
    finally:
        _depth.n -= 1
        if _depth.n == 0 and _pending and threading.current_thread() is threading.main_thread():
            _stop(_pending[0])


def _handle(signum, frame) -> None:
    if getattr(_depth, "n", 0) > 0:  # signal handlers run in the main thread, between two bytecodes
        if not _pending:
            _pending.append(signum)
        return
    _stop(signum)


def _exit(code: int) -> None:
    for handler in logging.getLogger().handlers + logging.getLogger("luigi-interface").handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _stop(signum: int) -> None:
    global _stopping
    code = STOP_EXIT.get(signum, 128 + signum)
    if os.getpid() != _owner:  # a worker process: the scheduling process reports
        _release_all()
        _exit(code)
    if _stopping:
        return
    _stopping = True
    _stop_workers()
    _release_all()  # what this process built itself (one worker: luigi runs the stage here)
    log.warning("%s", _bounded_stop_line(signal.Signals(signum).name, code))
    _exit(code)


def _bounded_stop_line(name: str, code: int) -> str:
    """:func:`stop_line`, worked out in a thread for at most :data:`RELEASE_SECONDS`: listing checkpoints may
    need a lock the interrupted thread holds (an object store's connection pool), and a stop must not hang on it."""
    found: list[str] = []
    run_within(RELEASE_SECONDS, lambda: found.append(stop_line(name, code)), "stagecache-stop-line")
    if found:
        return found[0]
    families = ", ".join(task.get_task_family() for task in list(_running.values())) or "no stage"
    return f"stopped by {name}: {families} (its checkpoints could not be listed in time); rerun to resume (exit {code})"


def _stop_workers() -> None:
    """SIGTERM to every worker process luigi forked, SIGKILL to any still there after the grace period."""
    from luigi.worker import TaskProcess

    workers = [p for p in multiprocessing.active_children() if isinstance(p, TaskProcess)]
    for process in workers:
        assert process.pid is not None  # an active child has been started, so it has a pid
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            with contextlib.suppress(OSError):
                process.kill()
            process.join(5)


def stop_line(name: str, code: int) -> str:
    """``stopped by SIGTERM: TrainX keeps its checkpoint after epoch 3 (...); rerun to resume (exit 143)``."""
    from stagecache.core.points import describe

    stages = []
    for task in list(_running.values()):
        point = describe(getattr(task, "point", "") or "")  # a sweep's point: which one, by its values
        family = f"{task.get_task_family()} [{point}]" if point else task.get_task_family()
        after_a_stop = getattr(task, "after_a_stop", None)  # a stage that goes on some other way says how
        if callable(after_a_stop):
            stages.append(f"{family} {after_a_stop()}")
            continue
        try:
            epoch, where = task.output().checkpointer().latest()
        except Exception as exc:
            stages.append(f"{family} (its checkpoints could not be listed: {exc})")
            continue
        stages.append(
            f"{family} keeps its checkpoint after epoch {epoch} ({where})"
            if epoch is not None
            else f"{family} had no checkpoint yet (it restarts from the beginning)"
        )
    if not stages:
        return f"stopped by {name}: no stage was running; rerun to continue (exit {code})"
    return f"stopped by {name}: {'; '.join(stages)}; rerun to resume (exit {code})"
