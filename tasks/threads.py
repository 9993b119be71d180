"""Threads per process, set before numpy or JAX load, so that several luigi workers do not oversubscribe cores."""

from __future__ import annotations

import os

from tasks.config import threads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads() -> int:
    """Apply ``[threads] per_process`` from luigi.cfg (0 = leave the libraries' defaults).

    Sets the BLAS/OpenMP variables and makes XLA (the JAX backend) use that many threads,
    without overriding values already present in the environment. Returns the setting.
    """
    per_process = threads().per_process
    if per_process > 0:
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, str(per_process))
        if "XLA_FLAGS" not in os.environ:
            os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={per_process}"
    return per_process
