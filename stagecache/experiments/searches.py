"""Files that define a search: the space, objective, fidelity, budget and sampler of an adaptive search, checked before any work.

A search file (INI, like luigi.cfg and sweep files)::

    [search]
    name = first
    # the stage whose artifact holds the objective, and the objective: a metric it declares in
    # ``selection_metrics`` (held-out data: a search never chooses on test figures)
    stage = Evaluate
    objective = val_accuracy
    # maximize or minimize (default: from the name, accuracy up and loss down)
    direction = maximize
    # tpe (default), random or grid (grid: every dimension a choice)
    sampler = tpe
    seed = 0
    # the budget: how many configurations, how many epochs trained in all (either or both)
    trials = 12
    budget_epochs = 60
    # jobs planned at once (run side by side with --workers N); results depend on it, never on N
    batch = 4
    # continue (default): a promotion continues the trial's training; restart trains it from scratch
    # (the same weights at a higher price: for measuring what continuing saves)
    promotion = continue

    [fidelity]
    # a parameter the stage's lineage continues along (stagecache.stages.continuation): promotions continue
    parameter = Train.epochs
    min = 1
    max = 9
    reduction = 3

    [space]
    Train.lr = loguniform(0.0001, 0.01)
    Train.dropout = uniform(0.2, 0.6)
    Train.batch_size = int(64, 256)
    Train.hidden = choice([256, 256], [625, 625])

:func:`read_search` reports every mistake as one line naming file and line, with a did-you-mean
(:class:`stagecache.configcheck.ConfigError`, exit 3); an impossible budget is one of them.
"""

from __future__ import annotations

import configparser
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from stagecache.configcheck.errors import ConfigError
from stagecache.configcheck.files import allowed, scan, suggest
from stagecache.core import points
from stagecache.experiments.sweeps import NAME, _stage_classes

SEARCH_KEYS = (
    "name",
    "stage",
    "objective",
    "direction",
    "sampler",
    "seed",
    "trials",
    "budget_epochs",
    "batch",
    "promotion",
)
PROMOTIONS = ("continue", "restart")
FIDELITY_KEYS = ("parameter", "min", "max", "reduction")
SAMPLERS = ("tpe", "random", "grid")
DIRECTIONS = ("maximize", "minimize")
KINDS = ("loguniform", "uniform", "int", "choice")
EXPRESSION = re.compile(r"^(\w+)\s*\((.*)\)\s*$", re.S)
DEFAULT_BATCH = 4


@dataclass(frozen=True)
class Dimension:
    """One parameter of the space: ``kind`` is loguniform, uniform, int or choice; ``values`` its bounds or
    its choices (as luigi.cfg would write them)."""

    family: str
    key: str
    kind: str
    values: tuple

    @property
    def name(self) -> str:
        return f"{self.family}.{self.key}"

    def text(self, value: Any) -> str:
        """A sampled value as luigi.cfg writes it."""
        if self.kind == "int":
            return str(int(value))
        if self.kind == "choice":
            return str(value)  # choices are kept as their luigi.cfg text
        return repr(float(value))


@dataclass
class SearchDefinition:
    """A checked search file."""

    path: str
    name: str
    stage: str
    objective: str
    direction: str
    sampler: str
    seed: int
    trials: int | None
    budget_epochs: int | None
    batch: int
    promotion: str
    fidelity_family: str
    fidelity_key: str
    rungs: list[int]
    reduction: float
    space: list[Dimension] = field(default_factory=list)

    @property
    def max_trials(self) -> int | None:
        """The trial budget; with the grid sampler at most the grid's size (every combination once)."""
        if self.sampler != "grid":
            return self.trials
        size = math.prod(len(d.values) for d in self.space)
        return size if self.trials is None else min(self.trials, size)

    def study(self) -> dict:
        """What identifies the study (its results and proposals): all but the budget and the batch size, which
        may grow or change while the study goes on."""
        return {
            "stage": self.stage,
            "objective": self.objective,
            "direction": self.direction,
            "sampler": self.sampler,
            "seed": self.seed,
            "fidelity": [self.fidelity_family, self.fidelity_key, self.rungs, self.reduction],
            "space": [[d.family, d.key, d.kind, list(d.values)] for d in self.space],
        }

    def definition(self) -> dict:
        """What a search's artifact fingerprint covers: the study, its name and its budget."""
        return {**self.study(), "name": self.name, "trials": self.trials, "budget_epochs": self.budget_epochs}

    def corner(self) -> dict[str, str]:
        """The first corner of the space: each dimension's first value, as luigi.cfg writes it."""
        return {d.name: d.text(d.values[0]) for d in self.space}

    def point(self, values: dict[str, str], rung: int) -> str:
        """The point of a trial (``{"Family.key": text}``) at ``rung``."""
        laid: dict[str, dict[str, str]] = {}
        for name, text in values.items():
            family, _, key = name.partition(".")
            laid.setdefault(family, {})[key] = text
        laid.setdefault(self.fidelity_family, {})[self.fidelity_key] = str(self.rungs[rung])
        return points.encode(laid)


