"""One configuration's results as a small JSON-serialisable *point*: its parameters, flat metrics and
learning curves, drawn from the same artifacts the report uses."""

from __future__ import annotations

import math

from pipeline.report.references import CLASSIFIERS, MODELS
from pipeline.report.summary import metrics

FAMILIES = tuple(MODELS)  # every family a point may hold, in the order of tables and figures

# (key of a pipeline.report.summary.metrics row, name of the metric after the family), per family
_COMMON = (("epochs", "epochs"), ("seconds_per_epoch", "seconds_per_epoch"), ("parameters", "parameters"))
METRIC_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    **{
        family: (("val_accuracy", "val_accuracy"), ("test_accuracy", "test_accuracy"), *_COMMON)
        for family in CLASSIFIERS
    },
    "TrainMoonsMLP": (("test_accuracy", "test_accuracy"), *_COMMON),
    "TrainCharRNN": (
        ("val_loss", "val_loss (nats/char)"),
        ("test_loss", "test_loss (nats/char)"),
        ("bits_per_char", "bits_per_char"),
        ("perplexity", "perplexity"),
        ("kept_epoch", "kept_epoch"),
        *_COMMON,
    ),
}
# the per-epoch metric of each family's training history that a sweep's figures draw (besides the training loss):
# the one chosen on, on held-out data (the two-moons net has its own generated test set only)
CURVE_METRIC = {
    family: "val_loss" if family == "TrainCharRNN" else "test_accuracy" if family == "TrainMoonsMLP" else "val_accuracy"
    for family in FAMILIES
}


def metric_name(family: str, key: str) -> str:
    """The flat name of a metric: ``"TrainDeepMLP test_accuracy"``, ``"TrainCharRNN val_loss (nats/char)"``."""
    return f"{family} {dict(METRIC_KEYS[family]).get(key, key)}"


def metric_order(name: str) -> tuple:
    """Sort key putting metric names in table order: by family, then as ``METRIC_KEYS`` lists them;
    names it does not know go last, alphabetically."""
    family, _, rest = name.partition(" ")
    if family in METRIC_KEYS:
        names = [n for _, n in METRIC_KEYS[family]]
        if rest in names:
            return 0, FAMILIES.index(family), names.index(rest), name
    return 1, 0, 0, name


def family_rank(family: str) -> int:
    """Where a family goes in tables and figures (unknown families last)."""
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN: a metric that is not a number is absent


def curve(history: dict) -> dict[str, list]:
    """``{"epoch", <metrics>, "train_loss"}`` of a training history, as plain numbers: its validation metric
    (``val_loss`` or ``val_accuracy``) and its test accuracy, where it has them."""
    metrics = [m for m in ("val_loss", "val_accuracy", "test_accuracy") if m in history]
    return {
        "epoch": [int(e) for e in history["epoch"]],
        **{m: [float(v) for v in history[m]] for m in metrics},
        "train_loss": [float(v) for v in history["train_loss"]],
    }


def summarize_point(
    label: str,
    params: dict[str, str],
    trained: dict[str, dict] | None = None,
    evaluated: dict[str, dict] | None = None,
    moons: dict | None = None,
) -> dict:
    """The point of one configuration ``{"label", "params", "metrics", "curves"}``.

    ``trained`` and ``evaluated`` map task families (``TrainLogReg``, ``TrainMLP``, ``TrainDeepMLP``,
    ``TrainCharRNN``) to their Train* and Evaluate* artifacts, ``moons`` is the TrainMoonsMLP artifact;
    each may lack any family (a sweep that builds only some models). ``params`` (``{"Section.key": value}``)
    is kept as given, values as strings. ``metrics`` is ``{"<family> <metric>": float}`` (see ``METRIC_KEYS``),
    ``curves`` ``{family: {"epoch": [...], <test_accuracy or val_loss>: [...], "train_loss": [...]}}``.
    """
    trained, evaluated = trained or {}, evaluated or {}
    rows = metrics(trained, evaluated, moons)
    flat = {}
    for family in sorted(rows, key=family_rank):
        for key, name in METRIC_KEYS.get(family, ()):
            if key in rows[family] and (value := _number(rows[family][key])) is not None:
                flat[f"{family} {name}"] = value
    curves = {
        family: curve(artifact["history"])
        for family, artifact in [*trained.items(), *([("TrainMoonsMLP", moons)] if moons else [])]
    }
    return {
        "label": str(label),
        "params": {str(k): str(v) for k, v in params.items()},
        "metrics": flat,
        "curves": {f: curves[f] for f in sorted(curves, key=family_rank)},
    }
