"""The seeds' modern net: 784-625-625-10, ReLU, dropout 0.2/0.5/0.5, softmax, RMSprop."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from pipeline.models.classifier import compile_classifier, fit_classifier, symbolic_inputs
from pipeline.models.layers import categorical_crossentropy, dropout, init_weights, shared_params
from pipeline.models.noise import dropout_mask, noise_counter
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


def model(X, w_h, w_h2, w_o, p_drop_input: float, p_drop_hidden: float, masks=None):
    """Output logits; ``masks`` are the three dropout masks (input, hidden, hidden2; see ``dropout_masks``).

    The clean graph passes dropout rates 0 and no masks.
    """
    u_in, u_h, u_h2 = (None, None, None) if masks is None else masks
    X = dropout(X, p_drop_input, u_in)
    h = pt.maximum(pt.dot(X, w_h), 0)
    h = dropout(h, p_drop_hidden, u_h)
    h2 = pt.maximum(pt.dot(h, w_h2), 0)
    h2 = dropout(h2, p_drop_hidden, u_h2)
    return pt.dot(h2, w_o)


def dropout_masks(seed, step, batch_size: int, widths: tuple[int, int, int], p_drop_input: float, p_drop_hidden: float):
    """The step's three masks, drawn in the graph from ``seed`` and ``step`` (streams 0, 1, 2)."""
    keeps = (1.0 - p_drop_input, 1.0 - p_drop_hidden, 1.0 - p_drop_hidden)
    return tuple(
        dropout_mask(seed, step, (batch_size, n), keep, stream) if keep < 1.0 else None
        for stream, (n, keep) in enumerate(zip(widths, keeps))
    )


def clean_proba(X, params):
    """Class probabilities of the clean graph (no dropout), sharing the trained weights."""
    return pt.special.softmax(model(X, params["w_h"], params["w_h2"], params["w_o"], 0.0, 0.0), axis=-1)


def build_deep_mlp(
    weights,
    *,
    p_drop_input: float,
    p_drop_hidden: float,
    lr: float,
    rho: float,
    eps: float,
    batch_size: int,
    seed: int,
    backend: str,
):
    """Compile the noisy (dropout) RMSprop training step and the clean prediction function.

    ``seed`` seeds the dropout masks, which the graph draws from it and a step counter
    (see :mod:`pipeline.models.noise`); both are shared variables, checkpointed with the weights.
    """
    params = shared_params(weights)
    w = [params["w_h"], params["w_h2"], params["w_o"]]
    n_in, n_out = weights["w_h"].shape[0], weights["w_o"].shape[1]
    X, Y, X_eval = symbolic_inputs(batch_size, n_in, n_out)
    noise_seed, noise_step = noise_counter(seed)
    masks = dropout_masks(
        noise_seed,
        noise_step,
        batch_size,
        (n_in, weights["w_h"].shape[1], weights["w_h2"].shape[1]),
        p_drop_input,
        p_drop_hidden,
    )
    cost = categorical_crossentropy(model(X, *w, p_drop_input, p_drop_hidden, masks), Y)
    updates, state = rmsprop(w, pt.grad(cost, w), lr=lr, rho=rho, eps=eps)
    return compile_classifier(
        params=params,
        inputs=[X, Y],
        cost=cost,
        updates=[*updates, (noise_step, noise_step + np.int32(1))],
        optimizer_state=state,
        X_eval=X_eval,
        proba=clean_proba(X_eval, params),
        batch_size=batch_size,
        backend=backend,
        name="deep_mlp",
        noise_state=[noise_seed, noise_step],
    )


def train_deep_mlp(
    data,
    *,
    epochs: int,
    hidden: tuple[int, int],
    p_drop_input: float,
    p_drop_hidden: float,
    lr: float,
    rho: float,
    eps: float,
    batch_size: int,
    seed: int,
    backend: str,
    on_epoch=None,
    checkpointer=None,
    name: str = "deep_mlp",
):
    """Train on ``data`` (see ``prepare_mnist``); return ``{"weights", "history"}``. ``name`` names the model in
    the log and in errors."""
    weights = init_deep_mlp(seed, data["X_train"].shape[1], tuple(hidden), data["Y_train"].shape[1])
    clf = build_deep_mlp(
        weights,
        p_drop_input=p_drop_input,
        p_drop_hidden=p_drop_hidden,
        lr=lr,
        rho=rho,
        eps=eps,
        batch_size=batch_size,
        seed=seed + 1,
        backend=backend,
    )
    history = fit_classifier(clf, data, epochs=epochs, name=name, lr=lr, on_epoch=on_epoch, checkpointer=checkpointer)
    return {"weights": clf.weights(), "history": history}
