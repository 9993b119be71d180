"""The pipeline's training reproduces the seeds' update rule step for step (numpy, float64 reference)."""

import numpy as np

from pipeline.data.mnist import one_hot
from pipeline.models.mlp import init_mlp, train_mlp


def seed_simple_net_epoch(X, Y, w_h, w_o, lr, batch):
    """One epoch of the seed's 3_net.py: sigmoid hidden, softmax, mean cross-entropy, SGD, no shuffling."""
    for start, end in zip(range(0, len(X), batch), range(batch, len(X), batch)):
        xb, yb = X[start:end], Y[start:end]
        h = 1 / (1 + np.exp(-(xb @ w_h)))
        z = h @ w_o
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - yb) / len(xb)
        dh = dz @ w_o.T * h * (1 - h)
        w_o, w_h = w_o - lr * h.T @ dz, w_h - lr * xb.T @ dh
    return w_h, w_o


def test_simple_net_matches_the_seed_update_rule():
    rng = np.random.default_rng(5)
    n, n_in, hidden = 300, 20, 16  # 300 // 64 = 4 batches; the last partial batch is skipped as in the seed
    labels = rng.integers(0, 10, size=n)
    X = (rng.random((n, n_in)) + labels[:, None] / 10).astype(np.float32)
    data = {"X_train": X, "Y_train": one_hot(labels), "X_test": X[:50], "y_test": labels[:50]}
    out = train_mlp(data, epochs=2, hidden=hidden, lr=0.5, batch_size=64, seed=3, backend="jax")

    w = init_mlp(3, n_in, hidden, 10)
    w_h, w_o = w["w_h"].astype(np.float64), w["w_o"].astype(np.float64)
    for _ in range(2):
        w_h, w_o = seed_simple_net_epoch(X.astype(np.float64), one_hot(labels).astype(np.float64), w_h, w_o, 0.5, 64)
    np.testing.assert_allclose(out["weights"]["w_h"], w_h, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["weights"]["w_o"], w_o, rtol=1e-4, atol=1e-6)
