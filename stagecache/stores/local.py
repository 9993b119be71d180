"""The object store in a local directory (or a shared file system with working ``flock``).

An object is the file ``<root>/<key>``; its ETag is the sha256 of its content. Its metadata
lives in ``<root>/.store/meta/<key>.json`` with the ETag it belongs to. Conditional writes
hold an exclusive ``flock`` on a per-key lock file, write a temporary file beside the
target, fsync it, and then link it into place (``put_if_absent``: ``link`` fails when the
target exists, even against a writer that ignores the lock) or rename it (``put_if_match``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stagecache.localfs import fsync_dir
from stagecache.stores.base import (
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    Store,
    StoreUnavailable,
    check_key,
    sha256_bytes,
)

log = logging.getLogger(__name__)
STORE_DIR = ".store"
TMP_PREFIX = ".tmp-"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class LocalStore(Store):
    """Objects as files under ``root``."""

    def __init__(self, root: Path | str, cache_dir: Path | str | None = None):
        super().__init__(cache_dir)
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"artifact root {self.root} cannot be created: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"artifact root {self.root} is not writable")

    # Paths ------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / STORE_DIR / "meta" / f"{key}.json"

    @contextlib.contextmanager
    def _locked(self, key: str, exclusive: bool):
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        path = self.root / STORE_DIR / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # Reading ----------------------------------------------------------------------------------

    def _info(self, key: str, path: Path, stat: os.stat_result, etag: str | None = None) -> ObjectInfo:
        """Info for the file at ``path``; the sidecar's ETag is reused while the file is unchanged."""
        try:
            side = json.loads(self._meta_path(key).read_text())
        except (OSError, ValueError):
            side = {}
        same_file = side.get("stat") == [stat.st_ino, stat.st_size, stat.st_mtime_ns]
        if etag is None:
            etag = side["etag"] if same_file and "etag" in side else _sha256_file(path)
        metadata = side.get("metadata", {}) if side.get("etag") == etag else {}
        return ObjectInfo(
            key=key,
            etag=etag,
            size=stat.st_size,
            metadata=dict(metadata),
            last_modified=stat.st_mtime,
            observed_at=time.time(),
        )

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        with self._locked(key, exclusive=False):
            try:
                stat = path.stat()
            except FileNotFoundError:
                return None
            return self._info(key, path, stat)

    def get(self, key: str) -> tuple[bytes, ObjectInfo]:
        path = self._path(key)
        with self._locked(key, exclusive=False):
            try:
                with open(path, "rb") as fh:
                    stat = os.fstat(fh.fileno())
                    data = fh.read()
            except FileNotFoundError:
                raise ObjectNotFound(f"{self.location}: no object {key}") from None
            return data, self._info(key, path, stat, etag=sha256_bytes(data))

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if not name.startswith(".") and key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    # Writing ----------------------------------------------------------------------------------

    def _stage(self, path: Path, data: bytes) -> str:
        """A fsynced temporary file beside ``path`` holding ``data``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent)
        try:
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(fd, 0o666 & ~mask)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    def _write_meta(self, key: str, path: Path, etag: str, metadata: dict | None) -> None:
        stat = path.stat()
        meta_path = self._meta_path(key)
        tmp = self._stage(
            meta_path,
            json.dumps(
                {"etag": etag, "stat": [stat.st_ino, stat.st_size, stat.st_mtime_ns], "metadata": metadata or {}}
            ).encode(),
        )
        os.replace(tmp, meta_path)

    def _put(self, key: str, data: bytes, metadata: dict | None, etag: str | None) -> ObjectInfo:
        path = self._path(key)
        new_etag = sha256_bytes(data)
        tmp = self._stage(path, data)
        try:
            with self._locked(key, exclusive=True):
                if etag is None:
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise PreconditionFailed(f"{self.location}: {key} already exists") from None
                else:
                    current = self._head_unlocked(key)
                    if current is None or current.etag != etag:
                        raise PreconditionFailed(
                            f"{self.location}: {key} changed (ETag {current and current.etag} != {etag})"
                        )
                    os.replace(tmp, path)
                fsync_dir(path.parent)
                self._write_meta(key, path, new_etag, metadata)
                return self._info(key, path, path.stat(), etag=new_etag)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _head_unlocked(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            return self._info(key, path, path.stat())
        except FileNotFoundError:
            return None

    def put_if_absent(self, key: str, data: bytes, metadata: dict | None = None) -> ObjectInfo:
        return self._put(key, data, metadata, etag=None)

    def put_if_match(self, key: str, data: bytes, etag: str, metadata: dict | None = None) -> ObjectInfo:
        return self._put(key, data, metadata, etag=etag)

    def delete(self, key: str, if_match: str | None = None) -> None:
        path = self._path(key)
        with self._locked(key, exclusive=True):
            if if_match is not None:
                current = self._head_unlocked(key)
                if current is None or current.etag != if_match:
                    raise PreconditionFailed(f"{self.location}: {key} changed or vanished; not deleted")
            path.unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)
