"""The numbers of the report (``metrics.json``) and its HTML page."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

from pipeline.report.history import HISTORY_MARKER
from pipeline.report.references import ACCURACY_TARGETS, CLASSIFIERS, MODELS, SEED_DEEP_MLP_ACCURACY, names

SHORT_VALUE = 24  # characters of a parameter value shown in the provenance table before it is cut


def _common(model: dict) -> dict:
    h = model["history"]
    return {
        "epochs": len(h["epoch"]),
        "seconds_per_epoch": float(np.median(h["epoch_seconds"])),
        "train_seconds": float(np.sum(h["epoch_seconds"])),
        "parameters": int(sum(w.size for w in model["weights"].values())),
        "backend": model["backend"],
    }


def char_rnn_epochs(model: dict) -> dict:
    """Which epoch's weights the char-RNN artifact holds, the best and the last validation loss."""
    h = model["history"]
    best = int(np.argmin(h["val_loss"]))
    kept = model.get("kept", {"epoch": h["epoch"][-1]})  # artifacts from before keep_best hold the last epoch's
    return {
        "kept_epoch": int(kept["epoch"]),
        "best_epoch": int(h["epoch"][best]),
        "best_val_loss": float(h["val_loss"][best]),
        "last_epoch": int(h["epoch"][-1]),
        "last_val_loss": float(h["val_loss"][-1]),
    }


def model_metrics(model: str, trained: dict | None = None, evaluation: dict | None = None) -> dict:
    """The row of :func:`metrics` of the model ``model`` (a key of ``MODELS``) from whichever of its artifacts
    there are: the training artifact gives epochs, timing and parameter count (and for the char-RNN which epoch
    was kept), the evaluation artifact the headline metric."""
    row = _common(trained) if trained is not None else {}
    if evaluation is not None:
        if model in CLASSIFIERS:
            row["val_accuracy"] = float(evaluation.get("val_accuracy", float("nan")))
            row["test_accuracy"] = evaluation["test_accuracy"]
            row["per_class_accuracy"] = [float(a) for a in evaluation["per_class_accuracy"]]
            row["target_accuracy"] = ACCURACY_TARGETS[model]
        else:
            for key in ("val_loss", "bits_per_char", "perplexity", "unigram_val_loss", "unigram_bits_per_char"):
                row[key] = evaluation[key]
            for key in ("test_loss", "test_bits_per_char", "test_perplexity", "unigram_test_loss"):
                if key in evaluation:  # a corpus with a test split
                    row[key] = evaluation[key]
    if model not in CLASSIFIERS and trained is not None:
        row.update(char_rnn_epochs(trained))
    return row


def metrics(
    trained: dict[str, dict], evaluated: dict[str, dict], moons: dict | None = None, *, models: Mapping[str, str]
) -> dict[str, dict]:
    """Per model, under its name: epochs, median seconds per epoch, parameter count and the headline metric.

    ``trained`` and ``evaluated`` hold the training and evaluation artifacts by name, ``models`` says which
    model each name is (``{name: model key}``); ``moons`` (the two-moons net's artifact) adds its row, with its
    last epoch's test accuracy, under its name. Any model may be missing from ``trained`` or ``evaluated``:
    its row holds what the artifacts there give.
    """
    out = {}
    for name in [*trained, *(n for n in evaluated if n not in trained)]:
        out[name] = model_metrics(models[name], trained.get(name), evaluated.get(name))
        if models[name] == "deep_mlp":
            out[name]["seed_test_accuracy"] = SEED_DEEP_MLP_ACCURACY[max(SEED_DEEP_MLP_ACCURACY)]
    if moons is not None:
        out[names(models)["moons"]] = {**_common(moons), "test_accuracy": float(moons["history"]["test_accuracy"][-1])}
    return out


class Raw(str):
    """A table cell that is already HTML."""


def _cell(c) -> str:
    return c if isinstance(c, Raw) else html.escape(str(c))


