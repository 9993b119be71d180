"""``stagecache.install()``: everything the engine does around a run, switched on in one call, in order.

The DAG module declares its project (:func:`stagecache.stages.project.declare`), defines or imports its stages,
then calls :func:`install` once; a second call changes nothing. Importing the engine switches nothing on.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_installed: set[str] = set()  # the DAG modules of the projects installed in this process
_process_wide = False


def install() -> None:
    """Switch on, for the declared project: its console lines, the run's progress (plan, ``stage k/N``, the
    closing table), claims (``artifacts gc`` leaves what a live run uses alone), sweep point lines, preloading,
    epochs reported to luigi's scheduler, and, under ``luigi --module <its DAG module>``, SIGTERM/SIGINT
    handling (exit 143/130), tolerance of a luigid that stops answering (exit 45) and the exit code a task asks
    for where luigi says 0 (a sweep with failed points, 5); then check luigi's
    command line (one line per mistake, exit 3). Idempotent."""
    global _process_wide
    from stagecache import configcheck
    from stagecache.run import console
    from stagecache.stages.project import current

    project = current()  # a clear error when no DAG module declared one
    if project.module in _installed:
        return
    _installed.add(project.module)
    console.log_to_console()  # the engine's and the project's lines (epochs, downloads, artifacts written)
    if not _process_wide:
        _process_wide = True
        from stagecache.experiments import sweep_progress
        from stagecache.run import claims, preload, progress, scheduler_progress

        progress.install()
        claims.install()
        sweep_progress.install()
        preload.install()
        scheduler_progress.install()
        if configcheck.entry_point() == "luigi":  # luigi.build callers keep their own signals and scheduler
            from stagecache.core import signals
            from stagecache.run import outcome as run_outcome
            from stagecache.run import scheduler_loss as schedulerloss

            signals.install()
            schedulerloss.install()
            run_outcome.install()
    configcheck.check_luigi_command_line()
