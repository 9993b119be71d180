"""Bytes on disk: atomic writes, checksums, quarantine, and publishing a directory."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)
TMP_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so that a rename into it survives a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are ordinary files
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    atomic_write(path, lambda fh: fh.write(data))


def quarantine(path: Path, root: Path, reason: str) -> Path | None:
    """Move ``path`` into ``root/_quarantine`` so it is kept for inspection but never used."""
    if not path.exists():
        return None
    target = root / "_quarantine" / f"{path.parent.name}-{path.name}.{int(time.time())}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    log.warning("quarantined %s (%s) to %s", path, reason, target)
    return target


def remove_stale_temporaries(directory: Path, name: str = "") -> int:
    """Delete temporary files that writes of ``name`` (any name when empty) left in ``directory``.

    Call it only while no other writer can be writing there (e.g. holding the artifact's lock).
    """
    removed = 0
    if directory.is_dir():
        for tmp in directory.glob(f"{TMP_PREFIX}{name}*"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


@contextlib.contextmanager
def exclusive_lock(path: Path):
    """Hold an inter-process lock (``flock``) on ``path`` for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process that holds %s", path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish_directory(target: Path, files: dict[str, bytes]) -> None:
    """Replace directory ``target`` by one holding ``files``, swapping in a fully written copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{target.name}.", dir=target.parent))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            with open(staging / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        old = None
        if target.exists():
            old = target.parent / f"{TMP_PREFIX}{target.name}.old-{os.getpid()}"
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
