"""Sweeps: many configurations of one DAG in one luigi run, every stage built once across them.

A sweep file (INI, like luigi.cfg) names the sweep and the values to lay over the configuration in
effect, as a grid or as a list of points::

    [sweep]
    name = train-epochs
    # the stage every point builds (default: the project's default task), or several: Evaluate, Report
    stage = Report
    # grid (every combination of the lists below) or points ([point NAME] sections)
    mode = grid
    # grid only: lists that go together instead of being crossed (same length; groups apart by ';')
    tie = Train.lr, Tune.lr

    [Train]
    epochs = [10, 20, 50]
    lr = [0.1, 0.2]

    [Tune]
    lr = [0.05, 0.1]

    # with mode = points instead:
    # [point short]
    # Train.epochs = 10

Each point is the real DAG under a ``point`` (:mod:`stagecache.core.points`): a stage no swept value reaches
is one task shared by every point. :func:`read_sweep` checks the whole file before any work: an
unknown stage or key, a cosmetic key, a value that does not parse or is out of range is one line
naming file and line, with a did-you-mean (:class:`stagecache.configcheck.ConfigError`, exit 3).
"""

from __future__ import annotations

import configparser
import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stagecache.configcheck.errors import ConfigError
from stagecache.configcheck.files import allowed, read_text, scan, suggest
from stagecache.core import points

if TYPE_CHECKING:
    from stagecache.stages.task import ArtifactTask

log = logging.getLogger(__name__)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MODES = ("grid", "points")


@dataclass
class SweepPoint:
    """One configuration of a sweep: its label and the values laid over the configuration."""

    label: str
    values: dict[str, dict[str, str]]

    @property
    def point(self) -> str:
        return points.encode(self.values)


@dataclass
class SweepDefinition:
    """A checked sweep definition."""

    path: str
    name: str
    stage: str  # one stage's family, or several joined by ", " (see :attr:`stages`)
    points: list[SweepPoint] = field(default_factory=list)

    @property
    def stages(self) -> list[str]:
        """The families of the stages every point builds."""
        return [name.strip() for name in self.stage.split(",")]

    def definition(self) -> dict:
        """What the sweep's own fingerprint covers: its name, stage(s) and every point's label and values."""
        return {"name": self.name, "stage": self.stage, "points": [[p.label, p.values] for p in self.points]}


def _stage_classes() -> dict[str, type[ArtifactTask]]:
    import luigi
    from luigi.task_register import Register

    from stagecache.stages.task import ArtifactTask

    return {
        name: cls
        for name, cls in Register._get_reg().items()
        if isinstance(cls, type) and issubclass(cls, ArtifactTask) and not issubclass(cls, luigi.Config)
    }


