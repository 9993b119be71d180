"""Sampling text from trained char-RNN weights, in plain numpy."""

from __future__ import annotations

import numpy as np


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def sample_text(
    weights: dict[str, np.ndarray], vocab: list[str], *, prompt: str, length: int, temperature: float, seed: int
) -> str:
    """Feed ``prompt`` through the RNN, then draw ``length`` characters at ``temperature``."""
    if not prompt:
        raise ValueError("prompt must hold at least one character")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    index = {ch: i for i, ch in enumerate(vocab)}
    missing = sorted(set(prompt) - set(index))
    if missing:
        raise ValueError(f"prompt characters {missing!r} are not in the vocabulary")
    W_xh, b_h, W_hh, W_hy, b_y = (weights[k].astype(np.float64) for k in ("W_xh", "b_h", "W_hh", "W_hy", "b_y"))
    rng = np.random.default_rng(seed)
    h = np.zeros(W_hh.shape[0])
    for ch in prompt:
        h = np.tanh(W_xh[index[ch]] + b_h + h @ W_hh)
    out = []
    for _ in range(length):
        x = int(rng.choice(len(vocab), p=_softmax((h @ W_hy + b_y) / temperature)))
        out.append(vocab[x])
        h = np.tanh(W_xh[x] + b_h + h @ W_hh)
    return "".join(out)
