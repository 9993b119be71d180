"""One configuration's results as a small JSON-serialisable *point*: its parameters, flat metrics and
learning curves, drawn from the same artifacts the report uses."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from pipeline.report.references import CLASSIFIERS, MODELS, names, rank
from pipeline.report.summary import metrics

# (key of a pipeline.report.summary.metrics row, name of the metric after the model's name), per model
_COMMON = (("epochs", "epochs"), ("seconds_per_epoch", "seconds_per_epoch"), ("parameters", "parameters"))
METRIC_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    **{
        model: (("val_accuracy", "val_accuracy"), ("test_accuracy", "test_accuracy"), *_COMMON) for model in CLASSIFIERS
    },
    "moons": (("test_accuracy", "test_accuracy"), *_COMMON),
    "char_rnn": (
        ("val_loss", "val_loss (nats/char)"),
        ("test_loss", "test_loss (nats/char)"),
        ("bits_per_char", "bits_per_char"),
        ("perplexity", "perplexity"),
        ("kept_epoch", "kept_epoch"),
        *_COMMON,
    ),
}
# the per-epoch metric of each model's training history that a sweep's figures draw (besides the training loss):
# the one chosen on, on held-out data (the two-moons net has its own generated test set only)
CURVE_METRIC = {
    model: "val_loss" if model == "char_rnn" else "test_accuracy" if model == "moons" else "val_accuracy"
    for model in MODELS
}


def metric_name(name: str, model: str, key: str) -> str:
    """The flat name of the metric ``key`` of the model ``model`` named ``name``: ``"<name> test_accuracy"``,
    ``"<name> val_loss (nats/char)"``."""
    return f"{name} {dict(METRIC_KEYS[model]).get(key, key)}"


def metric_order(metric: str, models: Mapping[str, str]) -> tuple:
    """Sort key putting metric names in table order: by model (``models``: ``{name: model key}``), then as
    ``METRIC_KEYS`` lists them; names it does not know go last, alphabetically."""
    name, _, rest = metric.partition(" ")
    if models.get(name) in METRIC_KEYS:
        listed = [n for _, n in METRIC_KEYS[models[name]]]
        if rest in listed:
            return 0, rank(models, name), listed.index(rest), metric
    return 1, 0, 0, metric


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
    *,
    models: Mapping[str, str],
) -> dict:
    """The point of one configuration ``{"label", "params", "metrics", "curves"}``.

    ``trained`` and ``evaluated`` hold the training and evaluation artifacts of the MNIST classifiers and the
    char-RNN by name, ``moons`` is the two-moons net's training artifact, and ``models`` says which model each
    name is (``{name: model key}``); each may lack any model (a sweep that builds only some models). ``params``
    (``{"Section.key": value}``) is kept as given, values as strings. ``metrics`` is ``{"<name> <metric>":
    float}`` (see ``METRIC_KEYS``), ``curves`` ``{name: {"epoch": [...], <test_accuracy or val_loss>: [...],
    "train_loss": [...]}}``.
    """
    trained, evaluated = trained or {}, evaluated or {}
    rows = metrics(trained, evaluated, moons, models=models)
    order = functools.partial(rank, models)
    flat = {}
    for name in sorted(rows, key=order):
        for key, metric in METRIC_KEYS[models[name]]:
            if key in rows[name] and (value := _number(rows[name][key])) is not None:
                flat[f"{name} {metric}"] = value
    curves = {
        name: curve(artifact["history"])
        for name, artifact in [*trained.items(), *([(names(models)["moons"], moons)] if moons else [])]
    }
    return {
        "label": str(label),
        "params": {str(k): str(v) for k, v in params.items()},
        "metrics": flat,
        "curves": {n: curves[n] for n in sorted(curves, key=order)},
    }