def _value_text(value) -> str:
    """A value of a grid list as luigi.cfg would write it (strings as they are, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def read_sweep(path: str, default_stage: str) -> SweepDefinition:
    """The sweep defined in ``path``, checked; :class:`ConfigError` with every problem otherwise."""
    text = read_text(path, "sweep file")  # a missing file or one that is not UTF-8: one line naming it
    try:
        parser = configparser.ConfigParser(interpolation=None, strict=True)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(text, source=path)
        lines = {(e.section, e.key): e.line for e in scan(path)}
    except (OSError, configparser.Error) as exc:
        raise ConfigError([f"{path}: cannot read the sweep file: {str(exc).splitlines()[0]}"]) from None

    problems: list[str] = []

    def where(section: str, key: str | None = None) -> str:
        return f"{path}:{lines.get((section, key), lines.get((section, None), 0))}"

    if not parser.has_section("sweep"):
        raise ConfigError([f"{path}: no [sweep] section (it names the sweep: name = ...)"])
    sweep = parser["sweep"]
    keys = ["name", "stage", "mode", "tie"]
    for key in sweep:
        if key not in keys:
            problems.append(
                f"{where('sweep', key)}: [sweep] has no key {key!r}{suggest(key, keys)} (keys: {', '.join(keys)})"
            )
    name = sweep.get("name", "").strip()
    if not NAME.match(name):
        problems.append(f"{where('sweep', 'name')}: [sweep] name {name!r} must be letters, digits, '.', '_' or '-'")
    stages = _stage_classes()
    targets = [t.strip() for t in sweep.get("stage", default_stage).split(",")]
    for target in targets:
        if target not in stages:
            problems.append(
                f"{where('sweep', 'stage')}: [sweep] stage {target!r} is not a stage{suggest(target, stages)}"
            )
    if len(set(targets)) != len(targets) or not all(targets):
        problems.append(f"{where('sweep', 'stage')}: [sweep] stage lists a stage twice, or an empty one")
    stage = ", ".join(targets)
    mode = sweep.get("mode", "grid").strip()
    if mode not in MODES:
        problems.append(f"{where('sweep', 'mode')}: [sweep] mode {mode!r} must be grid or points{suggest(mode, MODES)}")
        mode = "grid"

    def checked(section: str, key: str, family: str, param_name: str, text: str, line_key: str) -> str | None:
        """``text`` if ``family.param_name`` can take it, else None (and the problem noted)."""
        cls = stages.get(family)
        if cls is None:
            problems.append(f"{where(section, line_key)}: no stage {family!r}{suggest(family, stages)}")
            return None
        params = dict(cls.get_params())
        params.pop("point", None)
        if param_name not in params:
            problems.append(
                f"{where(section, line_key)}: {family} has no parameter {param_name!r}{suggest(param_name, params)}"
            )
            return None
        if not params[param_name].significant:
            problems.append(
                f"{where(section, line_key)}: {family}.{param_name} is cosmetic: sweeping it changes no result"
            )
            return None
        try:
            params[param_name].parse(text)
        except Exception:
            problems.append(
                f"{where(section, line_key)}: {family}.{param_name} = {text!r} is not valid: expected "
                f"{allowed(params[param_name])}"
            )
            return None
        return text

    ties = [[k.strip() for k in group.split(",") if k.strip()] for group in sweep.get("tie", "").split(";")]
    ties = [group for group in ties if group]
    if ties and mode != "grid":
        problems.append(f"{where('sweep', 'tie')}: [sweep] tie belongs to mode = grid")
    found: list[SweepPoint] = []
    if mode == "grid":
        axes: list[list[tuple[str, str, str]]] = []
        for section in parser.sections():
            if section == "sweep":
                continue
            if section.startswith("point "):
                problems.append(f"{where(section)}: [{section}] belongs to mode = points")
                continue
            if section not in stages:
                problems.append(f"{where(section)}: no stage {section!r}{suggest(section, stages)}")
                continue
            for key, raw in parser[section].items():
                try:
                    listed = json.loads(raw)
                except ValueError:
                    listed = [raw]  # one bare value: fixed for every point
                listed = listed if isinstance(listed, list) else [listed]
                if not listed:
                    problems.append(f"{where(section, key)}: [{section}] {key} lists no value")
                    continue
                texts = [checked(section, key, section, key, _value_text(v), key) for v in listed]
                if all(t is not None for t in texts):
                    axes.append([(section, key, t) for t in texts if t is not None])
        varied_keys = [axis[0][1] for axis in axes if len(axis) > 1]
        ambiguous = {k for k in varied_keys if varied_keys.count(k) > 1}  # one key swept under two stages
        tied = _tie(axes, ties, problems, lambda: where("sweep", "tie"))
        for combination in itertools.product(*tied) if tied else []:
            values: dict[str, dict[str, str]] = {}
            for section, key, text in (value for group in combination for value in group):
                values.setdefault(section, {})[key] = text
            varied = [value for group, axis in zip(combination, tied) if len(axis) > 1 for value in group]
            label = (
                ", ".join(f"{f'{s}.' if k in ambiguous else ''}{k}={t}" for s, k, t in varied) or "the configuration"
            )
            found.append(SweepPoint(label, values))
    else:
        for section in parser.sections():
            if section == "sweep":
                continue
            if not section.startswith("point ") or not section[6:].strip():
                problems.append(f"{where(section)}: [{section}]: with mode = points every section is [point NAME]")
                continue
            values = {}
            for key, raw in parser[section].items():
                family, dot, param_name = key.partition(".")
                if not dot:
                    problems.append(f"{where(section, key)}: {key!r} must be Stage.key, e.g. Train.epochs")
                    continue
                valid_text = checked(section, key, family, param_name, raw.strip(), key)
                if valid_text is not None:
                    values.setdefault(family, {})[param_name] = valid_text
            found.append(SweepPoint(section[6:].strip(), values))
    if not found and not problems:
        problems.append(
            f"{path}: the sweep has no point (list values under [Stage] sections, or [point NAME] sections)"
        )
    labels = [p.label for p in found]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        problems.append(f"{path}: two points are both {label!r}")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))  # a wrong key of a grid: once, not once per value
    result = SweepDefinition(path, name, stage, found)
    problems = [
        f"{path}{f':{line}' if line else ''}: point {p.label!r}: {problem}"
        for p in found
        for line, problem in _range_problems(result, p, lines)
    ]
    if problems:
        raise ConfigError(problems)
    return result


def _tie(axes: list[list[tuple[str, str, str]]], ties: list[list[str]], problems: list[str], where) -> list[list]:
    """The grid's axes with each tied group of axes zipped into one (each value of an axis: a tuple of
    ``(section, key, text)``); a tie naming no axis of the grid, an axis twice, or lists of unequal length is
    a problem."""
    by_name = {f"{axis[0][0]}.{axis[0][1]}": axis for axis in axes}
    tied_names: set[str] = set()
    groups = []
    for group in ties:
        unknown = [name for name in group if name not in by_name]
        for name in unknown:
            problems.append(
                f"{where()}: [sweep] tie names {name!r}, which the grid does not list{suggest(name, by_name)}"
            )
        if unknown:
            continue
        if len(group) < 2 or tied_names & set(group) or len(set(group)) != len(group):
            problems.append(f"{where()}: [sweep] tie {', '.join(group)}: a tie joins two or more keys, each once")
            continue
        lengths = {name: len(by_name[name]) for name in group}
        if len(set(lengths.values())) != 1:
            counts = ", ".join(f"{name} {n}" for name, n in lengths.items())
            problems.append(f"{where()}: [sweep] tie {', '.join(group)}: the lists differ in length ({counts})")
            continue
        tied_names.update(group)
        groups.append([tuple(values) for values in zip(*(by_name[name] for name in group))])
    loose = [[(value,) for value in axis] for axis in axes if f"{axis[0][0]}.{axis[0][1]}" not in tied_names]
    return loose + groups


def _range_problems(sweep: SweepDefinition, point: SweepPoint, lines: dict) -> list[tuple[int | None, str]]:
    """Build the point's DAG, so that every stage checks the ranges of its values (and nothing swept is unused)."""
    from stagecache.stages.task import in_point, walk

    try:
        families = set()
        for target in sweep.stages:
            families |= {t.get_task_family() for t in walk(in_point(_stage_classes()[target], point.point))}
    except (ValueError, TypeError) as exc:
        message = str(exc).splitlines()[0]
        match = re.match(r"^\[(\w+)\] (\w+)", message)
        if match:
            line = lines.get((match.group(1), match.group(2))) or lines.get(
                (f"point {point.label}", f"{match.group(1)}.{match.group(2)}")
            )
            return [(line, message)]
        return [(None, message)]
    unused = sorted(set(point.values) - families)
    dag = f"{sweep.stage}'s DAG" if len(sweep.stages) == 1 else f"the DAG of {sweep.stage}"
    return [
        (lines.get((family, None)), f"{family} is not part of {dag}: sweeping it changes nothing") for family in unused
    ]
