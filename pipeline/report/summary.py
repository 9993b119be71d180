"""The numbers of the report (``metrics.json``) and its HTML page."""
from __future__ import annotations

import html

import numpy as np

from pipeline.report.history import HISTORY_MARKER
from pipeline.report.references import ACCURACY_TARGETS, CLASSIFIERS, MODELS, SEED_DEEP_MLP_ACCURACY


def metrics(trained: dict[str, dict], evaluated: dict[str, dict]) -> dict[str, dict]:
    """Per task family: epochs, median seconds per epoch, parameter count and the headline metric."""
    out = {}
    for family, model in trained.items():
        h, ev = model["history"], evaluated[family]
        row = {
            "epochs": len(h["epoch"]),
            "seconds_per_epoch": float(np.median(h["epoch_seconds"])),
            "train_seconds": float(np.sum(h["epoch_seconds"])),
            "parameters": int(sum(w.size for w in model["weights"].values())),
            "backend": model["backend"],
        }
        if family in CLASSIFIERS:
            row["test_accuracy"] = ev["test_accuracy"]
            row["per_class_accuracy"] = [float(a) for a in ev["per_class_accuracy"]]
            row["target_accuracy"] = ACCURACY_TARGETS[family]
        else:
            for key in ("val_loss", "bits_per_char", "perplexity", "unigram_val_loss", "unigram_bits_per_char"):
                row[key] = ev[key]
        out[family] = row
    if "TrainDeepMLP" in out:
        out["TrainDeepMLP"]["seed_test_accuracy"] = SEED_DEEP_MLP_ACCURACY[max(SEED_DEEP_MLP_ACCURACY)]
    return out


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary_rows(m: dict[str, dict]) -> list[list]:
    rows = []
    for family, row in m.items():
        label = MODELS[family]["label"]
        if "test_accuracy" in row:
            reference = row.get("seed_test_accuracy")
            diff = f"{row['test_accuracy'] - reference:+.4f}" if reference else "—"
            metric = f"test accuracy {row['test_accuracy']:.4f}"
            ref = f"seed {reference:.4f}" if reference else "—"
            target = f"≥ {row['target_accuracy']:.3f}" + (" ✓" if row["test_accuracy"] >= row["target_accuracy"] else " ✗")
        else:
            metric = f"val loss {row['val_loss']:.4f} nats/char ({row['bits_per_char']:.3f} bits)"
            ref = f"unigram {row['unigram_val_loss']:.4f}"
            diff = f"{row['val_loss'] - row['unigram_val_loss']:+.4f}"
            target = "below unigram" + (" ✓" if row["val_loss"] < row["unigram_val_loss"] else " ✗")
        rows.append([label, family, metric, ref, diff, target, row["epochs"], f"{row['seconds_per_epoch']:.2f}",
                     f"{row['train_seconds']:.0f}", f"{row['parameters']:,}", row["backend"]])
    return rows


def render_html(m: dict[str, dict], figures: list[tuple[str, str]], samples: dict[float, str], prompt: str,
                provenance: list[dict], title: str = "Theano tutorial models — pipeline report") -> str:
    """One self-contained page (figures are PNG files beside it): summary, figures, samples, provenance."""
    parts = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}pre{background:#f8f8f8;padding:1em;"
        "white-space:pre-wrap}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Summary</h2>",
        _table(["model", "task", "result", "reference", "difference", "target", "epochs", "s/epoch (median)",
                "training s", "parameters", "backend"], _summary_rows(m)),
        "<h2>Figures</h2>",
    ]
    for name, caption in figures:
        parts.append(f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if samples:
        parts.append("<h2>Char-RNN samples</h2>")
        for temperature, text in samples.items():
            parts.append(f"<h3>temperature {temperature}</h3><pre>{html.escape(prompt + text)}</pre>")
    parts.append(HISTORY_MARKER)  # where scheduled retraining adds its history
    parts.append("<h2>Provenance</h2>")
    parts.append("<p>Every stage's artifact, with the parameters it was built with; <em>since last report</em> "
                 "compares its fingerprint with the report published before this one.</p>")
    parts.append(_table(["stage", "since last report", "fingerprint", "parameters", "built (UTC)", "duration (s)"], [
        [p["task"], p.get("since_last_report", ""), p["fingerprint"][:16],
         ", ".join(f"{k}={v}" for k, v in sorted(p["params"].items())), p["created"], p["duration_s"]]
        for p in provenance
    ]))
    versions = provenance[0]["libraries"] if provenance else {}
    parts.append("<p>Libraries: " + html.escape(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
