"""Report figures. Each function returns a matplotlib ``Figure`` and leaves pyplot's global state alone."""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib.figure import Figure

from pipeline.report.references import CLASSIFIERS, MODELS, SEED_DEEP_MLP_ACCURACY


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def learning_curves(histories: dict[str, dict]) -> Figure:
    """Training loss and test accuracy per epoch for every classifier, with the seed's points."""
    fig = Figure(figsize=(12, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for family in CLASSIFIERS:
        if family not in histories:
            continue
        h, style = histories[family], MODELS[family]
        ax_loss.plot(h["epoch"], h["train_loss"], color=style["color"], label=style["label"])
        ax_acc.plot(h["epoch"], h["test_accuracy"], color=style["color"], label=style["label"])
    epochs, acc = zip(*sorted(SEED_DEEP_MLP_ACCURACY.items()))
    ax_acc.plot(
        epochs,
        acc,
        "x",
        color=MODELS["TrainDeepMLP"]["color"],
        markersize=9,
        mew=2,
        label="seed's deep net (published)",
    )
    ax_loss.set(title="Training loss", xlabel="epoch", ylabel="mean loss per example (nats)", yscale="log")
    ax_acc.set(title="Test accuracy", xlabel="epoch", ylabel="accuracy (fraction correct)")
    ax_acc.set_ylim(
        max(0.0, min(min(h["test_accuracy"]) for f, h in histories.items() if f in CLASSIFIERS) - 0.01), 1.0
    )
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def confusion(cm: np.ndarray, title: str) -> Figure:
    """Confusion matrix with counts in the cells."""
    fig = Figure(figsize=(6, 5.5), layout="constrained")  # keeps title, axes and colour bar apart
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    n = cm.shape[0]
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if cm[i, j] > cm.max() / 2 else "black",
            )
    ax.set(xlabel="predicted digit", ylabel="true digit", xticks=range(n), yticks=range(n))
    fig.suptitle("\n".join(textwrap.wrap(title, 45)))  # over the whole figure: never into the colour bar
    fig.colorbar(im, ax=ax, label="test examples", shrink=0.9)
    return fig


def per_class_accuracy(per_class: dict[str, np.ndarray]) -> Figure:
    """Grouped bars of accuracy per digit for each classifier."""
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    families = [f for f in CLASSIFIERS if f in per_class]
    width = 0.8 / max(1, len(families))
    for k, family in enumerate(families):
        values = per_class[family]
        ax.bar(
            np.arange(len(values)) + k * width,
            values,
            width,
            color=MODELS[family]["color"],
            label=MODELS[family]["label"],
        )
    lowest = min(float(np.nanmin(per_class[f])) for f in families)
    ax.set(
        title="Test accuracy per digit",
        xlabel="digit",
        ylabel="accuracy (fraction correct)",
        xticks=np.arange(10) + 0.4 - width / 2,
        xticklabels=[str(d) for d in range(10)],
        ylim=(max(0.0, lowest - 0.05), 1.0),
    )
    # below the axes, in one row: inside, it covered the bars of digits 6-9
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(families), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def misclassified(images: np.ndarray, true: np.ndarray, pred: np.ndarray, title: str, cols: int = 5) -> Figure:
    """Grid of misclassified test digits labelled ``true → predicted``."""
    n = len(images)
    rows = max(1, int(np.ceil(n / cols)))
    fig = Figure(figsize=(cols * 1.6, rows * 1.8 + 0.5))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"true {true[k]} → {pred[k]}", fontsize=9)
    fig.suptitle(title)
    return fig


def filter_units(w: np.ndarray, n: int = 64) -> list[int]:
    """Which hidden units :func:`first_layer_filters` shows: the first ``n`` (all when there are fewer)."""
    return list(range(min(n, w.shape[1])))


def first_layer_filters(w: np.ndarray, title: str, n: int = 64) -> Figure:
    """The input weights of hidden units ``filter_units(w, n)`` as 28x28 tiles in unit order, row by row
    (each on its own symmetric scale, zero white); the title names the units shown."""
    units = filter_units(w, n)
    cols = int(np.ceil(np.sqrt(len(units))))
    rows = int(np.ceil(len(units) / cols))
    height = rows * 1.0 + 0.5
    fig = Figure(figsize=(cols * 1.0, height))
    # the title half an inch above the tiles (fixed margins: a layout engine triples the drawing time)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / height, wspace=0.1, hspace=0.1)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.axis("off")
        if k < len(units):
            limit = float(np.abs(w[:, units[k]]).max()) or 1.0
            ax.imshow(w[:, units[k]].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(
        f"{title}: units {units[0] + 1}-{units[-1] + 1} of {w.shape[1]}" if units else title, y=1 - 0.15 / height
    )
    return fig


def char_rnn_curves(history: dict, unigram_nats: float, kept_epoch: int | None = None) -> Figure:
    """Training and validation loss per epoch against the unigram baseline; a star marks the kept epoch."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    color = MODELS["TrainCharRNN"]["color"]
    ax.plot(history["epoch"], history["train_loss"], "--", color=color, label="training loss")
    ax.plot(history["epoch"], history["val_loss"], "-o", color=color, label="validation loss")
    if kept_epoch is not None:
        ax.plot(
            [kept_epoch],
            [history["val_loss"][history["epoch"].index(kept_epoch)]],
            "*",
            color="black",
            markersize=14,
            label=f"kept weights (epoch {kept_epoch})",
        )
    ax.axhline(unigram_nats, color="gray", linestyle=":", label=f"unigram baseline ({unigram_nats:.3f})")
    ax.set(title="Char-RNN loss on Tiny Shakespeare", xlabel="epoch", ylabel="cross-entropy (nats per character)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def decision_boundary(
    xx: np.ndarray, yy: np.ndarray, p1: np.ndarray, X: np.ndarray, y: np.ndarray, test_accuracy: float
) -> Figure:
    """P(class 1) over the plane, the 0.5 contour, and the training points."""
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    filled = ax.contourf(xx, yy, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(xx, yy, p1, levels=[0.5], colors="black", linewidths=1.5)
    for label, marker in ((0, "o"), (1, "s")):
        pts = X[y == label]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=10,
            marker=marker,
            edgecolors="black",
            linewidths=0.3,
            color="tab:blue" if label == 0 else "tab:red",
            label=f"class {label}",
        )
    fig.colorbar(filled, ax=ax, label="P(class 1)")
    ax.set(title=f"Simple sigmoid net on two moons (test accuracy {test_accuracy:.3f})", xlabel="x₁", ylabel="x₂")
    ax.legend(fontsize=8, loc="upper right")
    return fig
