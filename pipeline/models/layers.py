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


def dropout(x, p: float, rng):
    """Zero each element with probability ``p`` and rescale by ``1/(1-p)``.

    Returns ``(x_dropped, next_rng)``; with ``p == 0`` it is the identity. The mask is
    ``uniform < keep``, which is much cheaper than a binomial draw in PyTensor.
    """
    if p == 0:
        return x, rng
    keep = np.float32(1.0 - p)
    next_rng, u = pt.random.uniform(size=x.shape, rng=rng, dtype=FLOATX, return_next_rng=True)
    return x * pt.cast(pt.lt(u, keep), FLOATX) / keep, next_rng


def categorical_crossentropy(logits, Y):
    """Mean over the batch of ``-sum(Y * log softmax(logits))`` (nats)."""
    return -pt.mean(pt.sum(Y * pt.special.log_softmax(logits, axis=-1), axis=-1))


def binary_crossentropy(logits, Y):
    """Mean over the batch of ``sum(-y log p - (1-y) log(1-p))`` with ``p = sigmoid(logits)``.

    Written with softplus (``-log sigmoid(z) = softplus(-z)``) so it stays finite when
    ``p`` rounds to 0 or 1.
    """
    return pt.mean(pt.sum(Y * pt.softplus(-logits) + (1 - Y) * pt.softplus(logits), axis=-1))
