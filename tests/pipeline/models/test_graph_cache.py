"""The rewritten-graph cache: hits only for equal graphs, linked to the caller's shared variables."""

import collections
import hashlib
import logging
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from pipeline.compile import graph_cache, internals
from pipeline.compile.graph_cache import cached_function
from tests.pipeline.models.helpers import run_python

pytestmark = pytest.mark.filterwarnings("ignore:Explicitly requested dtype")  # JAX's 32-bit truncation notice


@pytest.fixture(autouse=True)
def no_jitted_functions_yet(monkeypatch):
    """Each test starts with no jitted function kept in the process (other tests may have run its graphs)."""
    monkeypatch.setattr(internals, "_jitted", collections.OrderedDict())


def sgd_graph(scale: float, n: int = 3, w0=None):
    """``loss = sum(scale * x * w)`` with the update ``w -= 0.1 * x``: a shared variable, an update, a constant."""
    x = pt.tensor("x", dtype="float32", shape=(n,))
    w = pytensor.shared(np.ones(n, dtype=np.float32) if w0 is None else w0, name="w", shape=(n,))
    return w, [x], (np.float32(scale) * x * w).sum(), [(w, w - np.float32(0.1) * x)]


def compile_sgd(directory, scale=2.0, n=3, w0=None):
    w, inputs, out, updates = sgd_graph(scale, n, w0)
    f, status = cached_function(inputs, out, updates=updates, mode="JAX", name="sgd", directory=directory)
    return w, f, status


def test_second_compile_loads_the_rewritten_graph_and_uses_its_own_shared_variable(tmp_path):
    w1, f1, s1 = compile_sgd(tmp_path)
    w2, f2, s2 = compile_sgd(tmp_path, w0=np.array([1, 2, 3], dtype=np.float32))
    assert (s1, s2) == ("miss", "hit")
    x = np.array([1, 1, 1], dtype=np.float32)
    assert float(f2(x)) == pytest.approx(2 * 6)  # the new variable's values, not the stored ones
    np.testing.assert_allclose(w2.get_value(), [0.9, 1.9, 2.9], rtol=1e-6)  # the update lands in the new variable
    np.testing.assert_allclose(w1.get_value(), [1, 1, 1])  # and nowhere else
    assert float(f1(x)) == pytest.approx(2 * 3)


def test_a_graph_linked_before_in_this_process_reuses_its_jitted_function_with_its_own_variables(tmp_path):
    """From the second hit of an entry on, the function gets the jitted function made at the first one. It is
    pure (variables are its arguments), so each function still reads and updates only its own variable."""
    x = np.array([1, 1, 1], dtype=np.float32)
    built = [compile_sgd(tmp_path, w0=np.full(3, k, dtype=np.float32)) for k in (1, 2, 3, 4)]
    assert [status for _, _, status in built] == ["miss", "hit", "reused", "reused"]
    for k, (w, f, _) in reversed(list(enumerate(built, start=1))):  # the newest first: none overwrote another
        assert float(f(x)) == pytest.approx(2 * 3 * k)
        np.testing.assert_allclose(w.get_value(), np.full(3, k - 0.1), rtol=1e-6)
    (jitted,) = internals._jitted.values()
    assert compile_sgd(tmp_path, scale=3.0)[2] == "miss" and list(internals._jitted.values()) == [jitted]


def test_other_graphs_miss(tmp_path):
    assert compile_sgd(tmp_path, scale=2.0)[2] == "miss"
    assert compile_sgd(tmp_path, scale=3.0)[2] == "miss"  # another constant
    assert compile_sgd(tmp_path, scale=2.0, n=4)[2] == "miss"  # another static shape
    assert compile_sgd(tmp_path, scale=3.0)[2] == "hit"
    assert len(list(tmp_path.glob("*.pkl.z"))) == 3


def test_off_without_a_directory():
    w, f, status = compile_sgd(None)
    assert status == "off" and float(f(np.ones(3, dtype=np.float32))) == pytest.approx(6)


def test_an_entry_of_another_graph_under_the_same_name_is_not_used(tmp_path, monkeypatch, caplog):
    """Even if two graphs' digests collided, the stored graph is compared before use."""
    monkeypatch.setattr(graph_cache, "_entry_path", lambda directory, *args: directory / "same.pkl.z")
    compile_sgd(tmp_path, scale=2.0)
    for other in (dict(scale=3.0), dict(scale=2.0, n=4)):
        with caplog.at_level(logging.INFO, logger="pipeline.compile.graph_cache"):
            w, f, status = compile_sgd(tmp_path, **other)
        assert status == "miss" and "is of another graph" in caplog.text
        n = other.get("n", 3)
        assert float(f(np.ones(n, dtype=np.float32))) == pytest.approx(other["scale"] * n)
        caplog.clear()


def test_graph_comparison_is_strict_about_static_shapes():
    def graph(n):
        w, inputs, out, updates = sgd_graph(2.0, n)
        return graph_cache._Graph(inputs, [out], updates)

    a, b, c = graph(3), graph(3), graph(4)
    assert a.same_as(b) and not a.same_as(c)


