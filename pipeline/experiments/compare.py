"""Tables over points (see :mod:`pipeline.experiments.points`): which parameters differ, every metric side
by side with the best value per metric marked, and the table as text, Markdown or CSV.

A table is a dict ``{"columns", "rows", "best", "kinds", "better", "sort_by", "descending"}``:
``rows`` are lists of cells aligned with ``columns`` (a string, a float, or None where a point has no
value), ``best`` has the same shape and is True where a cell holds the best value of its metric,
``kinds`` says per column what it holds and ``better`` per metric which way is better.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Mapping

from pipeline.experiments.points import metric_name, metric_order
from pipeline.report.references import names

HIGHER_BETTER = ("accuracy",)
LOWER_BETTER = ("loss", "nats", "bits", "perplexity")
# Only metrics on held-out validation data choose a best point: test figures are reported, never chosen on,
# and timings or sizes have no best.
SELECTION_WORDS = ("val_", "validation")
# metrics compared first when a sweep page picks what to sort by (the first of these whose values differ),
# as (model, metric) pairs
HEADLINE_METRICS = (
    ("deep_mlp", "val_accuracy"),
    ("mlp", "val_accuracy"),
    ("logreg", "val_accuracy"),
    ("char_rnn", "val_loss"),
)
MISSING = "—"  # how text and Markdown show a value a point does not have


def better(metric: str) -> str | None:
    """Which way a metric is better, for choosing: :func:`direction` for validation metrics (the name says
    *val_* or *validation*), None (no best value: test figures, timings, epochs, parameter counts) otherwise."""
    return direction(metric) if any(word in metric.lower() for word in SELECTION_WORDS) else None


def direction(metric: str) -> str | None:
    """Which way a metric improves, from its name alone (the one rule; also how a table sorts by it):
    ``"higher"`` when the name says *accuracy*; ``"lower"`` when it says *loss*, *nats*, *bits*, *perplexity*
    or *seconds*; None otherwise."""
    name = metric.lower()
    if "seconds" in name:
        return "lower"
    if any(word in name for word in HIGHER_BETTER):
        return "higher"
    if any(word in name for word in LOWER_BETTER):
        return "lower"
    return None


def differing_params(points: list[dict]) -> list[str]:
    """The parameter names whose values are not the same in every point (one that some points lack
    counts as differing), sorted."""
    names = {name for p in points for name in p["params"]}
    return sorted(n for n in names if len({p["params"].get(n) for p in points}) > 1)


def metric_names(points: list[dict], models: Mapping[str, str]) -> list[str]:
    """Every metric any point has, in table order (by model, headline metric first; ``models`` says which model
    each name the metrics start with is, ``{name: model key}``)."""
    return sorted({name for p in points for name in p["metrics"]}, key=functools.partial(metric_order, models=models))


def differing_metrics(points: list[dict], keep: str | None = None, *, models: Mapping[str, str]) -> list[str]:
    """The metrics whose values are not the same in every point (one that some points lack counts as differing), in
    table order, and ``keep`` (a metric to sort by) whatever its values; every metric when there is one point."""
    found = metric_names(points, models)
    if len(points) < 2:
        return found
    return [n for n in found if n == keep or len({p["metrics"].get(n) for p in points}) > 1]


def constant_metrics(points: list[dict], *, models: Mapping[str, str]) -> dict[str, float]:
    """``{metric: value}`` of the metrics every point has with the same value (none for a single point)."""
    if len(points) < 2:
        return {}
    differ = set(differing_metrics(points, models=models))
    return {n: points[0]["metrics"][n] for n in metric_names(points, models) if n not in differ}


def _sort_value(value):
    """Sort key of a cell: numbers (also numeric strings) by value before other strings; None never gets here."""
    if isinstance(value, str):
        try:
            return 0, float(value), value
        except ValueError:
            return 1, 0.0, value
    return 0, float(value), ""


def best_of(values: list, direction: str | None) -> list[bool]:
    """Which of ``values`` (floats or None) are the best for ``direction`` (``"higher"``, ``"lower"``, None).
    None marks nothing, and neither do values that are all the same: there is nothing to choose."""
    present = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    if direction is None or len(set(present)) < 2:
        return [False] * len(values)
    target = max(present) if direction == "higher" else min(present)
    return [v == target for v in values]


def _best_flags(rows: list[list], columns: list[int], direction: dict[int, str | None]) -> list[list[bool]]:
    best = [[False] * len(r) for r in rows]
    for c in columns:
        for i, flag in enumerate(best_of([r[c] for r in rows], direction[c])):
            best[i][c] = flag
    return best


def table(
    points: list[dict],
    sort_by: str | None = None,
    descending: bool | None = None,
    *,
    params: list[str] | None = None,
    metrics: list[str] | None = None,
    models: Mapping[str, str],
) -> dict:
    """Columns ``label``, each parameter of ``params`` (default: :func:`differing_params`) and each metric
    of ``metrics`` (default: every metric of any point, in the order of :func:`metric_names`); one row per
    point.

    ``sort_by`` names a column (a metric, a parameter or ``label``; None keeps the points' order);
    ``descending`` None sorts best first for a metric (see :func:`better`) and ascending otherwise.
    Points without a value for ``sort_by`` go last either way. Every best value of a metric is marked
    (ties mark each; see :func:`best_of`); metrics for which :func:`better` has no direction mark none.
    """
    params = differing_params(points) if params is None else list(params)
    metrics = metric_names(points, models) if metrics is None else list(metrics)
    columns = ["label", *params, *metrics]
    if sort_by is not None and sort_by not in columns:
        raise ValueError(f"cannot sort by {sort_by!r}: the columns are {', '.join(columns)}")
    if descending is None:
        descending = sort_by in metrics and direction(sort_by) == "higher"
    kinds = ["label", *["param"] * len(params), *["metric"] * len(metrics)]
    rows = [
        [p["label"], *[p["params"].get(n) for n in params], *[p["metrics"].get(n) for n in metrics]] for p in points
    ]
    if sort_by is not None:
        c = columns.index(sort_by)
        present = sorted((r for r in rows if r[c] is not None), key=lambda r: _sort_value(r[c]), reverse=descending)
        rows = present + [r for r in rows if r[c] is None]
    metric_columns = list(range(1 + len(params), len(columns)))
    best = _best_flags(rows, metric_columns, {c: better(columns[c]) for c in metric_columns})
    return {
        "columns": columns,
        "kinds": kinds,
        "rows": rows,
        "best": best,
        "better": {m: better(m) for m in metrics},
        "sort_by": sort_by,
        "descending": bool(descending),
    }


def default_sort(points: list[dict], *, models: Mapping[str, str]) -> str | None:
    """What a sweep page sorts by when told nothing: the first of ``HEADLINE_METRICS`` whose values differ
    between the points that have it, else the first of them any point has, else the first metric with a direction."""
    found = metric_names(points, models)
    name = names(models)
    headline = [metric_name(name[model], model, key) for model, key in HEADLINE_METRICS if model in name]
    ranked = [m for m in (*headline, *found) if m in found and better(m)]
    for m in ranked:
        if len({p["metrics"][m] for p in points if m in p["metrics"]}) > 1:
            return m
    return ranked[0] if ranked else None


def diff_configurations(points: list[dict], *, all_metrics: bool = True, models: Mapping[str, str]) -> dict:
    """Two or more points side by side, like ``params diff`` and ``metrics diff`` together: one row per
    differing parameter, then one per metric (only those whose values differ unless ``all_metrics``), one
    column per point; with exactly two points a ``change`` column holds second minus first for metrics.
    The same dict shape as :func:`table` (``kinds`` names the rows' kinds here: ``param`` or ``metric``)."""
    if len(points) < 2:
        raise ValueError(f"a diff needs two or more configurations, got {len(points)}")
    labels = [p["label"] for p in points]
    columns = ["name", *labels, *(["change"] if len(points) == 2 else [])]
    rows, kinds, best = [], [], []
    for name in differing_params(points):
        values = [p["params"].get(name) for p in points]
        rows.append([name, *values, *([None] if len(points) == 2 else [])])
        kinds.append("param")
        best.append([False] * len(columns))
    for name in metric_names(points, models):
        values = [p["metrics"].get(name) for p in points]
        if not all_metrics and len(set(values)) == 1:
            continue
        row = [name, *values]
        if len(points) == 2:
            row.append(values[1] - values[0] if None not in values else None)
        rows.append(row)
        kinds.append("metric")
        flags = [False] * len(columns)
        flags[1 : 1 + len(values)] = best_of(values, better(name))
        best.append(flags)
    return {
        "columns": columns,
        "kinds": kinds,
        "rows": rows,
        "best": best,
        "better": {r[0]: better(r[0]) for r, k in zip(rows, kinds) if k == "metric"},
        "sort_by": None,
        "descending": False,
    }


def format_number(value: float) -> str:
    """A metric as text and Markdown show it: whole numbers without a fraction, others to 6 significant
    digits."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _exact(value: float) -> str:
    """A metric as CSV writes it: the shortest text that reads back as the same float."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _cells(t: dict, number, missing: str) -> list[list[str]]:
    return [[missing if v is None else number(v) if isinstance(v, float) else str(v) for v in row] for row in t["rows"]]


def _legend(t: dict) -> str:
    return "best per validation metric (what a configuration is chosen on): the highest accuracy, the lowest loss" + (
        f"; sorted by {t['sort_by']}, {'descending' if t['descending'] else 'ascending'}" if t["sort_by"] else ""
    )


def format_text(t: dict) -> str:
    """The table in aligned plain-text columns; a ``*`` follows each best value."""
    cells = [
        [c + ("*" if b else "") for c, b in zip(row, flags)]
        for row, flags in zip(_cells(t, format_number, MISSING), t["best"])
    ]
    widths = [max([len(str(h)), *(len(r[i]) for r in cells)]) for i, h in enumerate(t["columns"])]
    numeric = [any(isinstance(r[i], float) for r in t["rows"]) for i in range(len(t["columns"]))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return (
        "\n".join([line(t["columns"]), line(["-" * w for w in widths]), *map(line, cells), "", f"* {_legend(t)}"])
        + "\n"
    )


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def format_markdown(t: dict) -> str:
    """The table in Markdown (GitHub's pipe tables); each best value in bold."""
    cells = [
        [f"**{_md(c)}**" if b else _md(c) for c, b in zip(row, flags)]
        for row, flags in zip(_cells(t, format_number, MISSING), t["best"])
    ]
    numeric = [any(isinstance(r[i], float) for r in t["rows"]) for i in range(len(t["columns"]))]
    lines = [
        "| " + " | ".join(_md(str(c)) for c in t["columns"]) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
        *("| " + " | ".join(r) + " |" for r in cells),
    ]
    return "\n".join(lines) + f"\n\nBold: {_legend(t)}.\n"


def format_csv(t: dict) -> str:
    """The table as CSV: a header row, then the rows; numbers exact (they read back as the same floats),
    a missing value empty, no marks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(t["columns"])
    writer.writerows(_cells(t, _exact, ""))
    return out.getvalue()
