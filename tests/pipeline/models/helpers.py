"""Numerical gradient checking against PyTensor's symbolic gradients, in float64."""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt


def check_grad(loss_graph, np_loss, weights: dict[str, np.ndarray], n_entries: int = 6, eps: float = 1e-6,
               rtol: float = 1e-4, seed: int = 0) -> None:
    """Compare ``pt.grad`` of ``loss_graph(params)`` with central differences of ``np_loss(weights)``.

    Both run in float64; a few random entries of every weight are checked.
    """
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    params = {k: pytensor.shared(v.copy(), name=k) for k, v in weights.items()}
    names = sorted(weights)
    grads = pytensor.function([], pt.grad(loss_graph(params), [params[k] for k in names]), mode="FAST_COMPILE")()
    rng = np.random.default_rng(seed)
    for name, grad in zip(names, grads):
        w = weights[name]
        for flat in rng.choice(w.size, size=min(n_entries, w.size), replace=False):
            idx = np.unravel_index(flat, w.shape)
            plus, minus = {k: v.copy() for k, v in weights.items()}, {k: v.copy() for k, v in weights.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            numeric = (np_loss(plus) - np_loss(minus)) / (2 * eps)
            np.testing.assert_allclose(grad[idx], numeric, rtol=rtol, atol=1e-8, err_msg=f"{name}{idx}")
