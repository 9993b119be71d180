"""File helpers shared by the compile caches: a cache's files are disposable, whatever state they are in.

A cache file may be found garbled, empty, cut short, or of the wrong type (a
directory where a file should be, or the other way round). The caches delete what
they cannot use with :func:`remove`, and turn themselves off for a directory that
:func:`check_writable` finds they cannot write to.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path


def exists(path: Path) -> bool:
    """True when anything is at ``path`` (a file, a directory, a link, even a dangling one)."""
    return os.path.lexists(path)


def is_regular_file(path: Path) -> bool:
    """True for a plain file (not a directory, not a link, not a device)."""
    return path.is_file() and not path.is_symlink()


def remove(path: Path) -> None:
    """Delete whatever is at ``path``: a file, a link, or a directory tree found where a file should be.

    Nothing there is fine; anything that cannot be deleted raises ``OSError``.
    """
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def check_writable(directory: Path) -> None:
    """Raise ``OSError`` unless a file can be created (and deleted) in ``directory``.

    An actual write, not ``os.access``: that answers yes for root on a read-only
    filesystem or an immutable directory.
    """
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".write-probe-")
    os.close(fd)
    os.unlink(probe)


class SharedOnce:
    """Keys seen by this process or by any process forked from it after this object was made.

    A run's stages call the cache setup once each, in the scheduling process or in processes
    forked from it (luigi's ``--workers N``); a problem with a cache directory is worth one
    warning per run, not one per stage. The keys live in an anonymous shared memory page
    (``MAP_SHARED``, inherited across ``fork``) under a lock made with it; a process started
    without forking begins afresh.
    """

    SIZE = 1 << 16

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, self.SIZE)
        self._lock = multiprocessing.get_context("fork").Lock()

    def first(self, key: str) -> bool:
        """True the first time ``key`` is given (here or in a related process), False after."""
        line = key.encode("utf-8", "surrogateescape").replace(b"\n", b"?") + b"\n"
        with self._lock:
            used = self._memory.find(b"\0")
            used = self.SIZE if used < 0 else used
            if line[:-1] in self._memory[:used].split(b"\n"):
                return False
            if used + len(line) < self.SIZE:  # full (thousands of keys): say it again rather than lose it
                self._memory[used : used + len(line)] = line
            return True
