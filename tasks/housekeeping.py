"""Listing stored artifacts and removing those the current configuration does not use.

An artifact that a champion (``champions/<Family>.json``), the retrain history
(``history.jsonl``) or the published report (``report/provenance.json``) refers to is
never removed, whatever ``keep`` says.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tasks import divergence, storage
from tasks.base import FINGERPRINT_CHARS, ArtifactTask
from tasks.config import pytensor as pytensor_config
from tasks.published import HISTORY as HISTORY_FILE
from tasks.published import parse_history
from tasks.status import walk
from tasks.store_target import configured_store, is_store_root
from tasks.stores.base import StoreError

log = logging.getLogger(__name__)
NOT_FAMILIES = {"report", "_quarantine", "champions"}
CHAMPION, HISTORY, REPORT = "champion", "history", "report"
# A dated stage's artifact is the record that its day ran: without it `RangeDaily --of Retrain`
# would run that day again (and decide champions anew), so gc keeps every one (a few KiB each).
SCHEDULED_DAY, DATED_FAMILIES = "scheduled day", frozenset({"Retrain", "CheckSources"})


def _why_kept(kept: dict, family: str, stem: str) -> set[str]:
    return set(kept.get((family, stem), ())) | ({SCHEDULED_DAY} if family in DATED_FAMILIES else set())


def _not_families(root: Path) -> set[str]:
    """Directories under the root that hold no artifacts (report, quarantine, champions, compile cache)."""
    names = set(NOT_FAMILIES)
    cache = pytensor_config().compile_cache_dir()
    if cache is not None and cache.resolve().parent == Path(root).resolve():
        names.add(cache.name)
    return names


@dataclass
class StoredArtifact:
    """One artifact on disk (``manifest`` is None for an orphan without one).

    ``kept`` names what refers to it (champion, history, report): gc never removes it then.
    """

    family: str
    stem: str
    paths: list[Path]
    manifest: dict | None
    kept: set[str] = field(default_factory=set)
    #: In an object store: its keys (manifest, object, checkpoints) and the store.
    keys: list[str] = field(default_factory=list)
    store: object = None

    @property
    def bytes(self) -> int:
        if self.store is not None:
            infos = [self.store.head(k) for k in self.keys]
            return sum(i.size for i in infos if i is not None)
        files = [f for p in self.paths for f in ([p] if p.is_file() else p.rglob("*"))]
        return sum(f.stat().st_size for f in files if f.is_file())

    @property
    def created(self) -> str:
        return (self.manifest or {}).get("created", "")


def stored_artifacts(root) -> list[StoredArtifact]:
    """Every artifact (and orphaned file) under ``root`` (a directory, or ``s3://bucket/prefix``),
    grouped by family and fingerprint, each with what refers to it (see :func:`kept_references`)."""
    if is_store_root(str(root)):
        return _stored_in_store(configured_store())
    found: dict[tuple[str, str], StoredArtifact] = {}
    kept = kept_references(root)
    skip = _not_families(root)
    for directory in sorted(p for p in Path(root).iterdir() if p.is_dir() and p.name not in skip) \
            if Path(root).is_dir() else []:
        for path in sorted(directory.iterdir()):  # artifact, manifest, lock, checkpoint directory
            stem = path.name.split(".")[0] if not path.name.startswith(storage.TMP_PREFIX) else path.name
            item = found.setdefault((directory.name, stem), StoredArtifact(
                directory.name, stem, [], None, _why_kept(kept, directory.name, stem)))
            item.paths.append(path)
            if path.name == f"{stem}.json":  # the manifest (not a divergence record, <stem>.diverged.json)
                try:
                    item.manifest = json.loads(path.read_text())
                except (OSError, ValueError):
                    pass
    return list(found.values())


def _stored_in_store(store) -> list[StoredArtifact]:
    """:func:`stored_artifacts` of an object store: keys ``<Family>/<fp16>...`` grouped by stem.

    A stage with a live build lease is left out (its checkpoints are in use, its manifest not
    written yet): gc must not remove a build in progress on another host.
    """
    from tasks.stores.leases import LEASE_PREFIX, read_lease

    kept = _kept_references(_StoreFiles(store), store.location)
    found: dict[tuple[str, str], StoredArtifact] = {}
    for key in store.list(""):
        family, _, name = key.partition("/")
        if not name or "/" in name.split(".checkpoints/")[0] or family in NOT_FAMILIES \
                or key.startswith(LEASE_PREFIX):
            continue
        stem = name.split(".")[0]
        item = found.setdefault((family, stem), StoredArtifact(
            family, stem, [], None, _why_kept(kept, family, stem), store=store))
        item.keys.append(key)
        if key == f"{family}/{stem}.json":
            try:
                item.manifest = json.loads(store.get(key)[0])
            except (ValueError, StoreError):
                pass
    live = []
    for (family, stem), item in found.items():
        lease = read_lease(store, f"{family}/{stem}")
        if lease is not None and not lease.expired:
            log.info("%s/%s is being built by %s; not listed", family, stem, lease.owner)
            continue
        live.append(item)
    return live


class _LocalFiles:
    def __init__(self, root: Path):
        self.root = Path(root)

    def read(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def names(self, prefix: str) -> list[str]:
        directory = self.root / prefix
        return [f"{prefix}/{p.name}" for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []


class _StoreFiles:
    def __init__(self, store):
        self.store = store

    def read(self, name: str) -> bytes | None:
        from tasks.stores.base import ObjectNotFound

        try:
            return self.store.get(name)[0]
        except ObjectNotFound:
            return None

    def names(self, prefix: str) -> list[str]:
        return [k for k in self.store.list(f"{prefix}/") if k.endswith(".json")]


def used_keys(root_task: ArtifactTask) -> set[tuple[str, str]]:
    """(family, fingerprint prefix) of every stage the current configuration reaches from ``root_task``."""
    return {(t.get_task_family(), t.fingerprint()[:FINGERPRINT_CHARS]) for t in walk(root_task)}


def _key(family: str, fingerprint: str) -> tuple[str, str]:
    return family, fingerprint[:FINGERPRINT_CHARS]


def _path_key(path: str) -> tuple[str, str]:
    """(family, fingerprint prefix) of an artifact path ``.../<Family>/<prefix>.joblib``."""
    p = Path(path)
    return p.parent.name, p.name.split(".")[0]


def _read_json(files, name: str, where: str) -> dict:
    path = f"{where}/{name}"
    try:
        data = json.loads(files.read(name))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} cannot be read ({exc}); gc removes nothing while it cannot tell what "
                         f"it refers to: repair or move the file") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object; gc removes nothing while it cannot tell what it refers to")
    return data


def kept_references(root: Path) -> dict[tuple[str, str], set[str]]:
    """(family, fingerprint prefix) -> why it must be kept: champion, history and/or report.

    Champions name their training and evaluation artifacts; history records name the
    model trained (``model``, ``fingerprint``); the published report names every stage it
    was built from and its own artifact. An unreadable champion or report raises
    ``ValueError`` (gc must not guess); a history line cut short by a crash is skipped.
    """
    return _kept_references(_LocalFiles(Path(root)), str(root))


def _kept_references(files, where: str) -> dict[tuple[str, str], set[str]]:
    kept: dict[tuple[str, str], set[str]] = {}

    def keep(key, why):
        kept.setdefault(key, set()).add(why)

    for name in files.names("champions"):
        champion = _read_json(files, name, where)
        for field in ("artifact", "evaluation"):
            if champion.get(field):
                keep(_path_key(champion[field]), CHAMPION)
        if champion.get("model") and champion.get("fingerprint"):
            keep(_key(champion["model"], champion["fingerprint"]), CHAMPION)
    history_bytes = files.read(HISTORY_FILE)
    if history_bytes is not None:
        for record in parse_history(history_bytes.decode(errors="replace"), f"{where}/{HISTORY_FILE}"):
            if record.get("model") and record.get("fingerprint"):
                keep(_key(record["model"], record["fingerprint"]), HISTORY)
    if files.read("report/provenance.json") is not None:
        report = _read_json(files, "report/provenance.json", where)
        if report.get("fingerprint"):
            keep(_key("FullReport", report["fingerprint"]), REPORT)
        for stage in report.get("stages", []):
            if stage.get("task") and stage.get("fingerprint"):
                keep(_key(stage["task"], stage["fingerprint"]), REPORT)
    return kept


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
    """A table of artifacts: task, fingerprint, size, age, whether the configuration uses it, and
    what refers to it (why gc keeps it whatever ``--keep`` says)."""
    lines = [f"{'TASK':<20}  {'FINGERPRINT':<16}  {'SIZE':>10}  {'AGE':>5}  {'USED':<10}  KEPT BECAUSE"]
    for item in sorted(items, key=lambda i: (i.family, i.created)):
        key = (item.family, item.stem)
        diverged = any(p.name.endswith(divergence.SUFFIX) for p in item.paths)
        state = "yes" if key in used else "no" if item.manifest else "diverged" if diverged else "incomplete"
        why = " / ".join(sorted(item.kept))
        lines.append(f"{item.family:<20}  {item.stem[:16]:<16}  {_size(item.bytes):>10}  "
                     f"{_age(item.created):>5}  {state:<10}  {why}".rstrip())
    return "\n".join(lines)


def collect_garbage(items: list[StoredArtifact], used: set[tuple[str, str]], keep: int,
                    dry_run: bool) -> list[StoredArtifact]:
    """Remove artifacts the configuration does not use, keeping the newest ``keep`` per family.

    Incomplete leftovers (no manifest) always go. Used artifacts, and those a champion,
    the history or the published report refers to (``item.kept``), are never removed.
    Returns what was (or, with ``dry_run``, would be) removed.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    doomed = []
    by_family: dict[str, list[StoredArtifact]] = {}
    for item in items:
        if (item.family, item.stem) in used or item.kept:
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
            # the manifest first: from then on the artifact counts as not built, whatever is left
            for key in sorted(item.keys, key=lambda k: not k.endswith(f"{item.stem}.json")):
                item.store.delete(key)
            for path in item.paths:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
    return doomed
