"""Assembling the report: figures, captions, metrics and the page (``build_report``), and the files to
publish, with the history of scheduled retrains added (``publish_files``)."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipeline.report import plots
from pipeline.report.history import add_history, parse_history
from pipeline.report.references import CLASSIFIERS, MODELS, names
from pipeline.report.summary import metrics, render_html

log = logging.getLogger(__name__)


def figures(
    trained: dict[str, dict], evaluated: dict[str, dict], moons: dict, m: dict[str, dict], models: Mapping[str, str]
) -> dict[str, tuple]:
    """``{file name: (Figure, caption)}`` in page order (the arguments as :func:`build_report` has them, ``m``
    their metrics)."""
    name = names(models)
    best = max(CLASSIFIERS, key=lambda k: m[name[k]]["test_accuracy"])
    best_label, best_eval = MODELS[best]["label"], evaluated[name[best]]
    wrong = best_eval["misclassified"]
    out = {
        "learning_curves.png": (
            plots.learning_curves({k: trained[name[k]]["history"] for k in CLASSIFIERS}),
            "Training loss and test accuracy per epoch; crosses mark the seed's published deep-net accuracy",
        ),
        "per_class_accuracy.png": (
            plots.per_class_accuracy({k: evaluated[name[k]]["per_class_accuracy"] for k in CLASSIFIERS}),
            "Test accuracy per digit",
        ),
        "confusion_matrix.png": (
            plots.confusion(best_eval["confusion_matrix"], f"Confusion matrix: {best_label}"),
            f"Confusion matrix of the best classifier ({best_label}) on the test set",
        ),
        "misclassified.png": (
            plots.misclassified(
                wrong["images"], wrong["true"], wrong["pred"], f"Misclassified test digits: {best_label}"
            ),
            f"The first misclassified test digits of {best_label} (true → predicted)",
        ),
    }
    for model, file_name, net in (
        ("mlp", "filters_mlp.png", "simple net"),
        ("deep_mlp", "filters_deep_mlp.png", "deep net"),
    ):
        w = trained[name[model]]["weights"]["w_h"]
        units = plots.filter_units(w)
        shown = (
            f"all {len(units)} of its hidden units"
            if len(units) == w.shape[1]
            else f"the first {len(units)} of its {w.shape[1]} hidden units (units 1–{len(units)})"
        )
        out[file_name] = (
            plots.first_layer_filters(w, f"{net.capitalize()}: first-layer weights"),
            f"First-layer weights of the {net}, {shown}: one 28×28 tile per unit, in unit order, row by row",
        )
    rnn = m[name["char_rnn"]]
    out["char_rnn_loss.png"] = (
        plots.char_rnn_curves(
            trained[name["char_rnn"]]["history"], evaluated[name["char_rnn"]]["unigram_val_loss"], rnn["kept_epoch"]
        ),
        f"Char-RNN training and validation loss against the unigram baseline; the star marks the epoch whose "
        f"weights were kept (epoch {rnn['kept_epoch']}, validation loss {rnn['val_loss']:.4f}; last epoch "
        f"{rnn['last_val_loss']:.4f})",
    )
    out["decision_boundary.png"] = (
        plots.decision_boundary(
            moons["grid"]["xx"],
            moons["grid"]["yy"],
            moons["grid"]["p1"],
            moons["X"],
            moons["y"],
            moons["history"]["test_accuracy"][-1],
        ),
        "Decision boundary of the simple sigmoid net (same model as the MNIST simple net) on generated "
        "two-moons data; the black line is P = 0.5",
    )
    return out


def build_report(
    *,
    trained: dict[str, dict],
    evaluated: dict[str, dict],
    moons: dict,
    models: Mapping[str, str],
    provenance: list[dict],
    fingerprint: str,
    dpi: int = 100,
    generated_at: str = "",
    code_version: str = "",
) -> dict:
    """The report artifact ``{"metrics", "files"}``: figures as PNG bytes, ``index.html`` (with a marker where
    :func:`publish_files` puts the history), ``metrics.json`` and ``provenance.json`` (``fingerprint`` and
    the stages' manifests).

    ``trained`` and ``evaluated`` hold every model's training and evaluation artifacts by name, ``moons`` the
    two-moons net's training artifact; ``models`` says which model each name is (``{name: model key}``).
    """
    m = metrics(trained, evaluated, moons, models=models)
    figs = figures(trained, evaluated, moons, m, models)
    rnn_eval = evaluated[names(models)["char_rnn"]]
    page = render_html(
        m,
        [(name, caption) for name, (_, caption) in figs.items()],
        rnn_eval["samples"],
        rnn_eval["prompt"],
        provenance,
        generated_at=generated_at,
        code_version=code_version,
        models=models,
    )
    files = {name: plots.to_png(fig, dpi) for name, (fig, _) in figs.items()}
    files["index.html"] = page.encode()
    files["metrics.json"] = json.dumps(m, indent=2, sort_keys=True).encode()
    files["provenance.json"] = json.dumps(
        {"fingerprint": fingerprint, "generated_at": generated_at, "code_version": code_version, "stages": provenance},
        indent=2,
        sort_keys=True,
    ).encode()
    return {"metrics": m, "files": files}


def history_digest(history: bytes) -> str:
    """sha256 of ``history.jsonl``'s bytes (of no bytes when there is no file)."""
    return hashlib.sha256(history).hexdigest()


def publish_files(files: dict[str, bytes], history: bytes, models: Mapping[str, str]) -> dict[str, bytes]:
    """The report's files with the history section drawn from ``history`` (the bytes of ``history.jsonl``,
    whose records name their models as ``models`` does) and ``provenance.json`` naming that history's digest
    and record count."""
    records, bad = parse_history(history.decode(errors="replace"))
    for number in bad:
        log.warning("history.jsonl line %d is not a JSON record (cut short by a crash?); skipped", number)
    out = {**files, **add_history(files["index.html"].decode(), records, models)}
    provenance = json.loads(files["provenance.json"])
    provenance["history"] = {"sha256": history_digest(history), "records": len(records)}
    out["provenance.json"] = json.dumps(provenance, indent=2, sort_keys=True).encode()
    return out


def published_state(provenance_json: bytes) -> tuple[str | None, str | None]:
    """``(report fingerprint, history digest)`` a published ``provenance.json`` names (None where it names none)."""
    try:
        provenance = json.loads(provenance_json)
        return provenance.get("fingerprint"), (provenance.get("history") or {}).get("sha256")
    except (ValueError, AttributeError):
        return None, None


def stage_fingerprints(provenance_json: bytes) -> dict[str, str]:
    """``{task: fingerprint}`` of the stages a published ``provenance.json`` lists (empty when it lists none)."""
    try:
        return {s["task"]: s["fingerprint"] for s in json.loads(provenance_json)["stages"]}
    except (ValueError, KeyError, TypeError):
        return {}


def code_version(directory: Path) -> str:
    """The git commit checked out in ``directory`` (``+ local changes`` when tracked files differ from it),
    or ``unknown`` when ``directory`` is not the top of a git checkout or git is missing."""

    def git(*args):
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10)

    try:
        top, head = git("rev-parse", "--show-toplevel"), git("rev-parse", "HEAD")
        if top.returncode or head.returncode or Path(top.stdout.strip()).resolve() != Path(directory).resolve():
            return "unknown"  # not a checkout, or only a folder inside another project's checkout
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + (" + local changes" if dirty else "")
