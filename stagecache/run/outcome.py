"""The exit code of a run whose outcome luigi's ``[retcode]`` cannot tell, which knows only its tasks' states.

Under ``luigi --module <dag>``, as luigi ends the process, the task the command line asked for refines
luigi's code:

- luigi says 0, and the task's :meth:`exit_code` gives a code (a sweep whose points were all tried and some
  failed: :data:`SOME_POINTS_FAILED_EXIT`): that code;
- luigi says *not run* (``[retcode] not_run``: the central scheduler gave the remaining tasks to other
  workers, as when two worker processes share a sweep) and the task is complete by then: 0, the work
  asked for being done, with a line that says so;
- luigi says 0 under luigid although the task is not complete (luigi counts a task "being run by another
  worker" as fine: a search whose loop an assistant took over): *not run*, with a line that says so, since
  0 means the work asked for is done;
- luigi says *missing data* (``[retcode] missing_data``) under luigid for the very case above (luigi can file
  a task whose dynamic dependencies another worker took under "missing external dependencies"): *not run*
  when luigid shows the task, or a task it waits for, running on another worker; 0 when the task is complete
  by then; each with a line.

Any other code of luigi's stays as it is.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

#: Exit code of ``luigi --module <dag> <a sweep>`` when every point was tried and some failed (see docs/cli.md).
SOME_POINTS_FAILED_EXIT = 5

_installed = False


def _refined(code: int, argv: list[str]) -> int:
    """The exit code for luigi's ``code``, given the task named on luigi's command line ``argv``: the code it asks
    for where luigi says 0; 0 where luigi says *not run* (another worker of the central scheduler was given the
    tasks) and the task is complete now; otherwise luigi's."""
    from luigi.cmdline_parser import CmdlineParser
    from luigi.retcodes import retcode

    codes = retcode()
    not_run = codes.not_run
    missing = bool(code) and code == codes.missing_data and _remote_scheduler(argv)
    if code not in (0, not_run) and not missing:
        return code
    try:
        with CmdlineParser.global_instance(argv) as parser:
            task = parser.get_task_obj()
            if missing:
                return _refined_missing(task, code, not_run)
            if code == 0 and not_run and _remote_scheduler(argv) and not task.complete():
                return _still_being_built(task, code, not_run)
            if code == not_run and not_run:  # luigi's default not_run is 0: then a 0 says nothing more
                if not task.complete():
                    return code
                log.info(
                    "%s is built: the central scheduler gave its remaining stages to other workers (exit 0, not %d)",
                    task.get_task_family(),
                    not_run,
                )
            ask = getattr(task, "exit_code", None)
            return (ask() if callable(ask) else None) or 0
    except Exception:  # a refinement of luigi's code: never a traceback instead of it
        log.debug("luigi's exit code %s kept", code, exc_info=True)
        return code


def _refined_missing(task, code: int, not_run: int) -> int:
    """luigi's *missing data* under luigid: 0 if ``task`` is built by now, *not run* if luigid says another
    worker is running it, else luigi's ``code``."""
    if task.complete():
        log.info(
            "%s is built: the central scheduler gave it to another worker (exit 0, not %d)",
            task.get_task_family(),
            code,
        )
        return 0
    if not_run and _running_elsewhere(task):
        return _still_being_built(task, code, not_run)
    return code


def _still_being_built(task, code: int, not_run: int) -> int:
    """*not run* instead of luigi's ``code``, with the line that says why: another worker is building ``task``."""
    log.warning(
        "%s is not built yet: the central scheduler gave it to another worker, which is still at it (exit %d, not %d)",
        task.get_task_family(),
        not_run,
        code,
    )
    return not_run


def _running_elsewhere(task, tries: int = 6, pause: float = 0.5) -> bool:
    """Whether luigid says a worker is running ``task``, or a task it waits for (a search's jobs, which its loop
    yields to luigid as it goes): this process's workers have stopped by the time the command ends, so that worker
    is another one. Asked a few times over about ``tries * pause`` seconds, since a loop that has just yielded its
    next jobs waits for luigid to hand them out; False when luigid cannot tell."""
    import time

    from luigi.interface import core
    from luigi.rpc import RemoteScheduler

    env = core()
    url = env.scheduler_url or f"http://{env.scheduler_host}:{env.scheduler_port}/"
    scheduler = RemoteScheduler(url, connect_timeout=3)
    scheduler._rpc_retry_attempts, scheduler._rpc_retry_wait = 1, 0
    # luigid's RPC methods are made at import (no static attribute to type-check)
    dep_graph = scheduler.dep_graph  # type: ignore[attr-defined]
    for attempt in range(tries):
        if attempt:
            time.sleep(pause)
        try:
            graph = dep_graph(task.task_id, include_done=False)  # the task and what it waits for, with states
        except Exception:
            log.debug("luigid could not say whether %s is running", task.task_id, exc_info=True)
            return False
        if isinstance(graph, dict) and any(node.get("status") == "RUNNING" for node in graph.values()):
            return True
    return False


def _remote_scheduler(argv: list[str]) -> bool:
    """Whether the run used luigid (other workers may have been given its tasks)."""
    import luigi.configuration

    if "--local-scheduler" in argv:
        return False
    return not luigi.configuration.get_config().getboolean("core", "local_scheduler", False)


def install() -> None:
    """Under ``luigi --module <dag>`` (once per process): let the asked-for task refine luigi's exit code 0."""
    global _installed
    if _installed:
        return
    _installed = True
    luigi_exit = sys.exit
    argv = list(sys.argv[1:])

    def exit(code=None):  # luigi's run_with_retcodes ends the command with sys.exit(code)
        if code is None or isinstance(code, int):
            code = _refined(code or 0, argv)
        luigi_exit(code)

    sys.exit = exit
