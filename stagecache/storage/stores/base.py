"""The object-store interface: conditional writes, ETags, and verified reads.

Keys are relative, ``/``-separated names (``Family/0123abcd.json``). Every write is
conditional: ``put_if_absent`` (S3 ``If-None-Match: *``) or ``put_if_match`` (S3
``If-Match: <etag>``); a lost condition raises :class:`PreconditionFailed`.
"""

from __future__ import annotations

import abc
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stagecache.storage.localfs import atomic_write_bytes

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """Any failure of an object store, with the store's location in the message."""


class PreconditionFailed(StoreError):
    """A conditional write lost: the object exists (If-None-Match) or changed (If-Match)."""


class ObjectNotFound(StoreError):
    """The key does not exist in the store."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (server down, wrong endpoint)."""


class StoreAccessDenied(StoreError):
    """The store refused the credentials (or none were found)."""


class IntegrityError(StoreError):
    """An object's bytes do not have the sha256 they were published with; they were not unpickled."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object.

    ``last_modified`` and ``observed_at`` come from the same clock (the server's for S3), so
    ``observed_at - last_modified`` is the object's age without trusting the local clock.
    """

    key: str
    etag: str
    size: int
    metadata: dict = field(default_factory=dict)
    last_modified: float = 0.0
    observed_at: float = 0.0

    @property
    def age(self) -> float:
        """Seconds since the object was last written, by the store's clock."""
        return self.observed_at - self.last_modified


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise ValueError."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}: use relative '/'-separated names without '.' or '..'")
    if any(p.startswith(".") for p in parts):
        raise ValueError(f"invalid object key {key!r}: names starting with '.' are reserved for the store")
    return key


class Store(abc.ABC):
    """An object store with conditional writes and a local verified-read cache."""

    #: Resolution (seconds) of the store's timestamps; lease expiry adds it as a margin.
    time_resolution: float = 0.0

    def __init__(self, cache_dir: Path | str | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the store is (a path or ``s3://bucket/prefix at endpoint``), for messages."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's info, or None when it does not exist."""

    @abc.abstractmethod
    def get(self, key: str) -> tuple[bytes, ObjectInfo]:
        """The object's bytes and info; :class:`ObjectNotFound` when missing."""

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes, metadata: dict | None = None) -> ObjectInfo:
        """Create ``key``; :class:`PreconditionFailed` when it already exists."""

    @abc.abstractmethod
    def put_if_match(self, key: str, data: bytes, etag: str, metadata: dict | None = None) -> ObjectInfo:
        """Replace ``key`` if its ETag is still ``etag``; else :class:`PreconditionFailed`."""

    @abc.abstractmethod
    def delete(self, key: str, if_match: str | None = None) -> None:
        """Delete ``key`` (no error when missing); with ``if_match``, only if its ETag is that."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys that start with ``prefix`` (a string prefix, as in S3), sorted."""

    def check(self) -> None:  # noqa: B027 -- optional: a store with nothing to check keeps this
        """Raise a clear :class:`StoreError` when the store cannot be used (unreachable, denied)."""

    # Verified reads ------------------------------------------------------------------------

    def _cache_path(self, sha256: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / sha256[:2] / sha256

    def read_verified(self, key: str, sha256: str) -> bytes:
        """The bytes of ``key``, checked against ``sha256``; :class:`IntegrityError` when they differ.

        With a ``cache_dir``, verified bytes are kept there under their sha256 and reused (after
        hashing them again); a cached copy that no longer matches is deleted and fetched anew.
        """
        cached = self._cache_path(sha256)
        if cached is not None and cached.is_file():
            data = cached.read_bytes()
            if sha256_bytes(data) == sha256:
                return data
            log.warning("cached copy %s of %s does not match its sha256; fetching it again", cached, key)
            cached.unlink(missing_ok=True)
        data, _ = self.get(key)
        actual = sha256_bytes(data)
        if actual != sha256:
            raise IntegrityError(f"{self.location}: object {key} has sha256 {actual}, expected {sha256}; not loaded")
        if cached is not None:
            atomic_write_bytes(cached, data)
        return data

    def load_verified(self, key: str, sha256: str):
        """``joblib.load`` of the object's bytes, only after they matched ``sha256``."""
        import joblib

        return joblib.load(io.BytesIO(self.read_verified(key, sha256)))
