"""Cheap checks of whether a data source changed, without downloading it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from pipeline.data.download import RESOURCES


def _files_token(directory: Path, names: list[str]) -> str:
    parts = []
    for name in names:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                stat = candidate.stat()
                parts.append(f"{candidate.name}:{stat.st_size}:{stat.st_mtime_ns}")
                break
        else:
            parts.append(f"{name}:missing")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def source_version(spec: str, names: list[str], timeout: float = 10.0) -> str:
    """A token that changes when the source's files change: file sizes and times for directories,
    ``ETag``/``Last-Modified`` of a HEAD request for HTTPS, the registry's integrity hash for npm.

    Raises ``OSError`` (or a subclass) when the source cannot be reached.
    """
    scheme = urllib.parse.urlsplit(spec).scheme
    if scheme == "https":
        base = spec if spec.endswith("/") else spec + "/"
        tokens = []
        for name in names:
            request = urllib.request.Request(base + name + ".gz", method="HEAD")
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError:
                response = urllib.request.urlopen(urllib.request.Request(base + name, method="HEAD"), timeout=timeout)
            with response:
                tokens.append(
                    response.headers.get("ETag")
                    or response.headers.get("Last-Modified")
                    or response.headers.get("Content-Length", "?")
                )
        return hashlib.sha256("|".join(tokens).encode()).hexdigest()[:16]
    if spec.startswith("npm:"):
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError("npm is not installed")
        proc = subprocess.run(
            [npm, "view", spec[4:], "dist.integrity"], capture_output=True, text=True, timeout=max(timeout, 60.0)
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            raise OSError(f"npm view {spec[4:]} failed: {proc.stderr.strip()[-300:]}")
        return hashlib.sha256(proc.stdout.strip().encode()).hexdigest()[:16]
    if spec.startswith("package:"):
        return _files_token(RESOURCES / spec[len("package:") :], names)
    if scheme == "file":
        return _files_token(Path(urllib.request.url2pathname(urllib.parse.urlsplit(spec).path)), names)
    if scheme:
        raise ValueError(f"unsupported mirror scheme {scheme!r}")
    return _files_token(Path(spec).expanduser(), names)


def first_reachable_version(mirrors: list[str], names: list[str], timeout: float = 10.0) -> tuple[str, str] | None:
    """``(mirror, token)`` of the first mirror that answers, or None when none does."""
    for spec in mirrors:
        try:
            return spec, source_version(spec, names, timeout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            continue
    return None
