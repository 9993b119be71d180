"""Test helpers: numerical gradient checks in float64, a tiny char-RNN, and fresh-process runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt


def check_grad(
    loss_graph,
    np_loss,
    weights: dict[str, np.ndarray],
    n_entries: int = 6,
    eps: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
) -> None:
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


ROOT = Path(__file__).resolve().parents[3]


def tiny_char_rnn():
    """A 5-character, 8-unit char-RNN (Adam, JAX backend) and a batch of ids for it: compiles in seconds."""
    from pipeline.models import char_rnn  # here, not at the top: a caller may import PyTensor's JAX backend first

    rnn = char_rnn.build_char_rnn(
        char_rnn.init_char_rnn(0, 5, 8), seq_len=4, batch_size=2, optimizer="adam", lr=0.01, clip=5.0, backend="jax"
    )
    return rnn, np.arange(10, dtype=np.int32).reshape(5, 2) % 5


def run_python(code: str, *args: str):
    """Run ``code`` in a fresh Python process at the project root; the literal its last output line prints."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])
