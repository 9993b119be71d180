"""Listing stored artifacts and removing those the current configuration does not use."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tasks import storage
from tasks.base import FINGERPRINT_CHARS, ArtifactTask
from tasks.config import pytensor as pytensor_config
from tasks.status import walk

NOT_FAMILIES = {"report", "_quarantine", "champions"}


def _not_families(root: Path) -> set[str]:
    """Directories under the root that hold no artifacts (report, quarantine, champions, compile cache)."""
    names = set(NOT_FAMILIES)
    cache = pytensor_config().compile_cache_dir()
    if cache is not None and cache.resolve().parent == Path(root).resolve():
        names.add(cache.name)
    return names


@dataclass
class StoredArtifact:
    """One artifact on disk (``manifest`` is None for an orphan without one)."""

    family: str
    stem: str
    paths: list[Path]
    manifest: dict | None

    @property
    def bytes(self) -> int:
        files = [f for p in self.paths for f in ([p] if p.is_file() else p.rglob("*"))]
        return sum(f.stat().st_size for f in files if f.is_file())

    @property
    def created(self) -> str:
        return (self.manifest or {}).get("created", "")


def stored_artifacts(root: Path) -> list[StoredArtifact]:
    """Every artifact (and orphaned file) under ``root``, grouped by family and fingerprint."""
    found: dict[tuple[str, str], StoredArtifact] = {}
    skip = _not_families(root)
    for directory in sorted(p for p in Path(root).iterdir() if p.is_dir() and p.name not in skip) \
            if Path(root).is_dir() else []:
        for path in sorted(directory.iterdir()):  # artifact, manifest, lock, checkpoint directory
            stem = path.name.split(".")[0] if not path.name.startswith(storage.TMP_PREFIX) else path.name
            item = found.setdefault((directory.name, stem), StoredArtifact(directory.name, stem, [], None))
            item.paths.append(path)
            if path.suffix == ".json" and not path.name.startswith(storage.TMP_PREFIX):
                try:
                    item.manifest = json.loads(path.read_text())
                except (OSError, ValueError):
                    pass
    return list(found.values())


def used_keys(root_task: ArtifactTask) -> set[tuple[str, str]]:
    """(family, fingerprint prefix) of every stage the current configuration reaches from ``root_task``."""
    return {(t.get_task_family(), t.fingerprint()[:FINGERPRINT_CHARS]) for t in walk(root_task)}


def _age(created: str) -> str:
    if not created:
        return "?"
    seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(created)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def list_table(items: list[StoredArtifact], used: set[tuple[str, str]]) -> str:
    """A table of artifacts: task, fingerprint, size, age, and whether the configuration uses it."""
    lines = [f"{'TASK':<20}  {'FINGERPRINT':<16}  {'SIZE':>10}  {'AGE':>5}  USED"]
    for item in sorted(items, key=lambda i: (i.family, i.created)):
        state = "yes" if (item.family, item.stem) in used else "no" if item.manifest else "incomplete"
        lines.append(f"{item.family:<20}  {item.stem[:16]:<16}  {_size(item.bytes):>10}  "
                     f"{_age(item.created):>5}  {state}")
    return "\n".join(lines)


def collect_garbage(items: list[StoredArtifact], used: set[tuple[str, str]], keep: int,
                    dry_run: bool) -> list[StoredArtifact]:
    """Remove artifacts the configuration does not use, keeping the newest ``keep`` per family.

    Incomplete leftovers (no manifest) always go. Used artifacts are never removed.
    Returns what was (or, with ``dry_run``, would be) removed.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    doomed = []
    by_family: dict[str, list[StoredArtifact]] = {}
    for item in items:
        if (item.family, item.stem) in used:
            continue
        if item.manifest is None:
            doomed.append(item)
        else:
            by_family.setdefault(item.family, []).append(item)
    for family_items in by_family.values():
        family_items.sort(key=lambda i: i.created, reverse=True)
        doomed += family_items[keep:]
    if not dry_run:
        for item in doomed:
            for path in item.paths:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
    return doomed
