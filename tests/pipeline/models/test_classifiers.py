import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from pipeline.compile.backend import compile_function
from pipeline.models import deep_mlp, logreg, mlp, noise
from pipeline.models.classifier import compile_predictor
from pipeline.models.layers import binary_crossentropy, categorical_crossentropy, dropout
from tests.pipeline.models.helpers import check_grad

RNG = np.random.default_rng(0)
X = RNG.random((7, 12))
LABELS = RNG.integers(0, 4, size=7)
Y = np.eye(4)[LABELS]


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_logreg_loss(w):
    p = np_sigmoid(X @ w["w"])
    return np.mean(np.sum(-Y * np.log(p) - (1 - Y) * np.log(1 - p), axis=1))


def np_mlp_proba(w, A=X):
    return np_softmax(np_sigmoid(A @ w["w_h"]) @ w["w_o"])


def np_deep_proba(w, A=X):
    h = np.maximum(A @ w["w_h"], 0)
    return np_softmax(np.maximum(h @ w["w_h2"], 0) @ w["w_o"])


def np_xent(proba):
    return np.mean(-np.sum(Y * np.log(proba), axis=1))


def scaled(weights, scale=30.0):
    """Weights large enough that the gradients are not tiny."""
    return {k: v.astype(np.float64) * scale for k, v in weights.items()}


def test_logreg_forward_and_gradient():
    w = scaled(logreg.init_log_reg(1, 12, 4))
    predict = compile_predictor(w, logreg.clean_proba, backend="jax")
    np.testing.assert_allclose(predict(X.astype(np.float32)), np_sigmoid(X @ w["w"]), rtol=1e-5)
    check_grad(lambda p: binary_crossentropy(logreg.model(pt.as_tensor(X), p["w"]), pt.as_tensor(Y)), np_logreg_loss, w)


def test_mlp_forward_and_gradient():
    w = scaled(mlp.init_mlp(1, 12, 9, 4))
    predict = compile_predictor(w, mlp.clean_proba, backend="jax")
    np.testing.assert_allclose(predict(X.astype(np.float32)), np_mlp_proba(w), rtol=1e-5, atol=1e-7)
    check_grad(
        lambda p: categorical_crossentropy(mlp.model(pt.as_tensor(X), p["w_h"], p["w_o"]), pt.as_tensor(Y)),
        lambda w: np_xent(np_mlp_proba(w)),
        w,
    )


def test_deep_mlp_clean_forward_and_gradient():
    w = scaled(deep_mlp.init_deep_mlp(1, 12, (9, 8), 4), 10.0)
    predict = compile_predictor(w, deep_mlp.clean_proba, backend="jax")
    np.testing.assert_allclose(predict(X.astype(np.float32)), np_deep_proba(w), rtol=1e-5, atol=1e-7)

    def graph(p):
        logits = deep_mlp.model(pt.as_tensor(X), p["w_h"], p["w_h2"], p["w_o"], 0.0, 0.0)
        return categorical_crossentropy(logits, pt.as_tensor(Y))

    check_grad(graph, lambda w: np_xent(np_deep_proba(w)), w)


def test_stable_losses_stay_finite_at_saturation():
    z = pt.as_tensor(np.array([[60.0, -60.0]]))
    y = pt.as_tensor(np.array([[0.0, 1.0]]))
    assert np.isfinite(binary_crossentropy(z, y).eval())
    assert np.isfinite(categorical_crossentropy(pt.as_tensor(np.array([[200.0, -200.0]])), y).eval())


def test_dropout_multiplies_by_its_mask_and_is_the_identity_without_dropout():
    x = pt.tensor("x", dtype="float32", shape=(200, 100))
    mask = noise.dropout_mask(np.uint32(3), np.int32(0), (200, 100), 0.7, 0)
    out = pytensor.function([x], dropout(x, 0.3, mask), mode="FAST_COMPILE")(np.full((200, 100), 2.0, np.float32))
    assert abs((out == 0).mean() - 0.3) < 0.02
    np.testing.assert_allclose(out[out != 0], 2.0 * 65536 / noise.threshold(0.7), rtol=1e-6)
    assert dropout(x, 0.0, mask) is x


