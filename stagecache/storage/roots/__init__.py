"""Artifact roots: the one interface (:class:`Root`) served by a directory and by an S3-compatible bucket.

:func:`configured_root` opens the root that ``[artifacts] root`` names. This package is the only
place that tells the two kinds apart.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from stagecache.storage.roots.base import ArtifactCorruptError, ArtifactTarget, Root, StoredArtifact, parse_reference

log = logging.getLogger(__name__)
#: Exit code of a run that cannot use its object store (server down, wrong credentials, no bucket).
STORE_ERROR_EXIT = 50

_roots: dict[tuple, Root] = {}
_roots_lock = threading.Lock()


def root_kind(root: str) -> str:
    """``"store"`` when ``[artifacts] root`` names an object store (``s3://...``), else ``"directory"``."""
    return "store" if "://" in str(root) else "directory"


def host_local_dir(path: Path) -> Path:
    """Where a relative host-local directory (a cache) lives: inside a directory root, or inside
    ``[object_store] cache_dir`` on this host when the root is an object store."""
    from stagecache.core.settings import artifacts, object_store

    if root_kind(artifacts().root) == "store":
        return Path(object_store().cache_dir).expanduser() / path
    return Path(artifacts().root) / path


def lease_seconds() -> float:
    """``[artifacts] lease_seconds``, checked."""
    from stagecache.core.settings import artifacts

    seconds = float(artifacts().lease_seconds)
    if not seconds > 0:
        raise ValueError(f"[artifacts] lease_seconds must be > 0, got {seconds}")
    return seconds


def configured_root() -> Root:
    """The root of ``[artifacts] root``, opened once per process and configuration.

    An object store that cannot be used (server down, wrong credentials, missing bucket) stops
    the process with one line naming it and exit code :data:`STORE_ERROR_EXIT`: nothing is read
    or written, so no partial artifact can appear.
    """
    from stagecache.core.settings import artifacts

    setting = artifacts().root
    if root_kind(setting) == "directory":
        return _cached(("directory", setting), lambda: _directory(setting))
    from stagecache.core.settings import object_store, s3

    settings = s3()
    # per process: luigi's --workers N forks a process per task, and a client's pooled connections
    # must not be shared across a fork
    key = (
        os.getpid(),
        setting,
        settings.endpoint_url,
        settings.region_name,
        object_store().cache_dir,
        artifacts().lease_seconds,
    )
    return _cached(key, lambda: _bucket(setting))


def _cached(key: tuple, make) -> Root:
    with _roots_lock:
        root = _roots.get(key)
        if root is None:
            root = _roots[key] = make()
        return root


def _directory(setting: str) -> Root:
    from stagecache.storage.roots.directory import DirectoryRoot

    return DirectoryRoot(Path(setting))


def _bucket(setting: str) -> Root:
    from stagecache.storage.roots.bucket import BucketRoot
    from stagecache.storage.stores.base import StoreError
    from stagecache.storage.stores.config import StoreConfigError, store_from_config

    try:
        store = store_from_config()
        store.check()
    except (StoreError, StoreConfigError) as exc:
        log.critical("error: artifact store unusable: %s", exc)
        raise SystemExit(STORE_ERROR_EXIT) from None
    return BucketRoot(store, setting, lease_seconds=lease_seconds())


def configured_store():
    """The object store behind an ``s3://`` root (for tests and tools that work on raw keys)."""
    return configured_root().store  # type: ignore[attr-defined]


__all__ = [
    "STORE_ERROR_EXIT",
    "ArtifactCorruptError",
    "ArtifactTarget",
    "Root",
    "StoredArtifact",
    "configured_root",
    "configured_store",
    "host_local_dir",
    "lease_seconds",
    "parse_reference",
    "root_kind",
]
