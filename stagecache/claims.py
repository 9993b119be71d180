"""A run claims what it uses, so that nothing that deletes (``artifacts gc``) removes it while the run lives.

Luigi's events tell the scheduling process every stage it meets (complete or to run); each is added to
this process's claim in the configured root (:meth:`stagecache.roots.Root.claim`), which lives exactly as
long as the run: a lock held by the process on a directory root, a key renewed by a thread on an object
store. A stage's claim covers what it writes (artifact, checkpoints, lock) and what its dependents read.
"""

from __future__ import annotations

import logging
import threading

from stagecache.roots import configured_root
from stagecache.stores.leases import default_owner

log = logging.getLogger(__name__)
_claimed: set[tuple[str, str]] = set()
_lock = threading.Lock()


def claim(task) -> None:
    """Add ``task``'s artifact to this run's claim."""
    target = task.output()
    stem = tuple(target.stem.split("/", 1))
    with _lock:
        if stem in _claimed:
            return
        _claimed.add(stem)
        try:
            configured_root().claim(default_owner(), set(_claimed))
        except Exception as exc:
            log.warning("could not record that this run uses %s (%s); `artifacts gc` may not see it", target.stem, exc)


def install(task_class) -> None:
    """Claim every stage of ``task_class`` that scheduling meets (once per process; the DAG module calls it)."""
    import luigi

    if getattr(install, "done", False):
        return
    install.done = True  # type: ignore[attr-defined]
    task_class.event_handler(luigi.Event.DEPENDENCY_PRESENT)(claim)

    def claim_both(task, dep) -> None:
        claim(task)
        if not hasattr(dep, "builds_itself"):  # a sweep's point job: its stages are claimed as they start
            claim(dep)

    task_class.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)(claim_both)
    task_class.event_handler(luigi.Event.START)(claim)
