"""Settings that are not any one stage's hyperparameters."""
from __future__ import annotations

import luigi


class artifacts(luigi.Config):  # noqa: N801 -- luigi names config sections after the class
    """``[artifacts]`` in luigi.cfg."""

    root = luigi.Parameter(default="artifacts", description="directory that holds every artifact")


class pytensor(luigi.Config):  # noqa: N801
    """``[pytensor]`` in luigi.cfg."""

    backend = luigi.ChoiceParameter(
        default="auto", choices=["auto", "jax", "numba", "c"],
        description="how graphs are compiled: auto = jax where installed, else numba",
    )


class fingerprint(luigi.Config):  # noqa: N801
    """``[fingerprint]`` in luigi.cfg."""

    include_library_versions = luigi.BoolParameter(
        default=False, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="let library versions (numpy, pytensor, jax, ...) change fingerprints",
    )


class threads(luigi.Config):  # noqa: N801
    """``[threads]`` in luigi.cfg (applied by :func:`tasks.threads.limit_threads`)."""

    per_process = luigi.IntParameter(default=0, description="BLAS/OpenMP/XLA threads per process (0 = all)")
