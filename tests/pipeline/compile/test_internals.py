"""The internals adapter: versions outside the tested range turn a cache off, with one warning, never a crash."""

import logging

import numpy as np
import pytest

from pipeline.compile import backend, internals
from pipeline.models import logreg
from tests.pipeline.models.test_graph_cache import compile_sgd

pytestmark = pytest.mark.filterwarnings("ignore:Explicitly requested dtype")


@pytest.fixture
def installed(monkeypatch):
    """Pretend other versions are installed: ``installed(jax="1.0.0")``."""
    real = internals.installed_version

    def pretend(**versions):
        monkeypatch.setattr(internals, "installed_version", lambda name: versions.get(name, real(name)))
        internals.support.cache_clear()

    internals.support.cache_clear()
    yield pretend
    internals.support.cache_clear()
    backend.use_compile_cache(None)


def _warnings(caplog):
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "pipeline.compile.internals" and r.levelno == logging.WARNING
    ]


def test_version_ranges():
    assert internals.in_range("3.0.7", "3.0.7", "4") and internals.in_range("3.9.0rc1", "3.0.7", "4")
    assert not internals.in_range("3.0.6", "3.0.7", "4") and not internals.in_range("4.0.0", "3.0.7", "4")
    assert internals.in_range("0.10.2", "0.10.2", "1") and not internals.in_range("1.0", "0.10.2", "1")
    assert not internals.in_range(None, "0", "1") and not internals.in_range("nightly", "0", "1")


def test_the_installed_versions_are_supported(installed, caplog):
    with caplog.at_level(logging.WARNING):
        assert internals.support() == internals.Support(xla_cache=True, graph_cache=True)
    assert _warnings(caplog) == []


def test_an_untested_jax_turns_the_xla_cache_off_with_one_warning(installed, tmp_path, caplog):
    installed(jax="1.2.0")
    X = np.ones((4, 6), dtype=np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    with caplog.at_level(logging.WARNING):
        assert backend.use_compile_cache(tmp_path / "cache") is None
        assert backend.use_compile_cache(tmp_path / "cache") is None
        with backend.record_compiles() as records:
            clf = logreg.build_log_reg(logreg.init_log_reg(0, 6, 3), lr=0.5, batch_size=4, backend="jax")
            loss = float(clf.train_step(X, Y))
    (warning,) = _warnings(caplog)
    assert "jax 1.2.0" in warning and "jax >=0.10.2,<1" in warning and "XLA cache off" in warning
    assert not (tmp_path / "cache").exists()
    assert [(r.cache, r.graph_cache) for r in records] == [("off", "off")]

    installed()  # the same model with the caches on computes the same loss
    backend.use_compile_cache(tmp_path / "cache")
    clf = logreg.build_log_reg(logreg.init_log_reg(0, 6, 3), lr=0.5, batch_size=4, backend="jax")
    assert float(clf.train_step(X, Y)) == loss


def test_an_untested_pytensor_turns_the_graph_cache_off_with_one_warning(installed, tmp_path, caplog):
    installed(pytensor="4.0.0")
    with caplog.at_level(logging.WARNING):
        results = [compile_sgd(tmp_path) for _ in range(2)]
    assert [status for _, _, status in results] == ["off", "off"]
    assert float(results[0][1](np.ones(3, dtype=np.float32))) == pytest.approx(6)
    assert list(tmp_path.iterdir()) == []
    (warning,) = _warnings(caplog)
    assert "pytensor 4.0.0" in warning and "rewritten-graph cache off" in warning


def test_a_missing_internal_turns_the_graph_cache_off(installed, tmp_path, monkeypatch, caplog):
    def moved():
        raise ImportError("No module named 'pytensor.graph.traversal'")

    monkeypatch.setattr(internals, "graph_tools", moved)
    with caplog.at_level(logging.WARNING):
        w, f, status = compile_sgd(tmp_path)
    assert status == "off" and float(f(np.ones(3, dtype=np.float32))) == pytest.approx(6)
    assert "PyTensor's graph traversal is not available" in caplog.text


def test_the_graph_cache_switch(installed, tmp_path):
    X = np.ones((4, 6), dtype=np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    for switch, expected in ((False, "off"), (True, "miss")):
        backend.use_compile_cache(tmp_path / "cache", graph_cache=switch)
        with backend.record_compiles() as records:
            clf = logreg.build_log_reg(logreg.init_log_reg(0, 6, 3), lr=0.5, batch_size=4, backend="jax")
            clf.train_step(X, Y)
        assert records[0].graph_cache == expected
    assert any((tmp_path / "cache" / backend.GRAPH_CACHE_SUBDIR).glob("*.pkl.z"))
