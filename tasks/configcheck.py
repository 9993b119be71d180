"""One check of the luigi configuration in effect, run before any work by both entry points.

``python -m tasks ...`` and ``luigi --module tasks ...`` check every section and key of
the luigi.cfg files luigi reads (its default paths that exist, then LUIGI_CONFIG_PATH)
against the parameters of the registered tasks and config classes, parse every value
as luigi would, and build the requested task's DAG (so each stage's range checks run).
Every problem is one line naming file and line, with a did-you-mean where one is close;
the process then exits with :data:`CONFIG_ERROR_EXIT`. A traceback is shown only at
log level DEBUG.

This module imports nothing but the standard library at the top: it guards ``import luigi``
itself, which is where luigi parses the files.
"""
from __future__ import annotations

import ast
import configparser
import difflib
import os
import re
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass

CONFIG_ERROR_EXIT = 3
"""Exit code of both entry points for a configuration or command-line mistake (distinct from [retcode])."""

# Sections luigi (or its contrib modules) reads without a Config class this process has
# imported: their keys cannot be verified here, so they are accepted as they are.
UNVERIFIED_LUIGI_SECTIONS = frozenset({
    "logging", "resources", "task_history", "cors", "batch-notifier", "batch_notifier", "hadoop", "hdfs",
    "webhdfs", "hive", "spark", "scalding", "kubernetes", "datadog", "prometheus", "elasticsearch",
    "mysql", "postgres", "redshift", "presto", "bigquery", "ecs", "salesforce", "OpenPai", "pig",
    "sendgrid", "batch_email", "DEFAULT",
})
# Keys luigi reads from [core] directly, not through a parameter of its ``core`` class.
LUIGI_DIRECT_KEYS = {
    "core": {"autoload_range", "logging_conf_file", "no_configure_logging", "rpc_connect_timeout",
             "rpc_log_retries", "rpc_retry_attempts", "rpc_retry_wait"},
}
_RANGE_MESSAGE = re.compile(r"^\[(?P<section>[\w.]+)\] (?P<key>\w+)")
_MISSING_MESSAGE = re.compile(r"^(?P<section>[\w.]+)\[.*requires the '(?P<key>\w+)' parameter")


class ConfigError(ValueError):
    """One or more configuration problems, each a line naming where and what."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Entry:
    """Where one ``[section]`` header or ``key = value`` line sits."""

    path: str
    line: int
    section: str
    key: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def entry_point() -> str | None:
    """``"tasks"`` under ``python -m tasks``, ``"luigi"`` under ``luigi --module tasks``, else None."""
    argv = sys.argv
    if argv and argv[0] == "-m":  # set so by Python while it imports the package of `python -m tasks`
        return "tasks"
    if argv and (os.path.basename(argv[0]) == "luigi" or argv[0].endswith(os.path.join("luigi", "__main__.py"))):
        modules = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--module"]
        modules += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--module=")]
        if any(m == "tasks" or m.startswith("tasks.") for m in modules):
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
    except Exception:  # noqa: BLE001 -- an unreadable configuration is what is being reported
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


def _unrepr(line: str) -> str:
    """configparser keeps the repr() of a line it could not read."""
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return line
    return value if isinstance(value, str) else line


def _section_at(path: str, lineno: int) -> str:
    """``"[Section] "`` for the section a line of ``path`` belongs to ("" when unknown)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()[:lineno]
    except OSError:
        return ""
    headers = [m.group(1) for m in (re.match(r"\s*\[(.+)\]", line) for line in lines) if m]
    return f"[{headers[-1]}] " if headers else ""


def syntax_error(exc: configparser.Error) -> ConfigError:
    """A ConfigError for what :mod:`configparser` could not read."""
    source = getattr(exc, "source", None) or getattr(exc, "filename", None) or "luigi.cfg"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return ConfigError([f"{source}:{exc.lineno}: {exc.line.strip()!r} comes before any [section] header"])
    if isinstance(exc, configparser.ParsingError):
        return ConfigError([f"{source}:{lineno}: {_section_at(source, lineno)}cannot read {_unrepr(line).strip()!r}: "
                            f"expected 'key = value' (is the '=' missing?), a [section] header, or a comment "
                            f"starting with #" for lineno, line in exc.errors])
    if isinstance(exc, configparser.DuplicateOptionError):
        return ConfigError([f"{source}:{exc.lineno}: [{exc.section}] {exc.option} is set a second time in this file"])
    if isinstance(exc, configparser.DuplicateSectionError):
        return ConfigError([f"{source}:{exc.lineno}: [{exc.section}] appears a second time in this file"])
    return ConfigError([f"{source}: {exc}"])


