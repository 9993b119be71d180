import numpy as np
import pytest

from pipeline.data.moons import grid, make_moons
from pipeline.models.moons import train_moons_mlp, with_bias_input


def test_moons_are_seeded_balanced_and_shaped():
    X, y = make_moons(101, 0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [50, 51]
    X2, y2 = make_moons(101, 0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    # without noise every point lies on its half circle
    X0, y0 = make_moons(50, 0.0, seed=0)
    upper = X0[y0 == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="noise"):
        make_moons(10, -1.0, 0)


def test_grid_covers_the_points():
    X = np.array([[0.0, 0.0], [1.0, 2.0]], dtype=np.float32)
    xx, yy, pts = grid(X, steps=5, margin=0.5)
    assert xx.shape == (5, 5) and pts.shape == (25, 2)
    assert pts[:, 0].min() == -0.5 and pts[:, 1].max() == 2.5
    np.testing.assert_array_equal(with_bias_input(X)[:, 2], [1.0, 1.0])


def test_simple_net_learns_a_curved_boundary():
    out = train_moons_mlp(
        n_train=400, n_test=200, noise=0.1, epochs=60, hidden=16, lr=1.0, batch_size=20, seed=0, backend="jax"
    )
    assert out["history"]["test_accuracy"][-1] > 0.9
    p1 = out["grid"]["p1"]
    assert p1.shape == out["grid"]["xx"].shape and p1.min() >= 0.0 and p1.max() <= 1.0
