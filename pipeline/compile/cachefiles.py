"""File helpers shared by the compile caches: a cache's files are disposable, whatever state they are in.

A cache file may be found garbled, empty, cut short, or of the wrong type (a
directory where a file should be, or the other way round). The caches delete what
they cannot use with :func:`remove`, and turn themselves off for a directory that
:func:`check_writable` finds they cannot write to.
"""

from __future__ import annotations

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
