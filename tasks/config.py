"""This pipeline's settings that are not any one stage's hyperparameters (the engine's are in
:mod:`stagecache.core.settings`)."""

from __future__ import annotations

import luigi

from stagecache.core import ranges
from stagecache.storage.roots import host_local_dir


class pytensor(luigi.Config):
    """``[pytensor]`` in luigi.cfg."""

    backend = luigi.ChoiceParameter(
        default="auto",
        choices=["auto", "jax", "numba", "c"],
        description="how graphs are compiled: auto = jax where installed, else numba",
    )
    compile_cache = luigi.Parameter(
        default="compile_cache",
        description="directory of the JAX backend's persistent compile cache; relative paths are taken "
        "inside the artifacts root (an object-store root: inside [object_store] cache_dir); "
        "empty = no persistent cache",
    )
    compile_cache_max_mb = luigi.IntParameter(
        default=1024,
        description="size limit of the compile cache (least recently used entries go first)",
    )
    graph_cache = luigi.BoolParameter(
        default=True,
        parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="keep PyTensor's rewritten graphs (sha256-verified) in the compile cache",
    )
    device = luigi.ChoiceParameter(
        default="cpu",
        choices=["cpu", "cuda"],
        description="where the JAX backend runs (cuda: untested)",
    )

    def validate(self) -> None:
        ranges.positive(self, integer=True, compile_cache_max_mb=self.compile_cache_max_mb)

    def compile_cache_dir(self):
        """The compile cache directory as a Path (None when disabled)."""
        from pathlib import Path

        if not self.compile_cache.strip():
            return None
        path = Path(self.compile_cache).expanduser()
        if path.is_absolute():
            return path
        return host_local_dir(path)


class threads(luigi.Config):
    """``[threads]`` in luigi.cfg (applied by :func:`tasks.threads.limit_threads`)."""

    per_process = luigi.IntParameter(default=0, description="BLAS/OpenMP/XLA threads per process (0 = all)")

    def validate(self) -> None:
        ranges.at_least(self, 0, per_process=self.per_process)
