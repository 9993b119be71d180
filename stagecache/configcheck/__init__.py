"""One check of the luigi configuration in effect, run before any work by both entry points.

``python -m tasks ...`` and ``luigi --module tasks ...`` check every section and key of
the luigi.cfg files luigi reads (its default paths that exist, then LUIGI_CONFIG_PATH)
against the parameters of the registered tasks and config classes, parse every value
as luigi would, and build the requested task's DAG (so each stage's range checks run).
Every problem is one line naming file and line, with a did-you-mean where one is close;
the process then exits with :data:`CONFIG_ERROR_EXIT`. A traceback is shown only at
log level DEBUG.

This package runs the checks for the entry points; :mod:`.files` checks the files and
:mod:`.errors` says what a mistake is. Its modules import nothing but the standard library
at the top: the package guards ``import luigi`` itself, which is where luigi parses the files.
"""

from __future__ import annotations

import configparser
import os
import sys
import traceback
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from stagecache.configcheck.cmdline import check_command_line
from stagecache.configcheck.errors import CONFIG_ERROR_EXIT, ConfigError, syntax_error
from stagecache.configcheck.files import check_files, config_files, locate, suggest
from stagecache.stages.project import current

__all__ = [
    "CONFIG_ERROR_EXIT",
    "ConfigError",
    "check_files",
    "check_luigi_command_line",
    "checked_task",
    "config_files",
    "entry_point",
    "exit_on_config_error",
    "locate",
]


def entry_point() -> str | None:
    """``"module"`` under ``python -m <module>``, ``"luigi"`` under ``luigi --module <module>`` (the declared
    project's DAG module), else None."""
    argv = sys.argv
    if argv and argv[0] == "-m":  # set so by Python while it imports the package of `python -m <module>`
        return "module"
    if argv and (os.path.basename(argv[0]) == "luigi" or argv[0].endswith(os.path.join("luigi", "__main__.py"))):
        modules = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--module"]
        modules += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--module=")]
        from stagecache.stages.project import declared

        project = declared()
        dag = project.module if project is not None else None
        if dag is not None and any(m == dag or m.startswith(dag + ".") for m in modules):
            return "luigi"
    return None


def _debug_requested(argv: list[str]) -> bool:
    """True when ``--log-level DEBUG`` is on the command line or ``[core] log_level = DEBUG``."""
    for i, arg in enumerate(argv):
        if arg.startswith("--log-level="):
            return arg.split("=", 1)[1].upper() == "DEBUG"
        if arg == "--log-level" and i + 1 < len(argv):
            return argv[i + 1].upper() == "DEBUG"
    try:
        from luigi.configuration import get_config

        return get_config().get("core", "log_level", "").strip().upper() == "DEBUG"
    except Exception:
        return False


@contextmanager
def exit_on_config_error(always: bool = False):
    """Turn a configuration error into its lines on stderr and :data:`CONFIG_ERROR_EXIT`.

    Only under an entry point (see :func:`entry_point`) unless ``always``; in library use
    the error propagates.
    """
    try:
        yield
    except (ConfigError, configparser.Error) as exc:
        if not always and entry_point() is None:
            raise
        error = exc if isinstance(exc, ConfigError) else syntax_error(exc)
        if _debug_requested(sys.argv[1:]):
            traceback.print_exc()
        sys.stderr.write("".join(f"configuration error: {problem}\n" for problem in error.problems))
        raise SystemExit(CONFIG_ERROR_EXIT) from None


def check_task_name(name: str) -> None:
    """Raise ConfigError with a did-you-mean when no task is registered under ``name``."""
    import luigi
    from luigi.task_register import Register

    reg = Register._get_reg()
    cls = reg.get(name)
    if isinstance(cls, type) and issubclass(cls, luigi.Task) and not issubclass(cls, luigi.Config):
        return
    from stagecache.stages.project import current

    ours = current().task_names()

    raise ConfigError([f"unknown task {name!r}{suggest(name, ours)} (tasks: {', '.join(ours)})"])


