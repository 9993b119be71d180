import numpy as np
import pytensor
import pytensor.tensor as pt

from pipeline.models.optim import adam, clip_by_global_norm, rmsprop, sgd

G = np.array([0.5, -2.0, 3.0])
P0 = np.array([1.0, 2.0, -1.0])


def _one_step(optimizer, steps=1, **kw):
    p = pytensor.shared(P0.copy(), name="p")
    g = pt.as_tensor(G)
    updates, state = optimizer([p], [g], **kw)
    f = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    for _ in range(steps):
        f()
    return p.get_value(), state


def test_sgd():
    p, state = _one_step(sgd, lr=0.1)
    np.testing.assert_allclose(p, P0 - 0.1 * G)
    assert state == []


def test_rmsprop_matches_the_seed_formula_over_two_steps():
    p, state = _one_step(rmsprop, steps=2, lr=0.001, rho=0.9, eps=1e-6)
    acc, ref = np.zeros(3), P0.copy()
    for _ in range(2):
        acc = 0.9 * acc + 0.1 * G**2
        ref = ref - 0.001 * G / np.sqrt(acc + 1e-6)
    np.testing.assert_allclose(p, ref, rtol=1e-6)
    np.testing.assert_allclose(state[0].get_value(), acc, rtol=1e-6)


def test_adam_matches_reference_over_three_steps():
    p, _ = _one_step(adam, steps=3, lr=0.01)
    m = v = np.zeros(3)
    ref = P0.copy()
    for t in range(1, 4):
        m = 0.9 * m + 0.1 * G
        v = 0.999 * v + 0.001 * G**2
        ref = ref - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(p, ref, rtol=1e-5)


def test_clip_by_global_norm():
    grads = [pt.as_tensor(np.array([3.0, 0.0])), pt.as_tensor(np.array([[4.0]]))]  # norm 5
    clipped = [g.eval() for g in clip_by_global_norm(grads, 1.0)]
    np.testing.assert_allclose(clipped[0], [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(clipped[1], [[0.8]], rtol=1e-5)
    unclipped = [g.eval() for g in clip_by_global_norm(grads, 10.0)]
    np.testing.assert_allclose(unclipped[0], [3.0, 0.0], rtol=1e-5)
    assert clip_by_global_norm(grads, 0) == grads
