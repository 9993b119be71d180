"""Where an artifact was built: host, Python, platform and library versions (the engine's among them).

Recorded in every manifest; library versions enter fingerprints only with ``[fingerprint]
include_library_versions``. Read from package metadata: nothing is imported.
"""

from __future__ import annotations

import functools

RECORDED_LIBRARIES = ("numpy", "pytensor", "jax", "luigi", "joblib", "matplotlib")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the results depend on (None where one is not installed)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> dict[str, str | None]:
    """Read once per process: each metadata lookup lists site-packages (about 5 ms, six per artifact), and
    what this process computes with is what it imported, whatever an install changes on disk meanwhile."""
    from importlib import metadata

    from stagecache import __version__

    out: dict[str, str | None] = {"stagecache": __version__}
    for name in RECORDED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    """Where an artifact was built: host, Python version, platform and library versions."""
    import platform
    import socket
    import sys

    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": sys.platform,
        "libraries": library_versions(),
    }
