"""An exit code for a run luigi counts as done but whose result says otherwise: a sweep whose points were all
tried and some of them failed.

luigi's ``[retcode]`` knows only its tasks' states, and the sweep's task succeeded: it recorded every point,
failed ones marked. So under ``luigi --module <dag>``, when luigi ends the process with 0, the task the
command line asked for is asked for :meth:`exit_code` (``None``: nothing to add), and a code it gives
replaces the 0. Any other exit code of luigi's stays as it is.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

#: Exit code of ``luigi --module <dag> <a sweep>`` when every point was tried and some failed (see docs/cli.md).
SOME_POINTS_FAILED_EXIT = 5

_installed = False


def _asked_code(argv: list[str]) -> int | None:
    """The exit code the task named on luigi's command line ``argv`` asks for, or None."""
    from luigi.cmdline_parser import CmdlineParser

    try:
        with CmdlineParser.global_instance(argv) as parser:
            task = parser.get_task_obj()
            ask = getattr(task, "exit_code", None)
            return ask() if callable(ask) else None
    except Exception:  # an outcome code is a refinement of luigi's 0: never a traceback instead of it
        log.debug("no outcome exit code", exc_info=True)
        return None


def install() -> None:
    """Under ``luigi --module <dag>`` (once per process): let the asked-for task refine luigi's exit code 0."""
    global _installed
    if _installed:
        return
    _installed = True
    luigi_exit = sys.exit
    argv = list(sys.argv[1:])

    def exit(code=None):  # luigi's run_with_retcodes ends the command with sys.exit(code)
        if code in (0, None):
            asked = _asked_code(argv)
            if asked:
                code = asked
        luigi_exit(code)

    sys.exit = exit
