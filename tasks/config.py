"""Settings that are not any one stage's hyperparameters."""
from __future__ import annotations

import luigi


class artifacts(luigi.Config):  # noqa: N801 -- luigi names config sections after the class
    """``[artifacts]`` in luigi.cfg."""

    root = luigi.Parameter(default="artifacts", description="directory that holds every artifact, "
                                                             "or s3://bucket/prefix")
    lease_seconds = luigi.FloatParameter(
        default=60.0, description="object-store roots: a build lease not renewed for this long is taken over")


class pytensor(luigi.Config):  # noqa: N801
    """``[pytensor]`` in luigi.cfg."""

    backend = luigi.ChoiceParameter(
        default="auto", choices=["auto", "jax", "numba", "c"],
        description="how graphs are compiled: auto = jax where installed, else numba",
    )
    compile_cache = luigi.Parameter(
        default="compile_cache",
        description="directory of the JAX backend's persistent compile cache; relative paths are taken "
                    "inside the artifacts root (an object-store root: inside [object_store] cache_dir); "
                    "empty = no persistent cache",
    )
    compile_cache_max_mb = luigi.IntParameter(
        default=1024, description="size limit of the compile cache (least recently used entries go first)",
    )
    graph_cache = luigi.BoolParameter(
        default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="keep PyTensor's rewritten graphs (sha256-verified) in the compile cache",
    )
    device = luigi.ChoiceParameter(
        default="cpu", choices=["cpu", "cuda"], description="where the JAX backend runs (cuda: untested)",
    )

    def compile_cache_dir(self):
        """The compile cache directory as a Path (None when disabled)."""
        from pathlib import Path

        if not self.compile_cache.strip():
            return None
        path = Path(self.compile_cache).expanduser()
        if path.is_absolute():
            return path
        if "://" in artifacts().root:  # an object-store root: the compile cache stays on this host's disk
            from tasks.stores.config import object_store

            return Path(object_store().cache_dir).expanduser() / path
        return Path(artifacts().root) / path


class fingerprint(luigi.Config):  # noqa: N801
    """``[fingerprint]`` in luigi.cfg."""

    include_library_versions = luigi.BoolParameter(
        default=False, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="let library versions (numpy, pytensor, jax, ...) change fingerprints",
    )


class threads(luigi.Config):  # noqa: N801
    """``[threads]`` in luigi.cfg (applied by :func:`tasks.threads.limit_threads`)."""

    per_process = luigi.IntParameter(default=0, description="BLAS/OpenMP/XLA threads per process (0 = all)")
