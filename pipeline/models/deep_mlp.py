"""The seeds' modern net: 784-625-625-10, ReLU, dropout 0.2/0.5/0.5, softmax, RMSprop."""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from pipeline.models.classifier import compile_classifier, fit_classifier, symbolic_inputs
from pipeline.models.layers import categorical_crossentropy, dropout, init_weights, shared_params
from pipeline.models.optim import rmsprop


def init_deep_mlp(seed: int, n_in: int = 784, n_hidden: tuple[int, int] = (625, 625), n_out: int = 10):
    """Weights ``w_h``, ``w_h2``, ``w_o``, ``randn * 0.01`` as in the seeds (no biases, as there)."""
    rng = np.random.default_rng(seed)
    h1, h2 = n_hidden
    return {
        "w_h": init_weights(rng, (n_in, h1)),
        "w_h2": init_weights(rng, (h1, h2)),
        "w_o": init_weights(rng, (h2, n_out)),
    }


def model(X, w_h, w_h2, w_o, p_drop_input: float, p_drop_hidden: float, rng):
    """Output logits and the advanced RNG; the dropout rates are 0 for the clean graph."""
    X, rng = dropout(X, p_drop_input, rng)
    h = pt.maximum(pt.dot(X, w_h), 0)
    h, rng = dropout(h, p_drop_hidden, rng)
    h2 = pt.maximum(pt.dot(h, w_h2), 0)
    h2, rng = dropout(h2, p_drop_hidden, rng)
    return pt.dot(h2, w_o), rng


def clean_proba(X, params):
    """Class probabilities of the clean graph (no dropout), sharing the trained weights."""
    logits, _ = model(X, params["w_h"], params["w_h2"], params["w_o"], 0.0, 0.0, None)
    return pt.special.softmax(logits, axis=-1)


def build_deep_mlp(weights, *, p_drop_input: float, p_drop_hidden: float, lr: float, rho: float, eps: float,
                   batch_size: int, seed: int, backend: str):
    """Compile the noisy (dropout) RMSprop training step and the clean prediction function."""
    params = shared_params(weights)
    w = [params["w_h"], params["w_h2"], params["w_o"]]
    n_in, n_out = weights["w_h"].shape[0], weights["w_o"].shape[1]
    X, Y, X_eval = symbolic_inputs(batch_size, n_in, n_out)
    srng = pytensor.shared(np.random.default_rng(seed), name="dropout_rng")
    noise_logits, next_rng = model(X, *w, p_drop_input, p_drop_hidden, srng)
    cost = categorical_crossentropy(noise_logits, Y)
    updates, _ = rmsprop(w, pt.grad(cost, w), lr=lr, rho=rho, eps=eps)
    if next_rng is not srng:
        updates.append((srng, next_rng))
    return compile_classifier(
        params=params, X=X, Y=Y, X_eval=X_eval, cost=cost, updates=updates,
        proba=clean_proba(X_eval, params), batch_size=batch_size, backend=backend, name="deep_mlp",
    )


def train_deep_mlp(data, *, epochs: int, hidden: tuple[int, int], p_drop_input: float, p_drop_hidden: float,
                   lr: float, rho: float, eps: float, batch_size: int, seed: int, backend: str, on_epoch=None):
    """Train on ``data`` (see ``prepare_mnist``); return ``{"weights", "history"}``."""
    weights = init_deep_mlp(seed, data["X_train"].shape[1], tuple(hidden), data["Y_train"].shape[1])
    clf = build_deep_mlp(weights, p_drop_input=p_drop_input, p_drop_hidden=p_drop_hidden, lr=lr, rho=rho,
                         eps=eps, batch_size=batch_size, seed=seed + 1, backend=backend)
    history = fit_classifier(clf, data, epochs=epochs, name="TrainDeepMLP", on_epoch=on_epoch)
    return {"weights": clf.weights(), "history": history}
