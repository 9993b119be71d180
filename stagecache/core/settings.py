"""The engine's settings in luigi.cfg: ``[artifacts]``, ``[fingerprint]``, ``[s3]`` and ``[object_store]``."""

from __future__ import annotations

import luigi


class artifacts(luigi.Config):
    """``[artifacts]`` in luigi.cfg."""

    root = luigi.Parameter(
        default="artifacts", description="directory that holds every artifact, or s3://bucket/prefix"
    )
    lease_seconds = luigi.FloatParameter(
        default=60.0, description="object-store roots: a build lease not renewed for this long is taken over"
    )

    def validate(self) -> None:
        from stagecache.core import ranges

        ranges.positive(self, lease_seconds=self.lease_seconds)


class fingerprint(luigi.Config):
    """``[fingerprint]`` in luigi.cfg."""

    include_library_versions = luigi.BoolParameter(
        default=False,
        parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="let library versions (numpy, pytensor, jax, ...) change fingerprints",
    )


class s3(luigi.Config):
    """``[s3]``: read as luigi's own S3 client reads it (``endpoint_url``, ``region_name``)."""

    endpoint_url = luigi.Parameter(default="", description="S3-compatible endpoint; empty = AWS")
    region_name = luigi.Parameter(default="", description="region; empty = the AWS chain's default")


class object_store(luigi.Config):
    """``[object_store]``: host-local settings of an object-store artifact root."""

    cache_dir = luigi.Parameter(
        default=".store_cache",
        description="this host's verified download cache (relative = from the working directory)",
    )