def config_files() -> list[str]:
    """The luigi configuration files in effect, in the order luigi reads them (later ones win)."""
    from luigi.configuration import LuigiConfigParser

    return [p for p in LuigiConfigParser._config_paths if os.path.isfile(p)]


def scan(path: str) -> list[Entry]:
    """Section headers and keys of one file with their line numbers, as configparser reads them."""
    entries: list[Entry] = []
    section, in_value = None, False
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, 1):
            stripped = raw.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if raw[0].isspace() and in_value:
                continue  # continuation of a multi-line value
            header = re.match(r"\[(?P<header>.+)\]", stripped)
            if header:
                section, in_value = header.group("header"), False
                entries.append(Entry(path, number, section))
                continue
            key = re.match(r"(?P<key>.*?)\s*[=:]", stripped)
            if key and section is not None:
                entries.append(Entry(path, number, section, key.group("key").strip()))
                in_value = True
    return entries


def _known_sections() -> dict[str, tuple[type | None, set[str]]]:
    """Every section this process can verify: ``{name: (class or None, accepted keys)}``."""
    import luigi
    import luigi.batch_notifier  # noqa: F401 -- luigi's own config classes, registered on import
    import luigi.execution_summary  # noqa: F401
    import luigi.interface  # noqa: F401
    import luigi.notifications  # noqa: F401
    import luigi.retcodes  # noqa: F401
    import luigi.scheduler  # noqa: F401
    import luigi.worker  # noqa: F401
    from luigi.task_register import Register

    known: dict[str, tuple[type | None, set[str]]] = {}
    extra: dict[str, set[str]] = {k: set(v) for k, v in LUIGI_DIRECT_KEYS.items()}
    for name, cls in Register._get_reg().items():
        if not (isinstance(cls, type) and issubclass(cls, luigi.Task)):
            continue
        params = {p for p, _ in cls.get_params()} | set(getattr(cls, "ignore_unconsumed", ()))
        known[name] = (cls, params)
        for _, param in cls.get_params():
            if param._config_path:
                extra.setdefault(param._config_path["section"], set()).add(param._config_path["name"].replace("-", "_"))
    for section, keys in extra.items():
        cls, params = known.get(section, (None, set()))
        known[section] = (cls, params | keys)
    return known


def allowed(param) -> str:
    """What a parameter accepts, in words."""
    import luigi

    if isinstance(param, luigi.ChoiceParameter):
        return "one of " + ", ".join(sorted(str(c) for c in param._choices))
    if isinstance(param, luigi.BoolParameter):
        return "true or false"
    if isinstance(param, luigi.IntParameter):
        return "an integer"
    if isinstance(param, luigi.FloatParameter):
        return "a number"
    if isinstance(param, luigi.DateParameter):
        return "a date YYYY-MM-DD"
    if isinstance(param, luigi.DictParameter):
        return 'a JSON object such as {"key": "value"}'
    if isinstance(param, (luigi.ListParameter, luigi.TupleParameter)):
        return "a JSON list such as [1, 2]"
    return "a value of " + type(param).__name__


