import numpy as np
import pytest

from pipeline.compile.backend import resolve_backend
from pipeline.models import logreg
from tests.pipeline.models.helpers import run_python, tiny_char_rnn


def test_backend_names():
    assert resolve_backend("auto") == "jax"  # jax is a dependency
    assert resolve_backend("NUMBA") == "numba"
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        resolve_backend("tensorflow")


def test_numba_and_jax_backends_train_the_same_model():
    rng = np.random.default_rng(0)
    X = rng.random((8, 12), dtype=np.float32)
    Y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=8)]
    runs = {}
    for backend in ("jax", "numba"):
        clf = logreg.build_log_reg(logreg.init_log_reg(0, 12, 4), lr=0.5, batch_size=8, backend=backend)
        losses = [float(clf.train_step(X, Y)) for _ in range(5)]
        runs[backend] = (losses, clf.weights()["w"], clf.predict_proba(X))
    np.testing.assert_allclose(runs["jax"][0], runs["numba"][0], rtol=1e-5)
    np.testing.assert_allclose(runs["jax"][1], runs["numba"][1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(runs["jax"][2], runs["numba"][2], rtol=1e-5)


IMPORT_JAX_BACKEND_FIRST = """
import pytensor.link.jax.dispatch  # before pipeline.models sets floatX: PyTensor turns JAX's 64-bit types on
from tests.pipeline.models.helpers import tiny_char_rnn
rnn, ids = tiny_char_rnn()
print(repr([float(rnn.train_step(ids)) for _ in range(3)]))
"""


def test_import_order_does_not_break_the_jax_backend():
    """Importing PyTensor's JAX backend before the models must not change what they compute."""
    losses = run_python(IMPORT_JAX_BACKEND_FIRST)
    rnn, ids = tiny_char_rnn()
    expected = [float(rnn.train_step(ids)) for _ in range(3)]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
