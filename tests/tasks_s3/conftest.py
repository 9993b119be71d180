"""The pipeline on an ``s3://`` artifact root: a real SeaweedFS server (the fixture of tests/stores)
and the tiny-data luigi configuration of tests/tasks, pointed at a fresh prefix of its bucket."""

from __future__ import annotations

import uuid

import pytest

from stagecache.storage.roots.bucket_claims import release_claims
from tests.stores.conftest import BUCKET, seaweed  # noqa: F401 -- the package's own server
from tests.tasks.conftest import pipeline, session_compile_cache  # noqa: F401

LEASE_SECONDS = 3


@pytest.fixture
def s3pipeline(pipeline, seaweed, tmp_path):  # noqa: F811
    """The tiny pipeline with ``[artifacts] root = s3://artifacts/<fresh prefix>``, a 3 s lease, and this
    host's verified cache (and so its compile cache) under ``tmp_path/host``."""
    prefix = uuid.uuid4().hex[:12]
    pipeline.set("artifacts", "root", f"s3://{BUCKET}/{prefix}")
    pipeline.set("artifacts", "lease_seconds", str(LEASE_SECONDS))
    pipeline.set("s3", "endpoint_url", seaweed.endpoint)
    pipeline.set("s3", "region_name", "us-east-1")
    pipeline.set("object_store", "cache_dir", str(tmp_path / "host" / "cache"))
    # the test session's shared compile cache stays: a compile cache is per host and never in the bucket
    # (tests/tasks_s3/test_s3_root.py checks the default, relative one on its own)
    pipeline.store = seaweed.store(prefix)
    pipeline.seaweed = seaweed
    yield pipeline
    release_claims()  # this test's claims, while its server still answers (the process outlives the test)