def rungs(low: int, high: int, reduction: float) -> list[int]:
    """The fidelity of each rung: ``low``, ``low·η``, ``low·η²``, … while below ``high``, then ``high``."""
    values = [low]
    while values[-1] < high:
        values.append(min(high, max(values[-1] + 1, int(round(values[-1] * reduction)))))
    return values


def _number(text: str, integer: bool) -> float | int:
    value = json.loads(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError(text)
    return value


def read_search(path: str) -> SearchDefinition:
    """The search defined in ``path``, checked; :class:`ConfigError` with every problem otherwise."""
    try:
        parser = configparser.ConfigParser(interpolation=None, strict=True)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
        lines = {(e.section, e.key): e.line for e in scan(path)}
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: cannot read the search file: not UTF-8 text ({exc.reason})"]) from None
    except (OSError, configparser.Error) as exc:
        raise ConfigError([f"{path}: cannot read the search file: {str(exc).splitlines()[0]}"]) from None
    problems: list[str] = []

    def where(section: str, key: str | None = None) -> str:
        return f"{path}:{lines.get((section, key), lines.get((section, None), 0))}"

    for section in parser.sections():
        if section not in ("search", "fidelity", "space"):
            problems.append(
                f"{where(section)}: no section [{section}] in a search file"
                f"{suggest(section, ['search', 'fidelity', 'space'])} (sections: search, fidelity, space)"
            )
    for section, keys in (("search", SEARCH_KEYS), ("fidelity", FIDELITY_KEYS)):
        if not parser.has_section(section):
            raise ConfigError([*problems, f"{path}: no [{section}] section (see docs/search.md)"])
        for key in parser[section]:
            if key not in keys:
                problems.append(
                    f"{where(section, key)}: [{section}] has no key {key!r}{suggest(key, keys)} (keys: {', '.join(keys)})"
                )
    search, fidelity = parser["search"], parser["fidelity"]
    stages = _stage_classes()

    def integer(section: str, key: str, default: int | None, low: int) -> int | None:
        text = parser[section].get(key)
        if text is None:
            return default
        try:
            value = _number(text.strip(), integer=True)
        except ValueError:
            problems.append(f"{where(section, key)}: [{section}] {key} = {text.strip()!r} is not a whole number")
            return default
        if value < low:
            problems.append(f"{where(section, key)}: [{section}] {key} = {value} must be at least {low}")
            return default
        return int(value)

    name = search.get("name", "").strip()
    if not NAME.match(name):
        problems.append(f"{where('search', 'name')}: [search] name {name!r} must be letters, digits, '.', '_' or '-'")
    stage = search.get("stage", "").strip()
    stage_cls = stages.get(stage)
    if stage_cls is None:
        problems.append(f"{where('search', 'stage')}: [search] stage {stage!r} is not a stage{suggest(stage, stages)}")
    objective = search.get("objective", "").strip()
    if stage_cls is not None:
        metrics = tuple(getattr(stage_cls, "selection_metrics", ()))
        if objective not in metrics:
            problems.append(
                f"{where('search', 'objective')}: [search] objective {objective!r} is not a metric {stage} offers to "
                f"choose on{suggest(objective, metrics)} ({', '.join(metrics) or 'it offers none'}: held-out "
                "figures only; test figures are for reporting)"
            )
    direction = search.get("direction", "").strip()
    if not direction:
        direction = "maximize" if "accuracy" in objective else "minimize" if "loss" in objective else ""
        if not direction:
            problems.append(f"{where('search', 'objective')}: [search] direction: say maximize or minimize")
    elif direction not in DIRECTIONS:
        problems.append(
            f"{where('search', 'direction')}: [search] direction {direction!r} must be maximize or minimize"
            f"{suggest(direction, DIRECTIONS)}"
        )
    sampler = search.get("sampler", "tpe").strip()
    if sampler not in SAMPLERS:
        problems.append(
            f"{where('search', 'sampler')}: [search] sampler {sampler!r} must be tpe, random or grid"
            f"{suggest(sampler, SAMPLERS)}"
        )
    seed = integer("search", "seed", 0, 0)
    trials = integer("search", "trials", None, 1)
    budget_epochs = integer("search", "budget_epochs", None, 1)
    batch = integer("search", "batch", DEFAULT_BATCH, 1)
    promotion = search.get("promotion", "continue").strip()
    if promotion not in PROMOTIONS:
        problems.append(
            f"{where('search', 'promotion')}: [search] promotion {promotion!r} must be continue or restart"
            f"{suggest(promotion, PROMOTIONS)}"
        )
    if "trials" not in search and "budget_epochs" not in search:
        problems.append(f"{where('search')}: [search] sets no budget: trials = N, budget_epochs = N, or both")

    # the fidelity
    fidelity_family, _, fidelity_key = fidelity.get("parameter", "").strip().partition(".")
    fidelity_cls = stages.get(fidelity_family)
    if fidelity_cls is None:
        problems.append(
            f"{where('fidelity', 'parameter')}: [fidelity] parameter {fidelity.get('parameter', '')!r} must be "
            f"Stage.key of a stage{suggest(fidelity_family, stages)}"
        )
    elif fidelity_cls.continues_along != fidelity_key:
        problems.append(
            f"{where('fidelity', 'parameter')}: [fidelity] parameter {fidelity_family}.{fidelity_key}: "
            f"{fidelity_family} continues a build only along "
            f"{fidelity_cls.continues_along or 'nothing'}, so a promotion could not continue a shorter build"
        )
    low = integer("fidelity", "min", None, 1)
    high = integer("fidelity", "max", None, 1)
    for key, value in (("min", low), ("max", high)):
        if value is None and key not in fidelity:
            problems.append(f"{where('fidelity')}: [fidelity] needs {key} = N")
    reduction = 3.0
    try:
        reduction = float(_number(fidelity.get("reduction", "3").strip(), integer=False))
        if not reduction > 1 or not math.isfinite(reduction):
            raise ValueError
    except ValueError:
        problems.append(f"{where('fidelity', 'reduction')}: [fidelity] reduction must be a number above 1")
        reduction = 3.0
    if low is not None and high is not None and high < low:
        problems.append(f"{where('fidelity', 'max')}: [fidelity] max {high} is below min {low}")
        high = None
    ladder = rungs(low, high, reduction) if low is not None and high is not None else []

    # the space
    space: list[Dimension] = []
    if not parser.has_section("space") or not parser["space"]:
        problems.append(f"{where('space')}: the search has no [space] (one line per parameter: Stage.key = kind(...))")
    for key, raw in parser["space"].items() if parser.has_section("space") else []:
        dimension = _dimension(key, raw.strip(), stages, f"{where('space', key)}", problems)
        if dimension is not None and dimension.name == f"{fidelity_family}.{fidelity_key}":
            problems.append(f"{where('space', key)}: {key} is the fidelity: the search sets it per rung")
        elif dimension is not None:
            space.append(dimension)
    if sampler == "grid":
        for d in space:
            if d.kind != "choice":
                problems.append(f"{where('space', d.name)}: sampler grid needs choice(...) for every parameter")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    assert stage_cls is not None and low is not None and high is not None and seed is not None and batch is not None
    if budget_epochs is not None and budget_epochs < ladder[0]:
        raise ConfigError(
            [
                f"{where('search', 'budget_epochs')}: [search] budget_epochs = {budget_epochs} cannot train one trial "
                f"to the first rung ({ladder[0]} {fidelity_key}): an impossible budget"
            ]
        )
    definition = SearchDefinition(
        path,
        name,
        stage,
        objective,
        direction,
        sampler,
        seed,
        trials,
        budget_epochs,
        batch,
        promotion,
        fidelity_family,
        fidelity_key,
        ladder,
        reduction,
        space,
    )
    _check_reach(definition, lines, stages)
    return definition


def _dimension(key: str, raw: str, stages: dict, where: str, problems: list[str]) -> Dimension | None:
    """The dimension one ``[space]`` line defines, or None (and the problem noted)."""
    family, dot, name = key.partition(".")
    cls = stages.get(family)
    if not dot or cls is None:
        problems.append(f"{where}: {key!r} must be Stage.key of a stage{suggest(family, stages)}")
        return None
    params = dict(cls.get_params())
    params.pop("point", None)
    if name not in params:
        problems.append(f"{where}: {family} has no parameter {name!r}{suggest(name, params)}")
        return None
    param = params[name]
    if not param.significant:
        problems.append(f"{where}: {key} is cosmetic: searching it changes no result")
        return None
    match = EXPRESSION.match(raw)
    if not match or match.group(1) not in KINDS:
        kind = match.group(1) if match else raw
        problems.append(
            f"{where}: {key} = {raw!r}: expected loguniform(low, high), uniform(low, high), int(low, high) or "
            f"choice(a, b, ...){suggest(kind, KINDS)}"
        )
        return None
    kind = match.group(1)
    try:
        values = json.loads(f"[{match.group(2)}]")
    except ValueError:
        problems.append(f'{where}: {key} = {raw!r}: the arguments are not JSON values (quote strings: "adam")')
        return None
    if kind == "choice":
        if not values:
            problems.append(f"{where}: {key} = choice() lists no value")
            return None
        texts = tuple(v if isinstance(v, str) else json.dumps(v) for v in values)
        if len(set(texts)) != len(texts):
            problems.append(f"{where}: {key} lists a choice twice")
            return None
        values = list(texts)
    else:
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) != 2 or not numeric or (kind == "int" and not all(isinstance(v, int) for v in values)):
            problems.append(
                f"{where}: {key} = {raw!r}: {kind}(low, high) takes two {'whole ' if kind == 'int' else ''}numbers"
            )
            return None
        if not values[0] < values[1] and not (kind == "int" and values[0] == values[1]):
            problems.append(f"{where}: {key} = {raw!r}: low must be below high")
            return None
        if kind == "loguniform" and values[0] <= 0:
            problems.append(f"{where}: {key} = {raw!r}: loguniform needs low > 0")
            return None
    dimension = Dimension(family, name, kind, tuple(values))
    for value in values:
        try:
            param.parse(dimension.text(value))
        except Exception:
            problems.append(f"{where}: {key}: {value!r} is not valid: expected {allowed(param)}")
            return None
    return dimension


