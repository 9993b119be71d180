"""Logistic regression: 10 independent sigmoid outputs trained with binary cross-entropy and SGD."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from pipeline.models.classifier import compile_classifier, fit_classifier, symbolic_inputs
from pipeline.models.layers import binary_crossentropy, init_weights, shared_params
from pipeline.models.optim import sgd


def init_log_reg(seed: int, n_in: int = 784, n_out: int = 10) -> dict[str, np.ndarray]:
    """Weights ``w`` (n_in x n_out), ``randn * 0.01`` as in the seeds."""
    return {"w": init_weights(np.random.default_rng(seed), (n_in, n_out))}


def model(X, w):
    """Logits of the 10 one-vs-rest outputs; ``sigmoid`` of them are the probabilities."""
    return pt.dot(X, w)


def clean_proba(X, params):
    """Per-class probabilities ``sigmoid(X w)``."""
    return pt.sigmoid(model(X, params["w"]))


def build_log_reg(weights, *, lr: float, batch_size: int, backend: str):
    """Compile the SGD training step and the prediction function over ``weights``."""
    params = shared_params(weights)
    n_in, n_out = weights["w"].shape
    X, Y, X_eval = symbolic_inputs(batch_size, n_in, n_out)
    cost = binary_crossentropy(model(X, params["w"]), Y)
    updates, state = sgd(list(params.values()), pt.grad(cost, list(params.values())), lr)
    return compile_classifier(
        params=params,
        inputs=[X, Y],
        cost=cost,
        updates=updates,
        optimizer_state=state,
        X_eval=X_eval,
        proba=clean_proba(X_eval, params),
        batch_size=batch_size,
        backend=backend,
        name="log_reg",
    )


def train_log_reg(
    data,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    backend: str,
    on_epoch=None,
    checkpointer=None,
    name: str = "logreg",
):
    """Train on ``data`` (see ``prepare_mnist``); return ``{"weights", "history"}``. ``name`` names the model in
    the log and in errors."""
    clf = build_log_reg(
        init_log_reg(seed, data["X_train"].shape[1], data["Y_train"].shape[1]),
        lr=lr,
        batch_size=batch_size,
        backend=backend,
    )
    history = fit_classifier(clf, data, epochs=epochs, name=name, lr=lr, on_epoch=on_epoch, checkpointer=checkpointer)
    return {"weights": clf.weights(), "history": history}
