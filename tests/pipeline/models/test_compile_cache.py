"""JAX's persistent compile cache: cold then warm, several processes at once, and the compile records."""

import collections
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pipeline.compile import internals
from pipeline.compile.backend import record_compiles, use_compile_cache
from pipeline.models import logreg

# A fresh process per run: JAX opens its cache once per process, which is the situation of a luigi worker.
SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from pipeline.models import logreg
    from pipeline.compile.backend import record_compiles, use_compile_cache

    cache_dir, start_at = sys.argv[1], float(sys.argv[2])
    use_compile_cache(cache_dir)
    rng = np.random.default_rng(0)
    X = rng.random((16, 20), dtype=np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=16)]
    time.sleep(max(0.0, start_at - time.time()))  # line the processes up so that they compile together
    with record_compiles() as records:
        clf = logreg.build_log_reg(logreg.init_log_reg(0, 20, 5), lr=0.5, batch_size=16, backend="jax")
        losses = [float(clf.train_step(X, Y)) for _ in range(3)]
        proba = clf.predict_proba(X)
    print(json.dumps({"records": [r.as_dict() for r in records], "losses": losses, "proba": proba.tolist()}))
""")


def _start(cache_dir, start_at=0.0):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(cache_dir), str(start_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _caches(result) -> dict:
    return {r["name"]: r["cache"] for r in result["records"]}


def test_cold_then_warm_process(tmp_path):
    cache = tmp_path / "cache"
    cold = _result(_start(cache))
    assert _caches(cold) == {"log_reg_train": "miss", "log_reg_predict": "miss"}
    assert all(r["cache_dir"] == str(cache.resolve()) and r["seconds"] > 0 for r in cold["records"])
    assert any(cache.glob("*-cache"))

    warm = _result(_start(cache))
    assert _caches(warm) == {"log_reg_train": "hit", "log_reg_predict": "hit"}
    # the cached executables compute what freshly compiled ones did
    assert warm["losses"] == cold["losses"]
    np.testing.assert_array_equal(warm["proba"], cold["proba"])


def test_processes_compiling_into_one_cache_at_once(tmp_path):
    cache = tmp_path / "cache"
    start_at = time.time() + 8  # after both have imported PyTensor and JAX
    runs = [_result(p) for p in [_start(cache, start_at) for _ in range(3)]]
    for run in runs:
        assert set(_caches(run).values()) <= {"hit", "miss"}
        assert run["losses"] == runs[0]["losses"]
    after = _result(_start(cache))
    assert _caches(after) == {"log_reg_train": "hit", "log_reg_predict": "hit"}
    assert after["losses"] == runs[0]["losses"]


def test_records_without_a_persistent_cache(tmp_path):
    use_compile_cache(None)
    rng = np.random.default_rng(1)
    X = rng.random((4, 6), dtype=np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    with record_compiles() as records:
        clf = logreg.build_log_reg(logreg.init_log_reg(0, 6, 3), lr=0.5, batch_size=4, backend="jax")
        clf.train_step(X, Y)
        clf.train_step(X, Y)  # a second call records nothing new
    assert [(r.name, r.backend, r.cache, r.cache_dir) for r in records] == [("log_reg_train", "jax", "off", None)]
    assert records[0].graph_seconds > 0 and records[0].first_call_seconds > 0


def test_a_graph_run_before_in_this_process_is_not_traced_again_and_computes_the_same(tmp_path, monkeypatch):
    """The third build of a model in one process reuses the second's jitted functions (nothing reaches the
    persistent cache: ``memory``), and trains to the same bits as the builds that compiled or loaded theirs."""
    monkeypatch.setattr(internals, "_jitted", collections.OrderedDict())  # whatever other tests ran here
    use_compile_cache(tmp_path)
    rng = np.random.default_rng(2)
    X = rng.random((8, 6), dtype=np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=8)]
    computed = []
    with record_compiles() as records:
        for _ in range(3):
            clf = logreg.build_log_reg(logreg.init_log_reg(0, 6, 3), lr=0.5, batch_size=8, backend="jax")
            computed.append(([float(clf.train_step(X, Y)) for _ in range(3)], clf.predict_proba(X).tolist()))
    assert [(r.name, r.cache, r.graph_cache) for r in records] == [
        ("log_reg_train", "miss", "miss"),
        ("log_reg_predict", "miss", "miss"),
        ("log_reg_train", "hit", "hit"),
        ("log_reg_predict", "hit", "hit"),
        ("log_reg_train", "memory", "hit"),
        ("log_reg_predict", "memory", "hit"),
    ]
    assert computed[2] == computed[1] == computed[0]
    assert records[4].first_call_seconds < records[2].first_call_seconds


def test_bad_cache_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="size limit must be > 0"):
        use_compile_cache(tmp_path, max_bytes=0)


def test_a_cache_directory_that_cannot_be_made_leaves_the_cache_off(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert use_compile_cache(blocker / "cache") is None
    assert "no persistent compile cache: cannot create" in caplog.text
    X = np.ones((4, 6), dtype=np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    with record_compiles() as records:
        clf = logreg.build_log_reg(logreg.init_log_reg(0, 6, 3), lr=0.5, batch_size=4, backend="jax")
        assert np.isfinite(float(clf.train_step(X, Y)))
    assert records[0].cache == "off"
