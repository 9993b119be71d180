"""An artifact file and its JSON manifest: written artifact first, read, and verified without side effects.

Part of the storage layer (:mod:`stagecache.storage.localfs` holds the byte-level helpers). The
manifest is written last and records the artifact's sha256 and size, so an artifact
counts as present only when both files exist and agree. Verifying reads and never
moves anything: a dry run (``python -m tasks status``) may verify every artifact;
only the run that needs a corrupt artifact quarantines it (:func:`quarantine`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from stagecache.storage import localfs

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


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _describe(value) -> str:
    """A wrong value and its JSON type, for a message: ``'32213' (a string)``."""
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = json.dumps(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({kind})"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_iso_time(value) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _str_map(nullable: bool = False):
    def check(value) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and (isinstance(v, str) or (nullable and v is None)) for k, v in value.items()
        )

    return check


#: What each field of a manifest must be, when it is there: (check, what it must be). Only
#: ``artifact`` must be there; the rest is what :class:`stagecache.stages.task.ArtifactTask` records.
FIELDS = {
    "task": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "fingerprint": (lambda v: isinstance(v, str) and bool(re.fullmatch(r"[0-9a-f]+", v)), "lowercase hex digits"),
    "params": (_str_map(), "an object of strings"),
    "significant_params": (_str_map(), "an object of strings"),
    "upstream": (_str_map(), "an object of strings"),
    "code": (_str_map(), "an object of strings"),
    "created": (_is_iso_time, "an ISO 8601 time string"),
    "duration_s": (lambda v: _is_number(v) and v >= 0, "a non-negative number"),
    "host": (lambda v: isinstance(v, str), "a string"),
    "python": (lambda v: isinstance(v, str), "a string"),
    "platform": (lambda v: isinstance(v, str), "a string"),
    "libraries": (_str_map(nullable=True), "an object of strings (or null)"),
    "content_key": (lambda v: isinstance(v, str) and bool(_SHA256.fullmatch(v)), "64 lowercase hex digits"),
    "upstream_sha256": (_str_map(), "an object of strings"),
    "early_cutoff": (
        lambda v: (
            isinstance(v, dict)
            and isinstance(v.get("reused"), str)
            and bool(re.fullmatch(r"[0-9a-f]+", v["reused"]))
            and _is_number(v.get("build_s"))
            and v["build_s"] >= 0
        ),
        "an object with reused (a fingerprint) and build_s (a non-negative number)",
    ),
}
#: The fields of ``artifact``: what every root records, and each kind's own.
ARTIFACT_FIELDS = {
    "sha256": (lambda v: isinstance(v, str) and bool(_SHA256.fullmatch(v)), "64 lowercase hex digits"),
    "bytes": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
}
LOCATION_FIELDS = {
    "file": (lambda v: isinstance(v, str) and bool(v) and "/" not in v, "a file name"),
    "key": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "etag": (lambda v: isinstance(v, str), "a string"),
}


def manifest_problem(manifest, location: tuple[str, ...] = ("file",), optional: tuple[str, ...] = ("file",)) -> str:
    """What is wrong with a parsed manifest ("" when nothing): every field's type and range, before any use.

    ``location`` names the fields of ``artifact`` that say where the bytes are (a directory
    root's ``file``, a bucket's ``key`` and ``etag``); those in ``optional`` may be absent (a
    directory root finds its file by its own name, so ``file`` is only described).
    Shared by every kind of root, so that a manifest is either wholly valid or corrupt.
    """
    if not isinstance(manifest, dict):
        return f"is {_describe(manifest)}, expected a JSON object"
    artifact = manifest.get("artifact")
    if not isinstance(artifact, dict):
        return "records no checksum" if artifact is None else f"artifact is {_describe(artifact)}, expected an object"
    checks = [(f"artifact.{name}", artifact, name, ARTIFACT_FIELDS[name], True) for name in ARTIFACT_FIELDS]
    checks += [(f"artifact.{name}", artifact, name, LOCATION_FIELDS[name], name not in optional) for name in location]
    checks += [(name, manifest, name, rule, False) for name, rule in FIELDS.items()]
    for label, where, name, (check, expected), required in checks:
        if name not in where:
            if required:
                return f"{label} is missing"
            continue
        if not check(where[name]):
            return f"{label} is {_describe(where[name])}, expected {expected}"
    return ""


def valid_manifests(found: list) -> list[dict]:
    """The manifests among ``found`` that pass :func:`manifest_problem` (what status and estimates may read)."""
    return [m for m in found if not manifest_problem(m, location=())]


def manifest_path(path: Path) -> Path:
    """The manifest beside artifact ``path``."""
    return Path(path).with_suffix(".json")


def manifest_or_problem(path: Path) -> tuple[dict | None, str]:
    """(manifest, "") when the manifest of artifact ``path`` is valid, else (None, why)."""
    mpath = manifest_path(path)
    try:
        manifest = json.loads(mpath.read_bytes())
    except FileNotFoundError:
        return None, "no manifest"
    except (OSError, ValueError) as exc:
        return (
            None,
            f"manifest {mpath.name} is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
        )
    problem = manifest_problem(manifest)
    return (None, f"manifest {mpath.name}: {problem}") if problem else (manifest, "")


def read_manifest(path: Path) -> dict | None:
    """The manifest of artifact ``path``, or None when it is missing, unreadable or invalid."""
    return manifest_or_problem(path)[0]


def verify(path: Path) -> Verdict:
    """Whether artifact ``path`` is present and matches its manifest. Reads only; changes nothing.

    Missing: no manifest (never built, or a write interrupted before the manifest), or
    a manifest whose artifact file is gone. Corrupt: a manifest that cannot be read or
    fails :func:`manifest_problem` (any field of the wrong type or range), or an artifact
    whose size or sha256 differs from the manifest's.
    """
    path = Path(path)
    manifest, problem = manifest_or_problem(path)
    if manifest is None:
        return Verdict(MISSING if problem == "no manifest" else CORRUPT, problem)
    expected = manifest["artifact"]
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Verdict(MISSING, "artifact file missing")
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected["sha256"])
    if key in _verified:
        return Verdict(PRESENT)
    if stat.st_size != expected["bytes"]:
        return Verdict(CORRUPT, f"size {stat.st_size} != manifest {expected['bytes']}")
    if localfs.sha256_file(path) != expected["sha256"]:
        return Verdict(CORRUPT, "sha256 does not match the manifest")
    _verified.add(key)
    return Verdict(PRESENT)


def quarantine(path: Path, root: Path, reason: str) -> list[Path]:
    """Move artifact ``path`` and its manifest into ``root/_quarantine``; return where they went."""
    moved = [localfs.quarantine(p, Path(root), reason) for p in (Path(path), manifest_path(path))]
    return [p for p in moved if p is not None]


def write(path: Path, dump, manifest: dict) -> dict:
    """Atomically write the artifact with ``dump(fh)``, then its manifest (``manifest`` plus checksum).

    Returns the manifest as written.
    """
    path = Path(path)
    localfs.atomic_write(path, dump)
    manifest = {
        **manifest,
        "artifact": {
            "file": path.name,
            "sha256": localfs.sha256_file(path),
            "bytes": path.stat().st_size,
        },
    }
    localfs.atomic_write_bytes(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True).encode())
    return manifest