@pytest.mark.parametrize("keep", [0.5, 0.8, 0.3])
def test_dropout_masks_keep_at_their_rate_and_differ_by_step_stream_and_seed(keep):
    seed, step = pt.scalar("seed", dtype="uint32"), pt.scalar("step", dtype="int32")
    f = pytensor.function([seed, step], [noise.dropout_mask(seed, step, (128, 784), keep, s) for s in (0, 1)])
    a, b = (np.asarray(m) for m in f(np.uint32(1), np.int32(5)))
    assert abs((a > 0).mean() - keep) < 0.005
    assert abs(a.mean() - 1.0) < 0.01  # kept elements are rescaled: the mean stays 1
    assert set(np.unique(a)) == {0.0, np.float32(65536 / noise.threshold(keep))}
    for other in (b, f(np.uint32(1), np.int32(6))[0], f(np.uint32(2), np.int32(5))[0]):
        assert abs(((a > 0) == (np.asarray(other) > 0)).mean() - (keep**2 + (1 - keep) ** 2)) < 0.005  # independent
    np.testing.assert_array_equal(a, f(np.uint32(1), np.int32(5))[0])
    # no visible structure along rows or columns
    assert np.abs((a > 0).mean(axis=0) - keep).max() < 0.2 and np.abs((a > 0).mean(axis=1) - keep).max() < 0.1


@pytest.mark.parametrize("backend", ["jax", "numba", "c"])
def test_dropout_masks_are_the_same_in_numpy_and_jax(backend):
    seed, step = pt.scalar("seed", dtype="uint32"), pt.scalar("step", dtype="int32")
    f = compile_function([seed, step], noise.dropout_mask(seed, step, (7, 13), 0.8, 2), backend=backend)
    for seed, step in ((9, 2**31 - 1), (2**32 - 1, 0), (0, 12345)):
        expected = noise.DropoutMask((7, 13), 0.8, 2).perform_numpy(np.uint32(seed), np.int32(step))
        np.testing.assert_array_equal(np.asarray(f(np.uint32(seed), np.int32(step))), expected)


def test_deep_mlp_step_advances_the_noise_counter_and_restoring_it_repeats_the_masks():
    w = deep_mlp.init_deep_mlp(0, 12, (9, 8), 4)
    clf = deep_mlp.build_deep_mlp(
        w, p_drop_input=0.2, p_drop_hidden=0.5, lr=0.01, rho=0.9, eps=1e-6, batch_size=7, seed=1, backend="jax"
    )
    state = clf.get_state()
    assert state["noise"] == [1, 0]
    a = float(clf.train_step(X.astype(np.float32), Y.astype(np.float32)))
    assert clf.get_state()["noise"] == [1, 1]
    clf.set_state(state)
    b = float(clf.train_step(X.astype(np.float32), Y.astype(np.float32)))
    c = float(clf.train_step(X.astype(np.float32), Y.astype(np.float32)))
    assert a == b != c  # restored state repeats the same noise; the next step draws new noise
    with pytest.raises(ValueError, match="no noise counter"):
        clf.set_state({k: v for k, v in state.items() if k != "noise"})


@pytest.mark.parametrize("build", ["logreg", "mlp", "deep"])
def test_training_steps_reduce_the_loss_on_a_tiny_batch(build):
    Xb = RNG.random((16, 12)).astype(np.float32)
    Yb = np.eye(4, dtype=np.float32)[Xb[:, :4].argmax(axis=1)]  # learnable: the label is in the input
    if build == "logreg":
        clf = logreg.build_log_reg(logreg.init_log_reg(0, 12, 4), lr=0.5, batch_size=16, backend="jax")
    elif build == "mlp":
        clf = mlp.build_mlp(mlp.init_mlp(0, 12, 32, 4), lr=2.0, batch_size=16, backend="jax")
    else:
        clf = deep_mlp.build_deep_mlp(
            deep_mlp.init_deep_mlp(0, 12, (32, 32), 4),
            p_drop_input=0.0,
            p_drop_hidden=0.1,
            lr=0.01,
            rho=0.9,
            eps=1e-6,
            batch_size=16,
            seed=1,
            backend="jax",
        )
    losses = [float(clf.train_step(Xb, Yb)) for _ in range(200)]
    assert losses[-1] < 0.7 * losses[0]
    assert clf.predict(Xb).shape == (16,)


def test_deep_mlp_training_is_deterministic_for_a_seed():
    Xb = RNG.random((16, 12)).astype(np.float32)
    Yb = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, size=16)]

    def run(seed):
        clf = deep_mlp.build_deep_mlp(
            deep_mlp.init_deep_mlp(0, 12, (16, 16), 4),
            p_drop_input=0.2,
            p_drop_hidden=0.5,
            lr=0.01,
            rho=0.9,
            eps=1e-6,
            batch_size=16,
            seed=seed,
            backend="jax",
        )
        return [float(clf.train_step(Xb, Yb)) for _ in range(5)], clf.weights()

    (a, wa), (b, wb), (c, _) = run(1), run(1), run(2)
    assert a == b
    np.testing.assert_array_equal(wa["w_h"], wb["w_h"])
    assert a != c
