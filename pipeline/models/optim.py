"""Optimisers as lists of PyTensor updates, plus gradient clipping.

Each returns ``(updates, state)`` where ``state`` is the list of shared variables that
hold the optimiser's memory (so it can be inspected or checkpointed).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt


def _zeros_like(p):
    value = np.zeros_like(p.get_value())
    return pytensor.shared(value, name=f"{p.name}_state", shape=value.shape)


def sgd(params, grads, lr: float):
    """Plain stochastic gradient descent: ``p -= lr * g``."""
    return [(p, p - np.float32(lr) * g) for p, g in zip(params, grads)], []


def rmsprop(params, grads, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-6):
    """RMSprop as in the seeds: ``acc = rho*acc + (1-rho)*g^2; p -= lr * g / sqrt(acc + eps)``."""
    updates, state = [], []
    for p, g in zip(params, grads):
        acc = _zeros_like(p)
        acc_new = np.float32(rho) * acc + np.float32(1 - rho) * g**2
        updates += [(acc, acc_new), (p, p - np.float32(lr) * g / pt.sqrt(acc_new + np.float32(eps)))]
        state.append(acc)
    return updates, state


def adam(params, grads, lr: float = 0.002, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam with bias correction."""
    t = pytensor.shared(np.float32(0.0), name="adam_t")
    t_new = t + np.float32(1.0)
    correction = pt.sqrt(1 - np.float32(b2) ** t_new) / (1 - np.float32(b1) ** t_new)
    updates, state = [(t, t_new)], [t]
    for p, g in zip(params, grads):
        m, v = _zeros_like(p), _zeros_like(p)
        m_new = np.float32(b1) * m + np.float32(1 - b1) * g
        v_new = np.float32(b2) * v + np.float32(1 - b2) * g**2
        step = np.float32(lr) * correction * m_new / (pt.sqrt(v_new) + np.float32(eps))
        updates += [(m, m_new), (v, v_new), (p, p - step)]
        state += [m, v]
    return updates, state


OPTIMIZERS = {"sgd": sgd, "rmsprop": rmsprop, "adam": adam}


def clip_by_global_norm(grads, max_norm: float):
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm``.

    ``max_norm <= 0`` disables clipping.
    """
    if max_norm <= 0:
        return list(grads)
    norm = pt.sqrt(sum(pt.sum(g**2) for g in grads))
    scale = pt.minimum(np.float32(1.0), np.float32(max_norm) / (norm + np.float32(1e-6)))
    return [g * scale for g in grads]
