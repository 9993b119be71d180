"""The report's history section: each model's metric over scheduled retrains, promotions marked."""

from __future__ import annotations

import datetime
import html
from collections.abc import Mapping

from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from pipeline.champions import effective, outcome
from pipeline.report.plots import to_png
from pipeline.report.records import parse_history  # noqa: F401 -- part of this module's interface
from pipeline.report.references import MODELS, rank

HISTORY_MARKER = "<!-- history -->"


def _day(record: dict) -> datetime.date:
    return datetime.date.fromisoformat(record["date"])


def history_figure(records: list[dict], models: Mapping[str, str]) -> Figure:
    """One panel per metric (accuracy, validation loss), one line per model, filled markers for promotions
    (``models``: which model each record's ``model`` names, ``{name: model key}``)."""
    records = sorted(records, key=lambda r: (r["date"], r.get("recorded", "")))
    metrics = sorted({r["metric"] for r in records})
    fig = Figure(figsize=(6 * len(metrics), 4))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for name in sorted({r["model"] for r in records if r["metric"] == metric}):
            rows = [r for r in records if r["model"] == name]
            style = MODELS[models[name]]
            color = style["color"]
            ax.plot([_day(r) for r in rows], [r["value"] for r in rows], "-", color=color, label=style["label"])
            promoted = [r for r in rows if r["promoted"]]
            ax.plot([_day(r) for r in promoted], [r["value"] for r in promoted], "o", color=color)
            kept = [r for r in rows if not r["promoted"]]
            ax.plot([_day(r) for r in kept], [r["value"] for r in kept], "o", mfc="white", color=color)
        unit = "nats per character" if metric == "val_loss" else "fraction correct"
        ax.set(title=f"{metric} per retrain (filled: promoted)", xlabel="retrain date", ylabel=f"{metric} ({unit})")
        days = sorted({_day(r) for r in records})
        if len(days) <= 10:
            ax.set_xticks(days)
        else:
            ax.xaxis.set_major_locator(AutoDateLocator(maxticks=10))
        ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def history_order(records: list[dict], models: Mapping[str, str]) -> list[dict]:
    """The records newest first: by retrain date, then by when they were recorded, then model."""
    ranked = sorted(records, key=lambda r: (rank(models, r["model"]), r["model"]))
    return sorted(ranked, key=lambda r: (r["date"], r.get("recorded", "")), reverse=True)


def outcome_text(record: dict) -> str:
    """The outcome cell: the outcome, ``since <day>`` for a champion unchanged, and a re-decision as such."""
    text = outcome(record)
    since = (record.get("champion") or {}).get("date")
    if text == "unchanged" and since:
        text += f" since {since}"
    redecision = record.get("redecision")
    if redecision:
        text += (
            f" (re-decided {record.get('recorded', '')}: {redecision.get('reason', '')}; "
            f"was {redecision.get('was', '?')})"
        )
    return text


def add_history(page: str, records: list[dict], models: Mapping[str, str]) -> dict[str, bytes]:
    """``history.png`` and the page with a history section (figure plus table, newest first) in place of its
    marker; with no records, the page without the marker and no figure. Each (day, model) shows once: the
    decision that stands for the day (a re-decision replaces the first decision and says so). ``models`` says
    which model each record's ``model`` names (``{name: model key}``)."""
    if not records:
        return {"index.html": page.replace(HISTORY_MARKER, "").encode()}
    records = effective(records)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(c))}</td>"
            for c in (
                r["date"],
                r["model"],
                r["fingerprint"][:16],
                f"{r['metric']} {r['value']:.4f}",
                outcome_text(r),
                r["reason"],
                r.get("recorded", ""),
            )
        )
        + "</tr>"
        for r in history_order(records, models)
    )
    days = len({r["date"] for r in records})
    section = (
        "<h2>History of scheduled retrains</h2>"
        "<figure><img src='history.png' alt='metric per retrain'><figcaption>Each model's metric at every "
        "retrain; filled markers were promoted to champion</figcaption></figure>"
        f"<p>{len(records)} decisions over {days} days, newest first; each day once, as decided "
        "(a re-decision in its place, marked).</p>"
        "<div class='scroll'><table class='history'><thead><tr><th>date</th><th>model</th><th>fingerprint</th><th>metric</th>"
        f"<th>outcome</th><th>why</th><th>recorded</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    return {
        "history.png": to_png(history_figure(records, models)),
        "index.html": page.replace(HISTORY_MARKER, section).encode(),
    }
