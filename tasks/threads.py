"""Threads per process, set before numpy or JAX start their pools, so that several luigi workers do not oversubscribe cores."""

from __future__ import annotations

import os

from tasks.config import threads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads() -> int:
    """Apply ``[threads] per_process`` from luigi.cfg (0 = leave the libraries' defaults).

    Sets the BLAS/OpenMP variables, without overriding values already present in the
    environment. XLA's thread pool (the JAX backend) is sized when a stage first compiles, by
    :func:`size_xla_pool`. Returns the setting.
    """
    per_process = threads().per_process
    if per_process > 0:
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, str(per_process))
    return per_process


def size_xla_pool() -> None:
    """Give XLA's CPU thread pool ``[threads] per_process`` threads, before this process first uses JAX."""
    per_process = threads().per_process
    if per_process > 0:
        from pipeline.compile.placement import limit_cpu_threads

        limit_cpu_threads(per_process)
