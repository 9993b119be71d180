"""The fork server of a test process, shared by every test module that starts processes from it.

A process has one fork server, started on first use with the preload list in effect then. Each
module used to set its own list at import, replacing the others' (the last module collected won), so
in a whole-suite run the cache-damage children imported JAX and PyTensor themselves, several
seconds each. Every such module takes its context from here, where the list is the union.
"""

from __future__ import annotations

import multiprocessing

#: What the children of tests/stores (the store workers) and tests/pipeline/compile (JAX, PyTensor and
#: the pipeline, imported but nothing compiled) start with.
PRELOAD = ["tests.stores.workers", "numpy", "jax", "pytensor", "pipeline.models.logreg", "pipeline.compile.backend"]


def context():
    """The forkserver context, with :data:`PRELOAD` (effective until the server has started)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx
