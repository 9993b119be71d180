"""A run claims what it uses, so that nothing that deletes (``artifacts gc``) removes it while the run lives.

The scheduling hooks (:mod:`stagecache.core.hooks`) tell the scheduling process every stage it meets
(complete or to run), and ``stage_started`` a stage that scheduling did not show (a root without
dependencies); each is added to this process's claim in the configured root
(:meth:`stagecache.storage.roots.Root.claim`), which lives exactly as long as the run: a lock held by the
process on a directory root, a key renewed by a thread on an object store. A stage's claim covers what
it writes (artifact, checkpoints, lock) and what its dependents read.
"""

from __future__ import annotations

import logging
import threading

from stagecache.core import hooks
from stagecache.storage.roots import configured_root
from stagecache.storage.stores.leases import default_owner

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


def claim_both(task, dependency) -> None:
    """Add ``task`` and ``dependency`` to this run's claim (a sweep's point job is no stage: the stages it builds
    are claimed as they start)."""
    claim(task)
    if not hasattr(dependency, "builds_itself"):
        claim(dependency)


def install() -> None:
    """Claim every stage the run meets (once per process; :func:`stagecache.install` calls it)."""
    from stagecache.stages.task import ArtifactTask

    hooks.connect(ArtifactTask)
    hooks.stage_cached.subscribe(claim)
    hooks.stage_needs.subscribe(claim_both)
    hooks.stage_started.subscribe(claim)
