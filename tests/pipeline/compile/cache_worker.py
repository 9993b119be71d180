"""What each process of the cache-damage tests does: train and predict with one compile cache, and report.

Run as ``python -m tests.pipeline.compile.cache_worker CACHE|none`` (one JSON line on stdout), or
through :func:`in_fresh_process`: a child forked from a server that has imported JAX, PyTensor and
the pipeline but compiled nothing, so each child starts as a new process would after its imports,
without paying for them again (about 1.3 s of CPU per process, thirty processes per run of the tests).
"""

from __future__ import annotations

import json
import logging
import sys

from tests import forkserver

_CONTEXT = forkserver.context()


class _Keep(logging.Handler):
    def __init__(self, kept: list[str]):
        super().__init__(logging.WARNING)
        self.kept = kept

    def emit(self, record):
        self.kept.append(f"{record.name}: {record.getMessage()}")


def train_and_predict(cache: str | None) -> dict:
    """Three training steps and a prediction of a tiny logistic regression, with the compile cache ``cache``."""
    import numpy as np

    from pipeline.compile.backend import record_compiles, use_compile_cache
    from pipeline.models import logreg

    warned: list[str] = []
    logging.captureWarnings(True)  # JAX's own warnings (warnings.warn) too
    logging.getLogger().addHandler(_Keep(warned))
    use_compile_cache(cache)
    rng = np.random.default_rng(0)
    X = rng.random((16, 20), dtype=np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=16)]
    with record_compiles() as records:
        clf = logreg.build_log_reg(logreg.init_log_reg(0, 20, 5), lr=0.5, batch_size=16, backend="jax")
        losses = [float(clf.train_step(X, Y)) for _ in range(3)]
        proba = clf.predict_proba(X)
    return {
        "xla": {r.name: r.cache for r in records},
        "graph": {r.name: r.graph_cache for r in records},
        "computed": {"losses": losses, "proba": proba.tolist(), "w": clf.weights()["w"].tolist()},
        "warnings": warned,
    }


def _child(cache: str | None, queue) -> None:
    queue.put(train_and_predict(cache))


def in_fresh_process(cache: str | None, timeout: float = 300) -> dict:
    """:func:`train_and_predict` in a new process forked from the preloaded server."""
    queue = _CONTEXT.Queue()
    process = _CONTEXT.Process(target=_child, args=(cache, queue))
    process.start()
    try:
        result = queue.get(timeout=timeout)
    finally:
        process.join(timeout)
    assert process.exitcode == 0, f"the child exited with {process.exitcode}"
    return result


if __name__ == "__main__":
    print(json.dumps(train_and_predict(None if sys.argv[1] == "none" else sys.argv[1])))