def html_table(header: list[str], rows: list[list], css: str = "") -> str:
    """A table inside its own horizontally scrolling box, so that a narrow window never cuts it off."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _summary_rows(m: dict[str, dict], models: Mapping[str, str]) -> list[list]:
    rows = []
    for name, row in m.items():
        label = MODELS[models[name]]["label"]
        if "test_accuracy" in row:
            reference = row.get("seed_test_accuracy")
            diff = f"{row['test_accuracy'] - reference:+.4f}" if reference else "—"
            metric = f"test accuracy {row['test_accuracy']:.4f}" + (
                f" (validation {row['val_accuracy']:.4f})" if np.isfinite(row.get("val_accuracy", np.nan)) else ""
            )
            ref = f"seed {reference:.4f}" if reference else "—"
            target = "—"
            if "target_accuracy" in row:
                ok = row["test_accuracy"] >= row["target_accuracy"]
                target = f"≥ {row['target_accuracy']:.3f}" + (" ✓" if ok else " ✗")
        else:
            tested = (
                f"test loss {row['test_loss']:.4f} nats/char ({row['test_bits_per_char']:.3f} bits; unigram "
                f"{row['unigram_test_loss']:.4f}); "
                if "test_loss" in row
                else ""
            )
            metric = tested + (
                f"val loss {row['val_loss']:.4f} nats/char ({row['bits_per_char']:.3f} bits); weights of "
                f"epoch {row['kept_epoch']}"
                + (" (best)" if row["kept_epoch"] == row["best_epoch"] else "")
                + f"; best {row['best_val_loss']:.4f} at epoch {row['best_epoch']}, "
                f"last {row['last_val_loss']:.4f} at epoch {row['last_epoch']}"
            )
            ref = f"unigram {row['unigram_val_loss']:.4f}"
            diff = f"{row['val_loss'] - row['unigram_val_loss']:+.4f}"
            target = "below unigram" + (" ✓" if row["val_loss"] < row["unigram_val_loss"] else " ✗")
        rows.append(
            [
                label,
                name,
                metric,
                ref,
                diff,
                target,
                row["epochs"],
                f"{row['seconds_per_epoch']:.2f}",
                f"{row['train_seconds']:.0f}",
                f"{row['parameters']:,}",
                row["backend"],
            ]
        )
    return rows


def short(value: str, limit: int = SHORT_VALUE) -> Raw:
    """``value`` cut to ``limit`` characters with an ellipsis; the full value is the hover title."""
    value = str(value)
    if len(value) <= limit:
        return Raw(html.escape(value))
    return Raw(f"<span title='{html.escape(value, quote=True)}'>{html.escape(value[: limit - 1])}…</span>")


def _params_cell(params: dict) -> Raw:
    """Parameters with long values cut, and the full set on demand in a ``<details>``."""
    items = sorted(params.items())
    text = ", ".join(f"{html.escape(k)}={short(v)}" for k, v in items)
    if all(len(str(v)) <= SHORT_VALUE for _, v in items):
        return Raw(text)
    full = html.escape("\n".join(f"{k} = {v}" for k, v in items))
    return Raw(f"{text}<details><summary>full values</summary><pre>{full}</pre></details>")


def provenance_rows(manifests: list[dict], previous: dict[str, str]) -> list[dict]:
    """Each stage's manifest with ``since_last_report``: new, unchanged or rebuilt against the
    fingerprints (``{task: fingerprint}``) of the report published before."""
    rows = []
    for manifest in manifests:
        old = previous.get(manifest["task"])
        change = "new" if old is None else "unchanged" if old == manifest["fingerprint"] else "rebuilt"
        rows.append({**manifest, "since_last_report": change})
    return rows


STYLE = (
    "body{font-family:sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;overflow-wrap:break-word}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}"
    # narrow columns never wrap mid-word; the wide ones keep a readable width (the box scrolls instead)
    "table.summary td:first-child{min-width:9em}table.summary td:nth-child(3){min-width:14em}"
    "table.summary td:nth-child(n+7),table.summary td:nth-child(2){white-space:nowrap}"
    "table.history td:nth-child(-n+5){white-space:nowrap}table.history td:nth-child(6){min-width:16em}"
    "table.provenance td{white-space:nowrap}table.provenance td:nth-child(4){white-space:normal;min-width:20em;"
    "max-width:40em;overflow-wrap:anywhere}"
    "figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}"
    "pre{background:#f8f8f8;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}"
    "details pre{padding:.5em;margin:.3em 0}.meta{color:#555}"
)


def render_html(
    m: dict[str, dict],
    figures: list[tuple[str, str]],
    samples: dict[float, str],
    prompt: str,
    provenance: list[dict],
    generated_at: str = "",
    code_version: str = "",
    title: str = "Theano tutorial models — pipeline report",
    *,
    models: Mapping[str, str],
) -> str:
    """One self-contained page (figures are PNG files beside it): summary, figures, samples, provenance.
    ``m`` is :func:`metrics` of the models ``models`` names."""
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>Generated {html.escape(generated_at or 'at an unknown time')} from code version "
        f"<code>{html.escape(code_version or 'unknown')}</code>.</p>",
        "<h2>Summary</h2>",
        html_table(
            [
                "model",
                "task",
                "result",
                "reference",
                "difference",
                "target",
                "epochs",
                "s/epoch (median)",
                "training s",
                "parameters",
                "backend",
            ],
            _summary_rows(m, models),
            css="summary",
        ),
        "<h2>Figures</h2>",
    ]
    for name, caption in figures:
        parts.append(
            f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if samples:
        parts.append("<h2>Char-RNN samples</h2>")
        for temperature, text in samples.items():
            parts.append(f"<h3>temperature {temperature}</h3><pre>{html.escape(prompt + text)}</pre>")
    parts.append(HISTORY_MARKER)  # where publishing adds the history of scheduled retrains
    parts.append("<h2>Provenance</h2>")
    parts.append(
        "<p>Every stage's artifact, with the parameters it was built with; <em>since last report</em> "
        "compares its fingerprint with the report published before this one. Long values are cut: "
        "hover for the full value, or open <em>full values</em>.</p>"
    )
    parts.append(
        html_table(
            ["stage", "since last report", "fingerprint", "parameters", "built (UTC)", "duration (s)"],
            [
                [
                    p["task"],
                    p.get("since_last_report", ""),
                    short(p["fingerprint"], 13),
                    _params_cell(p["params"]),
                    p["created"][:19].replace("T", " "),
                    p["duration_s"],
                ]
                for p in provenance
            ],
            css="provenance",
        )
    )
    versions = provenance[0]["libraries"] if provenance else {}
    parts.append("<p>Libraries: " + html.escape(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