def check_config_classes() -> None:
    """Run ``validate()`` of every registered config class that has one (``[threads] per_process >= 0``, ...)."""
    import luigi
    from luigi.task_register import Register

    for cls in Register._get_reg().values():
        if isinstance(cls, type) and issubclass(cls, luigi.Config) and callable(getattr(cls, "validate", None)):
            config: Any = cls()  # validate() is the config class's own, not luigi.Config's
            config.validate()


def check_luigi_settings() -> None:
    """The ranges of luigi's own settings that would otherwise fail silently (``--workers 0`` runs nothing)."""
    from luigi.interface import core

    from stagecache.core import ranges

    ranges.at_least(core, 1, workers=core().workers)


def check_dag(make_root, task_args: Sequence[str] = ()) -> object:
    """Build the root task and, for a pipeline stage, its DAG (each stage checks its parameters' ranges).

    A root of luigi's own (``RangeDaily --of Daily``) is only built: its ``requires()``
    asks which days are complete, work that luigi's scheduling does anyway.
    """
    from luigi.parameter import MissingParameterException

    from stagecache.stages.task import ArtifactTask, walk

    try:
        check_config_classes()
        check_luigi_settings()
        root = make_root()
        if isinstance(root, ArtifactTask):
            walk(root)
    except ConfigError:
        raise  # already lines naming where (a sweep file's problems, say)
    except (MissingParameterException, ValueError, TypeError) as exc:  # TypeError: a value no check foresaw
        raise ConfigError([locate(str(exc).splitlines()[0], task_args)]) from exc
    return root


@contextmanager
def checked_task(task_args: list[str]):
    """The whole check for a luigi-style ``TASK [--param value ...]`` list; yields the root task.

    Raises ConfigError. The root task is built by luigi's own command-line parser, which
    stays in effect inside the block: ``--date 2026-12-01`` and ``--Train-epochs 3``
    work as on luigi's command line, for the DAG built here and for what the block does.
    """
    from luigi.cmdline_parser import CmdlineParser

    problems = check_files()
    known, _ = CmdlineParser._build_parser().parse_known_args(task_args)
    if known.root_task:
        try:
            check_task_name(known.root_task)
        except ConfigError as exc:
            problems += exc.problems
    problems += check_command_line(task_args)
    if problems:
        raise ConfigError(problems)
    if not known.root_task:
        raise ConfigError([f"no task given (e.g. {current().default_task})"])
    with CmdlineParser.global_instance(task_args, allow_override=True) as parser:
        yield check_dag(parser.get_task_obj, task_args)


def ignored_scheduler_flags(args: list[str]) -> list[str]:
    """One line for scheduler flags that ``[core] local_scheduler = true`` makes luigi ignore without a word (the
    run would go to a scheduler of its own, not to the luigid the flags name)."""
    import luigi.configuration

    named = [
        a.split("=")[0] for a in args if a.split("=")[0] in ("--scheduler-host", "--scheduler-port", "--scheduler-url")
    ]
    if not named or "--local-scheduler" in args:
        return []
    if not luigi.configuration.get_config().getboolean("core", "local_scheduler", False):
        return []
    return [
        f"{', '.join(dict.fromkeys(named))}: ignored while [core] local_scheduler = true is in effect (luigi.cfg): "
        "to use luigid, run with a configuration that sets it to false, e.g. LUIGI_CONFIG_PATH=deploy/retrain.cfg"
    ]


def check_luigi_command_line() -> None:
    """The check for ``luigi --module <module> ...``, run by the DAG module when luigi imports it."""
    if entry_point() != "luigi":
        return
    with exit_on_config_error():
        problems = ignored_scheduler_flags(sys.argv[1:])
        if problems:
            raise ConfigError(problems)
    with exit_on_config_error(), checked_task(sys.argv[1:]):
        pass