def _check_reach(definition: SearchDefinition, lines: dict, stages: dict) -> None:
    """Build the stage's DAG at the space's corners, so that every stage checks the ranges of its values and
    every searched parameter (and the fidelity) is part of the stage's DAG."""
    from stagecache.stages.task import in_point, walk

    stage = stages[definition.stage]
    problems: list[str] = []
    corners = [definition.corner()]
    corners.append({d.name: d.text(d.values[-1]) for d in definition.space})
    for d in definition.space:
        if d.kind == "choice":
            corners += [{**corners[0], d.name: d.text(v)} for v in d.values[1:-1]]
    for values in corners:
        for rung in (0, len(definition.rungs) - 1):
            try:
                root = in_point(stage, definition.point(values, rung))
                families = {t.get_task_family() for t in walk(root)}
            except (ValueError, TypeError) as exc:
                message = str(exc).splitlines()[0]
                match = re.match(r"^\[(\w+)\] (\w+)", message)
                line = lines.get(("space", f"{match.group(1)}.{match.group(2)}")) if match else None
                line = line or lines.get(("fidelity", "max"))
                problems.append(f"{definition.path}:{line or 0}: {message}")
                continue
            for family in sorted(({d.family for d in definition.space} | {definition.fidelity_family}) - families):
                problems.append(
                    f"{definition.path}:{lines.get(('space', None), 0)}: {family} is not part of "
                    f"{definition.stage}'s DAG: searching it changes nothing"
                )
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
