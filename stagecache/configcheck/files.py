"""Check the luigi.cfg files in effect: every section and key against the tasks' parameters, every
value parsed as luigi parses it, and where (file and line) each key was set."""

from __future__ import annotations

import configparser
import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from luigi.parameter import Parameter

# Sections luigi (or its contrib modules) reads without a Config class this process has
# imported: their keys cannot be verified here, so they are accepted as they are.
UNVERIFIED_LUIGI_SECTIONS = frozenset(
    {
        "logging",
        "resources",
        "task_history",
        "cors",
        "batch-notifier",
        "batch_notifier",
        "hadoop",
        "hdfs",
        "webhdfs",
        "hive",
        "spark",
        "scalding",
        "kubernetes",
        "datadog",
        "prometheus",
        "elasticsearch",
        "mysql",
        "postgres",
        "redshift",
        "presto",
        "bigquery",
        "ecs",
        "salesforce",
        "OpenPai",
        "pig",
        "sendgrid",
        "batch_email",
        "DEFAULT",
    }
)
# Keys luigi reads from [core] directly, not through a parameter of its ``core`` class.
LUIGI_DIRECT_KEYS = {
    "core": {
        "autoload_range",
        "logging_conf_file",
        "no_configure_logging",
        "rpc_connect_timeout",
        "rpc_log_retries",
        "rpc_retry_attempts",
        "rpc_retry_wait",
    },
}
_RANGE_MESSAGE = re.compile(r"^\[(?P<section>[\w.]+)\] (?P<key>\w+)")
_MISSING_MESSAGE = re.compile(r"^(?P<section>[\w.]+)\[.*requires the '(?P<key>\w+)' parameter")


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


def config_files() -> list[str]:
    """The luigi configuration files in effect, in the order luigi reads them (later ones win)."""
    from luigi.configuration import LuigiConfigParser

    return [p for p in LuigiConfigParser._config_paths if os.path.isfile(p)]


def read_text(path: str, what: str = "file") -> str:
    """The UTF-8 text of ``path``; a :class:`ConfigError` naming the file (and the line of a byte that is not
    UTF-8) when it cannot be read."""
    from stagecache.configcheck.errors import ConfigError

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the {what}: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{path}:{line}: the {what} is not UTF-8 text (byte {data[exc.start]:#04x}); save it as UTF-8"]
        ) from None


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
    import luigi.batch_notifier
    import luigi.execution_summary
    import luigi.interface
    import luigi.notifications
    import luigi.retcodes
    import luigi.scheduler
    import luigi.worker
    from luigi.task_register import Register

    known: dict[str, tuple[type | None, set[str]]] = {}
    extra: dict[str, set[str]] = {k: set(v) for k, v in LUIGI_DIRECT_KEYS.items()}
    for name, cls in Register._get_reg().items():
        if not (isinstance(cls, type) and issubclass(cls, luigi.Task)):
            continue
        # a stage's `point` is set by sweeps (stagecache.core.points), never in a configuration file
        params = {p for p, _ in cls.get_params() if p != "point"} | set(getattr(cls, "ignore_unconsumed", ()))
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


def suggest(word: str, candidates) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ""."""
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
                    problems.append(f"{entry.where}: unknown section [{entry.section}]{suggest(entry.section, public)}")
                continue
            cls, keys = known[entry.section]
            if entry.key is None:
                continue
            key = entry.key.replace("-", "_")
            if key not in keys:
                hint = suggest(key, keys) or (f"; [{entry.section}] takes: {', '.join(sorted(keys))}" if keys else "")
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
    wrong = invalid(param, raw)
    return None if wrong is None else f"[{section}] {key} = {raw!r} is not valid: {wrong}"


def invalid(param, raw: str) -> str | None:
    """``expected ... (why)`` when luigi cannot take ``raw`` for ``param``, else None."""
    import luigi

    try:
        param.normalize(param.parse(raw))
    except Exception as exc:  # whatever a parameter raises, the value is wrong
        detail = (
            ""
            if isinstance(param, luigi.ChoiceParameter)
            else (f" ({str(exc).splitlines()[0]})" if str(exc) else f" ({type(exc).__name__})")
        )
        return f"expected {allowed(param)}{detail}"
    return None


def locate(message: str, task_args: Sequence[str] = (), paths: list[str] | None = None) -> str:
    """Prefix a stage's ``[Section] key ...`` message with where the key was set.

    That is the command-line flag when ``task_args`` (luigi-style, root task first) set it
    (``--Task-epochs: [Task] epochs must be > 0, got 0``), else the file and
    line of the configuration that did.
    """
    paths = config_files() if paths is None else paths
    match = _RANGE_MESSAGE.match(message) or _MISSING_MESSAGE.match(message)
    if not match:
        return message
    section, key = match.group("section"), match.group("key")
    if task_args:
        flag = flag_for(section, key, list(task_args))
        if flag is not None:
            return f"{flag}: {message}"
    where = None
    for path in paths:
        for entry in scan(path):
            if entry.section == section and (entry.key is None and where is None or entry.key == key):
                where = entry
    if _MISSING_MESSAGE.match(message):
        message = (
            f"[{section}] {key} is not set and has no default: set it under [{section}] "
            f"or pass --{section}-{key.replace('_', '-')} VALUE"
        )
        if where is None:
            return f"{message} (no [{section}] section in {', '.join(paths) or 'any luigi.cfg'})"
    return f"{where.where}: {message}" if where else message


def flag_values(task_args: list[str]) -> list[tuple[str, str, str, Parameter, object]]:
    """``(flag, section, key, param, raw value)`` for each parameter set in the luigi-style ``task_args``."""
    from luigi.cmdline_parser import CmdlineParser
    from luigi.task_register import Register

    known, _ = CmdlineParser._build_parser().parse_known_args(task_args)
    root = known.root_task
    args, _ = CmdlineParser._build_parser(root_task=root).parse_known_args(task_args)
    found = []
    for task_name, without_section, param_name, param in Register.get_all_params():
        global_flag = "--" + (param_name if without_section else f"{task_name}_{param_name}").replace("_", "-")
        raw = getattr(args, param._parser_global_dest(param_name, task_name), None)
        if raw is not None:
            found.append((global_flag, task_name, param_name, param, raw))
        if task_name == root:
            raw = getattr(args, param_name, None)
            if raw is not None:
                found.append(("--" + param_name.replace("_", "-"), task_name, param_name, param, raw))
    return found


def flag_for(section: str, key: str, task_args: list[str]) -> str | None:
    """The flag of ``task_args`` that set ``[section] key``, if one did."""
    try:
        values = flag_values(list(task_args))
    except SystemExit:  # argparse gave up on the arguments: the caller reports them otherwise
        return None
    for flag, task_name, param_name, _param, _raw in values:
        if task_name == section and param_name == key:
            return flag
    return None
