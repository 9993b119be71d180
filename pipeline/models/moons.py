"""The simple net on the two-moons toy set, and its decision boundary on a grid."""

from __future__ import annotations

import numpy as np

from pipeline.data.mnist import one_hot
from pipeline.data.moons import grid, make_moons
from pipeline.models.classifier import compile_predictor
from pipeline.models.mlp import clean_proba, train_mlp


def with_bias_input(X: np.ndarray) -> np.ndarray:
    """Append a constant 1 to every point: the seed's net has no biases, and in two dimensions
    a boundary through the origin could not separate the moons."""
    return np.hstack([X, np.ones((len(X), 1), dtype=np.float32)])


def train_moons_mlp(
    *,
    n_train: int,
    n_test: int,
    noise: float,
    epochs: int,
    hidden: int,
    lr: float,
    batch_size: int,
    seed: int,
    backend: str,
    on_epoch=None,
    checkpointer=None,
    name: str = "moons",
) -> dict:
    """Train the simple net on generated moons; return weights, history, the points and the grid's P(class 1).
    ``name`` names the model in the log and in errors."""
    X, y = make_moons(n_train, noise, seed)
    X_test, y_test = make_moons(n_test, noise, seed + 1)
    data = {
        "X_train": with_bias_input(X),
        "Y_train": one_hot(y, 2),
        "X_test": with_bias_input(X_test),
        "y_test": y_test,
    }
    out = train_mlp(
        data,
        epochs=epochs,
        hidden=hidden,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        backend=backend,
        on_epoch=on_epoch,
        checkpointer=checkpointer,
        name=name,
    )
    xx, yy, points = grid(X)
    p1 = compile_predictor(out["weights"], clean_proba, backend=backend)(with_bias_input(points))[:, 1]
    return {**out, "X": X, "y": y, "grid": {"xx": xx, "yy": yy, "p1": p1.reshape(xx.shape)}}
