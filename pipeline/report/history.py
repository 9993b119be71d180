"""The report's history section: each model's metric over scheduled retrains, promotions marked."""
from __future__ import annotations

import datetime
import html

from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from pipeline.report.plots import to_png
from pipeline.report.references import MODELS

HISTORY_MARKER = "<!-- history -->"


def _day(record: dict) -> datetime.date:
    return datetime.date.fromisoformat(record["date"])


def history_figure(records: list[dict]) -> Figure:
    """One panel per metric (accuracy, validation loss), one line per model, filled markers for promotions."""
    records = sorted(records, key=lambda r: (r["date"], r.get("recorded", "")))
    metrics = sorted({r["metric"] for r in records})
    fig = Figure(figsize=(6 * len(metrics), 4))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for family in sorted({r["model"] for r in records if r["metric"] == metric}):
            rows = [r for r in records if r["model"] == family]
            color = MODELS[family]["color"]
            ax.plot([_day(r) for r in rows], [r["value"] for r in rows], "-", color=color,
                    label=MODELS[family]["label"])
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


def add_history(page: str, records: list[dict]) -> dict[str, bytes]:
    """``history.png`` and the page with a history section (figure plus table) in place of its marker."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["date"], r["model"], r["fingerprint"][:16], f"{r['metric']} {r['value']:.4f}",
            "yes" if r["promoted"] else "no", r["reason"])) + "</tr>"
        for r in records)
    section = (
        "<h2>History of scheduled retrains</h2>"
        "<figure><img src='history.png' alt='metric per retrain'><figcaption>Each model's metric at every "
        "retrain; filled markers were promoted to champion</figcaption></figure>"
        "<table><thead><tr><th>date</th><th>model</th><th>fingerprint</th><th>metric</th><th>promoted</th>"
        f"<th>why</th></tr></thead><tbody>{rows}</tbody></table>")
    return {"history.png": to_png(history_figure(records)), "index.html": page.replace(HISTORY_MARKER, section).encode()}
