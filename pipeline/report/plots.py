"""Report figures. Each function returns a matplotlib ``Figure`` and leaves pyplot's global state alone."""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from pipeline.report.references import CLASSIFIERS, MODELS, SEED_DEEP_MLP_ACCURACY

TILE, GAP = 28, 2  # a digit's (and a first-layer filter's) side in pixels, and the blank between two filters


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def learning_curves(histories: dict[str, dict]) -> Figure:
    """Training loss and test accuracy per epoch for every classifier (``{model key: history}``), with the
    seed's points."""
    fig = Figure(figsize=(12, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for model in CLASSIFIERS:
        if model not in histories:
            continue
        h, style = histories[model], MODELS[model]
        ax_loss.plot(h["epoch"], h["train_loss"], color=style["color"], label=style["label"])
        ax_acc.plot(h["epoch"], h["test_accuracy"], color=style["color"], label=style["label"])
    epochs, acc = zip(*sorted(SEED_DEEP_MLP_ACCURACY.items()))
    ax_acc.plot(
        epochs,
        acc,
        "x",
        color=MODELS["deep_mlp"]["color"],
        markersize=9,
        mew=2,
        label="seed's deep net (published)",
    )
    ax_loss.set(title="Training loss", xlabel="epoch", ylabel="mean loss per example (nats)", yscale="log")
    ax_acc.set(title="Test accuracy", xlabel="epoch", ylabel="accuracy (fraction correct)")
    ax_acc.set_ylim(
        max(0.0, min(min(h["test_accuracy"]) for k, h in histories.items() if k in CLASSIFIERS) - 0.01), 1.0
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
    """Grouped bars of accuracy per digit for each classifier (``{model key: accuracies}``)."""
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    models = [m for m in CLASSIFIERS if m in per_class]
    width = 0.8 / max(1, len(models))
    for k, model in enumerate(models):
        values = per_class[model]
        ax.bar(
            np.arange(len(values)) + k * width,
            values,
            width,
            color=MODELS[model]["color"],
            label=MODELS[model]["label"],
        )
    lowest = min(float(np.nanmin(per_class[m])) for m in models)
    ax.set(
        title="Test accuracy per digit",
        xlabel="digit",
        ylabel="accuracy (fraction correct)",
        xticks=np.arange(10) + 0.4 - width / 2,
        xticklabels=[str(d) for d in range(10)],
        ylim=(max(0.0, lowest - 0.05), 1.0),
    )
    # below the axes, in one row: inside, it covered the bars of digits 6-9
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(models), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def square_grid(n: int) -> tuple[int, int]:
    """(rows, columns) of the squarest grid with room for ``n`` tiles (one cell when there are none)."""
    cols = int(np.ceil(np.sqrt(n))) if n else 1
    return max(1, int(np.ceil(n / cols))), cols


def tile_mosaic(tiles, cols: int, *, gap_x: int = GAP, gap_y: int = GAP, above: int = 0):
    """``tiles`` (each TILE x TILE) in one float32 array, row by row, ``cols`` to a row, with ``gap_x``
    and ``gap_y`` blank pixels between neighbours and ``above`` blank pixels above each tile (room for
    a label); NaN wherever no tile is. Returns the array and each tile's (top, left) pixel."""
    rows = max(1, int(np.ceil(len(tiles) / cols)))
    step_x, step_y = TILE + gap_x, above + TILE + gap_y
    mosaic = np.full((rows * step_y - gap_y, cols * step_x - gap_x), np.nan, dtype=np.float32)
    origins = []
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        top, left = r * step_y + above, c * step_x
        mosaic[top : top + TILE, left : left + TILE] = np.reshape(tile, (TILE, TILE))
        origins.append((top, left))
    return mosaic, origins


def misclassified(images: np.ndarray, true: np.ndarray, pred: np.ndarray, title: str, cols: int = 5) -> Figure:
    """Grid of misclassified test digits labelled ``true → predicted``, drawn as one image of all the digits
    with each label above its digit (an axes per digit took most of the report's drawing time)."""
    n = len(images)
    rows = max(1, int(np.ceil(n / cols)))
    height = rows * 1.8 + 0.5
    fig = Figure(figsize=(cols * 1.6, height))
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.5 / height - 0.01))
    ax.axis("off")
    # pixels: a gap beside each digit, room for its label above it, one blank row between two rows of digits
    mosaic, origins = tile_mosaic(images, cols, gap_x=10, gap_y=1, above=11)
    for k, (top, left) in enumerate(origins):
        ax.text(left + TILE / 2, top - 1.5, f"true {true[k]} → {pred[k]}", ha="center", va="bottom", fontsize=9)
    ax.imshow(mosaic, cmap=colormaps["gray_r"].with_extremes(bad="white"), vmin=0, vmax=1, interpolation="nearest")
    fig.suptitle(title)
    return fig


def filter_units(w: np.ndarray, n: int = 64) -> list[int]:
    """Which hidden units :func:`first_layer_filters` shows: the first ``n`` (all when there are fewer)."""
    return list(range(min(n, w.shape[1])))


def filter_mosaic(w: np.ndarray, units: list[int]) -> np.ndarray:
    """The input weights of ``units`` as 28x28 tiles in one array, row by row in unit order (a square
    grid), each tile divided by its largest absolute weight (its own symmetric scale, in [-1, 1]);
    NaN between tiles."""
    tiles = [w[:, unit] / (float(np.abs(w[:, unit]).max()) or 1.0) for unit in units]
    return tile_mosaic(tiles, square_grid(len(units))[1])[0]


def first_layer_filters(w: np.ndarray, title: str, n: int = 64) -> Figure:
    """The input weights of hidden units ``filter_units(w, n)`` as 28x28 tiles in unit order, row by row
    (each on its own symmetric scale, zero white); the title names the units shown. One image of all
    the tiles (:func:`filter_mosaic`): an axes per tile took most of the report's drawing time."""
    units = filter_units(w, n)
    mosaic = filter_mosaic(w, units)
    rows, cols = square_grid(len(units))
    height = rows * 1.0 + 0.5
    fig = Figure(figsize=(cols * 1.0, height))
    # the title half an inch above the tiles (fixed margins: a layout engine triples the drawing time)
    ax = fig.add_axes((0.02, 0.02, 0.96, 1 - 0.5 / height - 0.02))
    ax.axis("off")
    ax.imshow(mosaic, cmap=colormaps["RdBu_r"].with_extremes(bad="white"), vmin=-1, vmax=1, interpolation="nearest")
    fig.suptitle(
        f"{title}: units {units[0] + 1}-{units[-1] + 1} of {w.shape[1]}" if units else title, y=1 - 0.15 / height
    )
    return fig


def char_rnn_curves(history: dict, unigram_nats: float, kept_epoch: int | None = None) -> Figure:
    """Training and validation loss per epoch against the unigram baseline; a star marks the kept epoch."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    color = MODELS["char_rnn"]["color"]
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