def test_an_unreadable_entry_is_deleted_and_written_again(tmp_path, caplog):
    compile_sgd(tmp_path)
    (entry,) = tmp_path.glob("*.pkl.z")
    record = entry.with_name(entry.name + ".sha256")
    cut = entry.read_bytes()[:100]
    for digest, message in (
        (None, "does not match its sha256 record"),  # cut short after its record was written
        (hashlib.sha256(cut).hexdigest(), "unusable rewritten-graph cache entry"),
    ):  # and recorded
        entry.write_bytes(cut)
        if digest:
            record.write_text(digest)
        with caplog.at_level(logging.WARNING, logger="pipeline.compile.graph_cache"):
            w, f, status = compile_sgd(tmp_path)
        assert status == "miss" and message in caplog.text
        assert float(f(np.ones(3, dtype=np.float32))) == pytest.approx(6)
        assert compile_sgd(tmp_path)[2] == "hit"
        caplog.clear()


class _CreatesAFile:
    """Unpickling this creates ``path``: what a planted cache entry could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


@pytest.mark.parametrize("record", ["kept", "missing", "forged for other bytes"])
def test_a_planted_entry_is_never_unpickled(tmp_path, caplog, record):
    """An entry replaced by a pickle that would create a file when loaded: deleted unread, compiled anew."""
    compile_sgd(tmp_path)
    (entry,) = tmp_path.glob("*.pkl.z")
    digest = entry.with_name(entry.name + ".sha256")
    marker = tmp_path / "unpickled"
    planted = zlib.compress(pickle.dumps(_CreatesAFile(marker)))
    pickle.loads(zlib.decompress(planted))  # it does what it says
    assert marker.exists()
    marker.unlink()
    entry.write_bytes(planted)
    if record == "missing":
        digest.unlink()
    elif record == "forged for other bytes":
        digest.write_text(hashlib.sha256(b"something else").hexdigest())

    with caplog.at_level(logging.WARNING, logger="pipeline.compile.graph_cache"):
        w, f, status = compile_sgd(tmp_path)
    assert not marker.exists()
    assert status == "miss" and "deleting it unread" in caplog.text
    x = np.array([1, 2, 3], dtype=np.float32)
    assert float(f(x)) == pytest.approx(2 * 6)  # computes as compiled
    np.testing.assert_allclose(w.get_value(), [0.9, 0.8, 0.7], rtol=1e-6)
    assert entry.read_bytes() != planted  # rewritten, with a record that matches it
    assert digest.read_text() == hashlib.sha256(entry.read_bytes()).hexdigest()
    assert compile_sgd(tmp_path)[2] == "hit" and not marker.exists()


def test_the_record_is_written_after_the_entry_and_pruned_with_it(tmp_path, monkeypatch):
    written = []
    real = graph_cache._write_atomically
    monkeypatch.setattr(
        graph_cache, "_write_atomically", lambda path, data: (written.append(path.name), real(path, data))
    )
    compile_sgd(tmp_path)
    (entry,) = tmp_path.glob("*.pkl.z")
    assert written == [entry.name, entry.name + ".sha256"]
    monkeypatch.setattr(graph_cache, "MAX_ENTRIES", 1)
    compile_sgd(tmp_path, scale=5.0)
    assert not entry.exists() and not entry.with_name(entry.name + ".sha256").exists()
    assert len(list(tmp_path.glob("*.sha256"))) == len(list(tmp_path.glob("*.pkl.z"))) == 1


def test_only_the_most_recently_used_entries_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_cache, "MAX_ENTRIES", 2)
    for scale in (1.0, 2.0, 3.0):
        assert compile_sgd(tmp_path, scale=scale)[2] == "miss"
    assert len(list(tmp_path.glob("*.pkl.z"))) == 2
    assert compile_sgd(tmp_path, scale=2.0)[2] == "hit"  # the oldest (1.0) went
    assert compile_sgd(tmp_path, scale=1.0)[2] == "miss"  # and takes the place of 3.0, now the least recently used
    assert compile_sgd(tmp_path, scale=2.0)[2] == "reused"  # a hit again, whose jitted function this process holds
    assert compile_sgd(tmp_path, scale=3.0)[2] == "miss"


def test_shared_values_are_not_stored(tmp_path):
    big = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)  # 400 kB, incompressible
    compile_sgd(tmp_path, n=big.size, w0=big)
    (entry,) = tmp_path.glob("*.pkl.z")
    assert entry.stat().st_size < 100_000


WARM_START = """
import sys
import numpy as np
from pipeline.compile.backend import record_compiles, use_compile_cache
from tests.pipeline.models.helpers import tiny_char_rnn
use_compile_cache(sys.argv[1])
with record_compiles() as records:
    rnn, ids = tiny_char_rnn()
    losses = [float(rnn.train_step(ids)) for _ in range(3)]
    losses.append(float(rnn.loss(ids, np.zeros((2, 8), np.float32))[0]))
print(repr({"losses": losses, "W_hh": rnn.params["W_hh"].get_value().tolist(),
            "graph_cache": [r.graph_cache for r in records]}))
"""


def test_a_warm_process_computes_exactly_what_a_cold_one_did(tmp_path):
    """The char-RNN (scan and its gradient) from the cache: same losses and weights to the last bit."""
    cold, warm = (run_python(WARM_START, str(tmp_path)) for _ in range(2))
    assert cold["graph_cache"] == ["miss", "miss"] and warm["graph_cache"] == ["hit", "hit"]
    assert warm["losses"] == cold["losses"] and warm["W_hh"] == cold["W_hh"]
