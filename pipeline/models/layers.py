"""Building blocks shared by the models: initialisation, dropout, losses."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

FLOATX = "float32"


def init_weights(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.01) -> np.ndarray:
    """Gaussian weights ``randn * scale`` in float32, as the seeds initialise them."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def shared_params(weights: dict[str, np.ndarray]) -> dict[str, pytensor.compile.SharedVariable]:
    """One PyTensor shared variable per named numpy array (copied), with its static shape.

    Static shapes let every derived shape be a constant, which the JAX backend needs.
    """
    out = {}
    for k, v in weights.items():
        value = np.array(v, dtype=FLOATX)
        out[k] = pytensor.shared(value, name=k, shape=value.shape)
    return out


def snapshot(params: dict, optimizer_state: list) -> dict:
    """Copies of the weights and the optimiser's memory, for a checkpoint."""
    return {
        "weights": {k: np.array(v.get_value()) for k, v in params.items()},
        "optimizer": [np.array(s.get_value()) for s in optimizer_state],
    }


def restore(params: dict, optimizer_state: list, state: dict) -> None:
    """Put back what :func:`snapshot` took."""
    for name, value in state["weights"].items():
        params[name].set_value(value)
    for shared, value in zip(optimizer_state, state["optimizer"], strict=True):
        shared.set_value(value)


def dropout(x, p: float, u):
    """Zero each element with probability ``p`` and rescale the rest: ``x * u``.

    ``u`` is the layer's mask from :func:`pipeline.models.noise.dropout_mask` (0 where
    dropped, the rescaling factor where kept), drawn inside the graph from a seed and a
    step counter, so the randomness is explicit and seedable. With ``p == 0`` this is
    the identity and ``u`` is not used.
    """
    if p == 0:
        return x
    return x * u


def categorical_crossentropy(logits, Y):
    """Mean over the batch of ``-sum(Y * log softmax(logits))`` (nats)."""
    return -pt.mean(pt.sum(Y * pt.special.log_softmax(logits, axis=-1), axis=-1))


def binary_crossentropy(logits, Y):
    """Mean over the batch of ``sum(-y log p - (1-y) log(1-p))`` with ``p = sigmoid(logits)``.

    Written with softplus (``-log sigmoid(z) = softplus(-z)``) so it stays finite when
    ``p`` rounds to 0 or 1.
    """
    return pt.mean(pt.sum(Y * pt.softplus(-logits) + (1 - Y) * pt.softplus(logits), axis=-1))
