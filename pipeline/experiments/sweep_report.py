"""The page of a sweep: one table of the differing parameters and every metric (best per metric marked),
and the learning curves of every configuration overlaid, one figure per model. Offline: the page
and its PNG figures, in the main report's style."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.experiments.compare import (
    constant_metrics,
    default_sort,
    differing_metrics,
    differing_params,
    format_number,
    table,
)
from pipeline.experiments.points import CURVE_METRIC
from pipeline.report.plots import to_png
from pipeline.report.references import MODELS, rank
from pipeline.report.summary import STYLE, Raw, html_table, short

ARROW = {"higher": " ↑", "lower": " ↓", None: ""}
SWEEP_STYLE = (
    STYLE + "table.compare td{white-space:nowrap}table.compare th{min-width:5em}"
    "strong.best{color:#0a5d00}"
    "table.shared td{white-space:nowrap}table.shared td:nth-child(2){white-space:normal;min-width:12em;"
    "overflow-wrap:anywhere}"
)
CURVE_TITLE = {"test_accuracy": "Test accuracy", "val_accuracy": "Validation accuracy", "val_loss": "Validation loss"}
CURVE_YLABEL = {
    "test_accuracy": "accuracy (fraction correct)",
    "val_accuracy": "accuracy (fraction correct)",
    "val_loss": "cross-entropy (nats per character)",
}


def colors(n: int) -> list:
    """``n`` distinguishable line colours: tab10 up to ten, then evenly spaced along viridis."""
    if n <= 10:
        return [colormaps["tab10"](k) for k in range(n)]
    return [colormaps["viridis"](x) for x in np.linspace(0, 0.95, n)]


def overlaid_curves(curves: dict[str, dict], metric: str, title: str) -> Figure:
    """Training loss and the per-epoch ``metric`` of one model (``CURVE_METRIC``), one line per configuration
    (``{label: curve}``, in legend order), under ``title``."""
    fig = Figure(figsize=(6.4, 8.5))  # stacked: the text stays readable on a phone-width page
    ax_loss, ax_metric = fig.subplots(2, 1)
    for (label, c), color in zip(curves.items(), colors(len(curves))):
        ax_loss.plot(c["epoch"], c["train_loss"], color=color, label=label)
        if metric in c:
            ax_metric.plot(c["epoch"], c[metric], "-o", color=color, markersize=3, label=label)
    ax_loss.set(title="Training loss", xlabel="epoch", ylabel="mean training loss (nats)")
    if all(v > 0 for c in curves.values() for v in c["train_loss"]):
        ax_loss.set_yscale("log")
    ax_metric.set(title=CURVE_TITLE.get(metric, metric), xlabel="epoch", ylabel=CURVE_YLABEL.get(metric, metric))
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    fig.suptitle(title)
    handles, labels = ax_loss.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(2, max(1, len(labels))),
        fontsize=8,
        frameon=False,
    )  # below both axes: never over the curves, however many configurations
    return fig


def same_curves_once(curves: dict[str, dict]) -> dict[str, dict]:
    """``{label: curve}`` with configurations whose curves are equal drawn once, under their labels joined (or
    "all N configurations"): a model no swept value reaches is one line, not one per configuration."""
    groups: dict[str, list[str]] = {}
    for label, curve in curves.items():
        groups.setdefault(repr(sorted(curve.items())), []).append(label)
    if len(groups) == 1 and len(curves) > 1:
        return {f"all {len(curves)} configurations": next(iter(curves.values()))}
    return {", ".join(labels): curves[labels[0]] for labels in groups.values()}


def _value_cell(value, best: bool) -> Raw | str:
    if value is None:
        return "—"
    text = format_number(value) if isinstance(value, float) else str(value)
    if isinstance(value, float):
        title = html.escape(repr(value), quote=True)  # the exact number on hover
        inner = (
            f"<strong class='best' title='{title}'>{text} ★</strong>"
            if best
            else f"<span title='{title}'>{text}</span>"
        )
        return Raw(inner)
    return short(text)


def _label_cell(label: str, links: dict[str, str], reports: Mapping[str, str] | None = None) -> Raw:
    text = html.escape(label)
    if label in links:
        text = f"<a href='{html.escape(links[label], quote=True)}'>{text}</a>"
    if reports and label in reports:
        text += f" · <a href='{html.escape(reports[label], quote=True)}'>report</a>"
    return Raw(text)


def configuration_in_effect(points: list[dict]) -> dict[str, str]:
    """``{"Stage.param": value}``: the significant parameters of the points' stages that every point that records
    its stages has with the same value (what the configuration in effect gave them all), sorted."""
    staged = [p["stages"] for p in points if p.get("stages")]
    if not staged:
        return {}
    values: list[dict[str, str]] = [
        {f"{stage['task']}.{key}": str(value) for stage in stages for key, value in stage.get("params", {}).items()}
        for stages in staged
    ]
    first = values[0]
    return dict(sorted((k, v) for k, v in first.items() if all(other.get(k) == v for other in values[1:])))


def shared_params(points: list[dict]) -> dict[str, str]:
    """The parameters every point has with the same value."""
    differ = set(differing_params(points))
    return dict(sorted((k, v) for k, v in points[0]["params"].items() if k not in differ)) if points else {}


def render_sweep_html(
    title: str,
    t: dict,
    points: list[dict],
    links: dict[str, str],
    figures: list[tuple[str, str]],
    generated_at: str = "",
    *,
    models: Mapping[str, str],
) -> str:
    """The page ``<title> — comparison`` (``title`` names the sweep): comparison table ``t`` (from
    :func:`pipeline.experiments.compare.table`), the parameters all configurations share, and the figures
    (file name, caption)."""
    title = f"{title} — comparison"
    kinds = t["kinds"]
    header = [c + ARROW[t["better"].get(c)] if k == "metric" else c for c, k in zip(t["columns"], kinds)]
    reports = {p["label"]: p["report"] for p in points if p.get("report")}
    rows = [
        [_label_cell(c, links, reports) if k == "label" else _value_cell(c, b) for c, k, b in zip(row, kinds, flags)]
        for row, flags in zip(t["rows"], t["best"])
    ]
    order = (
        f"Sorted by <em>{html.escape(t['sort_by'])}</em>, {'descending' if t['descending'] else 'ascending'}."
        if t["sort_by"]
        else "In the order the sweep lists them."
    )
    shared = shared_params(points)
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{SWEEP_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>Generated {html.escape(generated_at or 'at an unknown time')}: "
        f"{len(points)} configuration{'s' if len(points) != 1 else ''}"
        f"{f' ({failures} failed)' if (failures := sum(bool(p.get('failed')) for p in points)) else ''}, "
        f"{sum(k == 'param' for k in kinds)} differing parameter{'s' if sum(k == 'param' for k in kinds) != 1 else ''}.</p>",
        "<h2>Comparison</h2>",
        f"<p>One row per configuration: the parameters that differ between them, then every metric. {order} "
        "★ marks the best value of each metric on held-out validation data (↑ higher is better: accuracies; "
        "↓ lower is better: losses), the only figures a configuration is chosen on; test figures are shown "
        "for reporting and never marked, and timings and sizes have no best. A metric whose values are all "
        "the same marks none. Hover a number for its exact value; each configuration's name links to its "
        "provenance, and to its own report where the sweep builds one.</p>",
        html_table(header, rows, css="compare"),
    ]
    failed = [p for p in points if p.get("failed")]
    if failed:
        parts.append(
            "<h2>Failed configurations</h2><p>Their training diverged: they have no metrics above. The record "
            "beside the training says where; a rerun tries such a configuration again only once its record is "
            "deleted or a significant parameter changes.</p>"
        )
        parts.append(
            html_table(
                ["configuration", "why", "record"],
                [[_label_cell(p["label"], links), p["failed"]["why"], p["failed"]["record"]] for p in failed],
                css="shared",
            )
        )
    if shared:
        parts.append("<h2>Shared parameters</h2><p>Every configuration of the sweep has these values.</p>")
        parts.append(html_table(["parameter", "value"], [[k, short(v, 60)] for k, v in shared.items()], css="shared"))
    in_effect = configuration_in_effect(points)
    if in_effect:
        parts.append(
            f"<h2>Configuration in effect</h2><details><summary>{len(in_effect)} parameters of the stages that "
            "every configuration has with the same value (luigi.cfg, the files it was run with, and the "
            "sweep's own fixed values)</summary>"
        )
        parts.append(
            html_table(["parameter", "value"], [[k, short(v, 60)] for k, v in in_effect.items()], css="shared")
        )
        parts.append("</details>")
    same = {m: v for m, v in constant_metrics(points, models=models).items() if m not in t["columns"]}
    if same:
        parts.append(
            "<h2>Metrics equal in every configuration</h2><p>Left out of the comparison above: every configuration "
            "gives the same value (a model no swept value reaches, say).</p>"
        )
        parts.append(html_table(["metric", "value"], [[k, format_number(v)] for k, v in same.items()], css="shared"))
    if figures:
        parts.append("<h2>Learning curves</h2>")
    for file_name, caption in figures:
        parts.append(
            f"<figure><img src='{html.escape(file_name)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def build_sweep_report(
    title: str,
    points: list[dict],
    links: dict[str, str],
    generated_at: str = "",
    *,
    sort_by: str | None = None,
    descending: bool | None = None,
    dpi: int = 100,
    all_metrics: bool = False,
    models: Mapping[str, str],
) -> dict[str, bytes]:
    """The files of the page of the sweep ``title`` names (see :func:`render_sweep_html`):
    ``index.html`` and ``curves_<name>.png`` per model any point has curves for (under the model's name in the
    points; ``models`` says which model each name is, ``{name: model key}``). ``links`` maps point labels to
    (relative) URLs of their provenance; ``sort_by`` names the metric (or column) to sort by, by default
    :func:`pipeline.experiments.compare.default_sort`."""
    labels = [p["label"] for p in points]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two configurations share a label: {sorted(x for x in set(labels) if labels.count(x) > 1)}")
    sort_by = sort_by if sort_by is not None else default_sort(points, models=models)
    metrics = None if all_metrics else differing_metrics(points, keep=sort_by, models=models)
    t = table(points, sort_by, descending, metrics=metrics, models=models)
    order = [row[0] for row in t["rows"]]  # legend order follows the table's
    by_label = {p["label"]: p for p in points}
    drawn_names = sorted({n for p in points for n in p["curves"]}, key=lambda n: (rank(models, n), n))
    files, figures = {}, []
    for model_name in drawn_names:
        model = models.get(model_name, "")
        label = MODELS[model]["label"] if model in MODELS else model_name
        metric = CURVE_METRIC.get(model, "test_accuracy")
        drawn = {
            point: by_label[point]["curves"][model_name] for point in order if model_name in by_label[point]["curves"]
        }
        curves = same_curves_once(drawn)
        file_name = f"curves_{model_name}.png"
        files[file_name] = to_png(overlaid_curves(curves, metric, label), dpi)
        figures.append(
            (
                file_name,
                f"{label}: training loss and {metric.replace('_', ' ')} "
                f"per epoch of {len(drawn)} configuration{'s' if len(drawn) != 1 else ''}, "
                f"in the table's order" + (", equal curves drawn once" if len(curves) < len(drawn) else ""),
            )
        )
    files["index.html"] = render_sweep_html(title, t, points, links, figures, generated_at, models=models).encode()
    return files
