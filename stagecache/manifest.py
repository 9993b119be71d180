"""An artifact file and its JSON manifest: written artifact first, read, and verified without side effects.

Part of the storage layer (:mod:`stagecache.localfs` holds the byte-level helpers). The
manifest is written last and records the artifact's sha256 and size, so an artifact
counts as present only when both files exist and agree. Verifying reads and never
moves anything: a dry run (``python -m tasks status``) may verify every artifact;
only the run that needs a corrupt artifact quarantines it (:func:`quarantine`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stagecache import localfs as storage

PRESENT, MISSING, CORRUPT = "present", "missing", "corrupt"

# (path, size, mtime_ns, sha256) of artifacts whose bytes already matched their manifest
# in this process: luigi asks complete() many times, and hashing 200 MB each time is slow.
_verified: set[tuple] = set()


@dataclass(frozen=True)
class Verdict:
    """An artifact's state (present, missing or corrupt) and, unless present, why."""

    state: str
    problem: str = ""


class VerifiedTarget:
    """What both artifact targets (directory, object store) derive from their :meth:`verdict`."""

    def verdict(self) -> Verdict:
        raise NotImplementedError

    def _quarantine(self, problem: str) -> None:
        """Move the corrupt artifact (and its manifest) aside, where it is kept but never used."""
        raise NotImplementedError

    def exists(self) -> bool:
        return self.verdict().state == PRESENT

    def quarantine_if_corrupt(self) -> bool:
        """Quarantine a corrupt artifact; True when it did (the run that needs the artifact calls this)."""
        verdict = self.verdict()
        if verdict.state != CORRUPT:
            return False
        self._quarantine(verdict.problem)
        return True


def manifest_path(path: Path) -> Path:
    """The manifest beside artifact ``path``."""
    return Path(path).with_suffix(".json")


def read_manifest(path: Path) -> dict | None:
    """The manifest of artifact ``path``, or None when it is missing or unreadable."""
    try:
        manifest = json.loads(manifest_path(path).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def verify(path: Path) -> Verdict:
    """Whether artifact ``path`` is present and matches its manifest. Reads only; changes nothing.

    Missing: no manifest (never built, or a write interrupted before the manifest), or
    a manifest whose artifact file is gone. Corrupt: a manifest that cannot be read, or
    an artifact whose size or sha256 differs from the manifest's.
    """
    path = Path(path)
    mpath = manifest_path(path)
    if not mpath.exists():
        return Verdict(MISSING, "no manifest")
    manifest = read_manifest(path)
    expected = manifest.get("artifact") if manifest else None
    if not isinstance(expected, dict) or not {"sha256", "bytes"} <= set(expected):
        return Verdict(CORRUPT, f"manifest {mpath.name} is unreadable or records no checksum")
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Verdict(MISSING, "artifact file missing")
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected["sha256"])
    if key in _verified:
        return Verdict(PRESENT)
    if stat.st_size != expected["bytes"]:
        return Verdict(CORRUPT, f"size {stat.st_size} != manifest {expected['bytes']}")
    if storage.sha256_file(path) != expected["sha256"]:
        return Verdict(CORRUPT, "sha256 does not match the manifest")
    _verified.add(key)
    return Verdict(PRESENT)


def quarantine(path: Path, root: Path, reason: str) -> list[Path]:
    """Move artifact ``path`` and its manifest into ``root/_quarantine``; return where they went."""
    moved = [storage.quarantine(p, Path(root), reason) for p in (Path(path), manifest_path(path))]
    return [p for p in moved if p is not None]


def write(path: Path, dump, manifest: dict) -> dict:
    """Atomically write the artifact with ``dump(fh)``, then its manifest (``manifest`` plus checksum).

    Returns the manifest as written.
    """
    path = Path(path)
    storage.atomic_write(path, dump)
    manifest = {**manifest, "artifact": {
        "file": path.name, "sha256": storage.sha256_file(path), "bytes": path.stat().st_size,
    }}
    storage.atomic_write_bytes(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True).encode())
    return manifest