def _suggest(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_files(paths: list[str] | None = None) -> list[str]:
    """Problems with the sections, keys and values of the configuration files (empty when none)."""
    from luigi.configuration import get_config

    if os.environ.get("LUIGI_CONFIG_PARSER", "cfg") != "cfg":
        return []  # a TOML configuration: luigi parses and checks it its own way
    paths = config_files() if paths is None else paths
    known = _known_sections()
    public = {name for name, (cls, _) in known.items() if not name.startswith("_")} | UNVERIFIED_LUIGI_SECTIONS
    config = get_config()
    problems: list[str] = []
    last: dict[tuple[str, str], Entry] = {}
    for path in paths:
        for entry in scan(path):
            if entry.section in UNVERIFIED_LUIGI_SECTIONS and entry.section not in known:
                continue
            if entry.section not in known:
                if entry.key is None:
                    problems.append(f"{entry.where}: unknown section [{entry.section}]{_suggest(entry.section, public)}")
                continue
            cls, keys = known[entry.section]
            if entry.key is None:
                continue
            key = entry.key.replace("-", "_")
            if key not in keys:
                hint = _suggest(key, keys) or (f"; [{entry.section}] takes: {', '.join(sorted(keys))}" if keys else "")
                problems.append(f"{entry.where}: [{entry.section}] unknown key {entry.key!r}{hint}")
            elif cls is not None:
                last[(entry.section, entry.key)] = entry
    for (section, key), entry in last.items():
        problem = _check_value(known[section][0], section, key, config)
        if problem:
            problems.append(f"{entry.where}: {problem}")
    return problems


def _check_value(cls, section: str, key: str, config) -> str | None:
    params = dict(cls.get_params())
    param = params.get(key.replace("-", "_"))
    if param is None:  # a key read directly by luigi, or a deprecated config_path name
        return None
    try:
        raw = config.get(section, key)
    except configparser.Error as exc:
        return f"[{section}] {key}: {exc}"
    try:
        param.normalize(param.parse(raw))
    except Exception as exc:  # noqa: BLE001 -- any parse failure is reported the same way
        import luigi

        detail = "" if isinstance(param, luigi.ChoiceParameter) else (
            f" ({str(exc).splitlines()[0]})" if str(exc) else f" ({type(exc).__name__})")
        return f"[{section}] {key} = {raw!r} is not valid: expected {allowed(param)}{detail}"
    return None


def locate(message: str, task_args: list[str] = (), paths: list[str] | None = None) -> str:
    """Prefix a stage's ``[Section] key ...`` message with where the key was set.

    That is the command line when ``task_args`` (luigi-style, root task first) set it,
    else the file and line of the configuration that did.
    """
    paths = config_files() if paths is None else paths
    match = _RANGE_MESSAGE.match(message) or _MISSING_MESSAGE.match(message)
    if not match:
        return message
    section, key = match.group("section"), match.group("key")
    flags = {f"--{section}-{key}".replace("_", "-")}
    if list(task_args[:1]) == [section]:  # the root task's own flags
        flags.add(f"--{key}".replace("_", "-"))
    if any(arg.split("=", 1)[0] in flags for arg in task_args):
        return f"command line: {message}"
    where = None
    for path in paths:
        for entry in scan(path):
            if entry.section == section and (entry.key is None and where is None or entry.key == key):
                where = entry
    if _MISSING_MESSAGE.match(message):
        message = (f"[{section}] {key} is not set and has no default: set it under [{section}] "
                   f"or pass --{section}-{key.replace('_', '-')} VALUE")
        if where is None:
            return f"{message} (no [{section}] section in {', '.join(paths) or 'any luigi.cfg'})"
    return f"{where.where}: {message}" if where else message


def check_task_name(name: str) -> None:
    """Raise ConfigError with a did-you-mean when no task is registered under ``name``."""
    import luigi
    from luigi.task_register import Register

    reg = Register._get_reg()
    cls = reg.get(name)
    if isinstance(cls, type) and issubclass(cls, luigi.Task) and not issubclass(cls, luigi.Config):
        return
    from tasks import __all__ as ours

    raise ConfigError([f"unknown task {name!r}{_suggest(name, ours)} (tasks: {', '.join(ours)})"])


def check_dag(make_root, task_args: list[str] = ()) -> object:
    """Build the root task and, for a pipeline stage, its DAG (each stage checks its parameters' ranges).

    A root of luigi's own (``RangeDaily --of Retrain``) is only built: its ``requires()``
    asks which days are complete, work that luigi's scheduling does anyway.
    """
    from luigi.parameter import MissingParameterException

    from tasks.base import ArtifactTask
    from tasks.status import walk

    try:
        root = make_root()
        if isinstance(root, ArtifactTask):
            walk(root)
    except (MissingParameterException, ValueError) as exc:
        raise ConfigError([locate(str(exc).splitlines()[0], task_args)]) from exc
    return root


@contextmanager
def checked_task(task_args: list[str]):
    """The whole check for a luigi-style ``TASK [--param value ...]`` list; yields the root task.

    Raises ConfigError. The root task is built by luigi's own command-line parser, which
    stays in effect inside the block: ``--date 2026-12-01`` and ``--TrainDeepMLP-epochs 3``
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
    if problems:
        raise ConfigError(problems)
    if not known.root_task:
        raise ConfigError(["no task given (e.g. FullReport)"])
    with CmdlineParser.global_instance(task_args, allow_override=True) as parser:
        yield check_dag(parser.get_task_obj, task_args)


def check_luigi_command_line() -> None:
    """The check for ``luigi --module tasks ...``, run when luigi imports the package."""
    if entry_point() != "luigi":
        return
    with exit_on_config_error(), checked_task(sys.argv[1:]):
        pass
