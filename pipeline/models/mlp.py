"""The seeds' simple net: 784-625-10, sigmoid hidden layer, softmax output, SGD."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from pipeline.models.classifier import compile_classifier, fit_classifier, symbolic_inputs
from pipeline.models.layers import categorical_crossentropy, init_weights, shared_params
from pipeline.models.optim import sgd


def init_mlp(seed: int, n_in: int = 784, n_hidden: int = 625, n_out: int = 10) -> dict[str, np.ndarray]:
    """Weights ``w_h`` and ``w_o``, ``randn * 0.01`` as in the seeds (no biases, as there)."""
    rng = np.random.default_rng(seed)
    return {"w_h": init_weights(rng, (n_in, n_hidden)), "w_o": init_weights(rng, (n_hidden, n_out))}


def model(X, w_h, w_o):
    """Output logits; the seed's ``softmax(dot(sigmoid(dot(X, w_h)), w_o))`` before the softmax."""
    h = pt.sigmoid(pt.dot(X, w_h))
    return pt.dot(h, w_o)


def clean_proba(X, params):
    """Class probabilities."""
    return pt.special.softmax(model(X, params["w_h"], params["w_o"]), axis=-1)


def build_mlp(weights, *, lr: float, batch_size: int, backend: str):
    """Compile the SGD training step and the prediction function over ``weights``."""
    params = shared_params(weights)
    n_in, n_out = weights["w_h"].shape[0], weights["w_o"].shape[1]
    X, Y, X_eval = symbolic_inputs(batch_size, n_in, n_out)
    cost = categorical_crossentropy(model(X, params["w_h"], params["w_o"]), Y)
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
        name="mlp",
    )


def train_mlp(
    data,
    *,
    epochs: int,
    hidden: int,
    lr: float,
    batch_size: int,
    seed: int,
    backend: str,
    on_epoch=None,
    checkpointer=None,
    name: str = "mlp",
):
    """Train on ``data`` (``X_*``, ``Y_train``, ``y_test`` as from ``prepare_mnist``); return ``{"weights", "history"}``.
    ``name`` names the model in the log and in errors."""
    weights = init_mlp(seed, data["X_train"].shape[1], hidden, data["Y_train"].shape[1])
    clf = build_mlp(weights, lr=lr, batch_size=batch_size, backend=backend)
    history = fit_classifier(clf, data, epochs=epochs, name=name, lr=lr, on_epoch=on_epoch, checkpointer=checkpointer)
    return {"weights": clf.weights(), "history": history}
