"""Import what the stages will need before luigi forks its worker processes.

With ``--workers N`` luigi runs each stage in a process forked from the scheduling process.
Whatever the scheduling process has imported, a forked stage has too; what it has not, every
stage imports again. Luigi schedules the whole DAG before it forks the first stage, and
``DEPENDENCY_DISCOVERED`` (:data:`stagecache.core.hooks.stage_needs`) fires then only for a stage that will run,
so a subscriber imports
:attr:`stagecache.stages.project.Project.preload` exactly when there is work to do: a run that finds
everything cached imports nothing more.
"""

from __future__ import annotations

import importlib
import logging
import time

from stagecache.core import hooks
from stagecache.stages.project import current
from stagecache.stages.task import ArtifactTask

log = logging.getLogger(__name__)

_done = False


def preload(*_event_args) -> None:
    """Import the project's ``preload`` modules, once per process."""
    global _done
    if _done:
        return
    _done = True
    started = time.perf_counter()
    for module in current().preload:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # an optimisation only: the stage that needs it reports the error itself
            log.debug("not preloaded: %s (%s)", module, exc)
    if current().preload:
        log.debug("preloaded %s in %.2f s", ", ".join(current().preload), time.perf_counter() - started)


def install() -> None:
    """Preload on the first stage luigi finds it has to run (:func:`stagecache.install` calls this)."""
    hooks.connect(ArtifactTask)
    hooks.stage_needs.subscribe(preload)
