"""The one interface every artifact root serves: a directory (:mod:`.directory`) or an object store (:mod:`.bucket`).

A :class:`Root` hands out :class:`ArtifactTarget` objects (one stage's artifact at one
fingerprint: manifest, verified load, atomic write, build guard, checkpoints, divergence
record), keeps the files a pipeline publishes beside its artifacts (a directory of pages,
JSON documents updated atomically, append-only logs), and lists what it stores for gc.
Nothing outside :mod:`stagecache.storage.roots` and :mod:`stagecache.storage.stores` knows which kind of root it has.
"""

from __future__ import annotations

import abc
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import luigi

from stagecache.storage import manifest as manifests

log = logging.getLogger(__name__)
FINGERPRINT_CHARS = 16
#: Suffix of a divergence record, ``<Family>/<fingerprint>.diverged.json`` (see :mod:`stagecache.stages.divergence`).
DIVERGED_SUFFIX = ".diverged.json"
#: Suffix of the checkpoints beside an artifact, ``<Family>/<fingerprint>.checkpoints`` (a directory or a key prefix).
CHECKPOINTS_SUFFIX = ".checkpoints"


class ArtifactCorruptError(RuntimeError):
    """An artifact is missing, or its bytes do not match the checksum in its manifest."""


class ArtifactTarget(manifests.VerifiedTarget, luigi.Target, abc.ABC):
    """One stage's artifact at one fingerprint, in some root.

    :meth:`exists` and :meth:`verdict` only read; :meth:`load` (the run that needs the
    artifact) quarantines a corrupt one before raising.
    """

    def __init__(self, family: str, fingerprint: str):
        self.family = family
        self.stem = f"{family}/{fingerprint[:FINGERPRINT_CHARS]}"

    # What each kind of root implements -------------------------------------------------------
    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the artifact is, for messages."""

    @abc.abstractmethod
    def manifest(self) -> dict | None:
        """The manifest, or None when it is missing or unreadable."""

    @abc.abstractmethod
    def _load_verified(self) -> Any:
        """Unpickle the artifact after its bytes matched the manifest (:class:`ArtifactCorruptError` if not)."""

    @abc.abstractmethod
    def family_manifests(self) -> list[dict]:
        """Every readable and valid manifest of this artifact's family (for ``status``'s reasons and estimates)."""

    @abc.abstractmethod
    def build_guard(self, exclusive: bool = False) -> contextlib.AbstractContextManager:
        """Context manager held while this artifact is built: one builder at a time, across processes (and hosts).

        Unless ``exclusive``, a guard may let its caller go on without it once the artifact is
        there (another builder finished it); ``exclusive`` is for blocks that write more than the artifact.
        """

    @abc.abstractmethod
    def checkpointer(self):
        """End-of-epoch checkpoints of this artifact: a build's, then its final training state when its stage
        continues along a parameter (see :mod:`stagecache.storage.checkpoints`)."""

    @abc.abstractmethod
    def write(self, obj, manifest: dict) -> None:
        """Atomically store ``obj`` (joblib), then its manifest (the commit marker)."""

    @abc.abstractmethod
    def copy_from(self, source: ArtifactTarget, sha256: str, manifest: dict) -> None:
        """Store a copy of the bytes of ``source`` (an artifact of the same root), then ``manifest``, as
        :meth:`write` does (early cutoff, :mod:`stagecache.stages.cutoff`). The bytes are checked against ``sha256``
        on the way: :class:`ArtifactCorruptError`, and nothing written, when they differ or are gone."""

    def remove_temporaries(self) -> None:
        """Delete what interrupted writes of this artifact left behind (call while holding its build guard)."""

    def reference(self) -> str:
        """How a published document (a champion) names this artifact; gc reads it back with :func:`parse_reference`."""
        return self.stem

    @abc.abstractmethod
    def read_divergence(self) -> dict | None:
        """The divergence record of this fingerprint (``{"unreadable": why}`` when it cannot be parsed), or None."""

    @abc.abstractmethod
    def write_divergence(self, record: dict) -> str:
        """Atomically store the divergence record; where it went."""

    @property
    @abc.abstractmethod
    def divergence_location(self) -> str:
        """Where this fingerprint's divergence record is (or would be), for messages."""

    # Shared ---------------------------------------------------------------------------------------
    def load(self):
        """The artifact, only after its bytes matched the manifest; a corrupt one is quarantined, never unpickled."""
        verdict = self.verdict()
        if verdict.state == manifests.PRESENT:
            try:
                return self._load_verified()
            except ArtifactCorruptError as exc:
                verdict = manifests.Verdict(manifests.CORRUPT, str(exc))
        if verdict.state == manifests.CORRUPT:
            self._quarantine(verdict.problem)
            raise ArtifactCorruptError(
                f"{self.location} failed its checksum ({verdict.problem}); it was quarantined, rerun the pipeline"
            )
        raise ArtifactCorruptError(f"{self.location} is missing ({verdict.problem}); rerun the pipeline")

    def __str__(self) -> str:
        return self.location


def parse_reference(reference: str) -> tuple[str, str]:
    """(family, fingerprint prefix) of what :meth:`ArtifactTarget.reference` returned (a path or key
    ``.../<Family>/<prefix>.<suffix>``, or a stem ``<Family>/<prefix>``)."""
    parent, _, name = reference.replace("\\", "/").rstrip("/").rpartition("/")
    return parent.rpartition("/")[2], name.split(".")[0]


@dataclass
class StoredArtifact:
    """What a root holds for one (family, fingerprint prefix): artifact, manifest, checkpoints, records.

    ``manifest`` is None for leftovers without one (an interrupted build) and for a divergence
    record alone. ``kept`` names what refers to it (gc never removes it then); ``busy`` says that
    a live build holds it (gc never touches it then).
    """

    family: str
    fingerprint: str  # its first 16 characters, as in the file names (`ArtifactTarget.stem` is Family/those)
    names: list[str]
    manifest: dict | None
    bytes: int = 0
    kept: set[str] = field(default_factory=set)
    checkpoint_bytes: int = 0  # of ``bytes``: its checkpoints
    busy: str = ""

    @property
    def created(self) -> str:
        return (self.manifest or {}).get("created", "")

    @property
    def diverged(self) -> bool:
        """Whether a divergence record is among its files."""
        return any(name.endswith(DIVERGED_SUFFIX) for name in self.names)

    @property
    def checkpoint_names(self) -> list[str]:
        """Its checkpoints: a build's, or the final training state a longer build continues from."""
        marker = f"{self.fingerprint}{CHECKPOINTS_SUFFIX}"
        return [n for n in self.names if n.rpartition("/")[2] == marker or f"/{marker}/" in n]

    def training_state(self) -> StoredArtifact:
        """What :meth:`Root.remove` deletes to drop its checkpoints alone (the artifact stays)."""
        return StoredArtifact(self.family, self.fingerprint, self.checkpoint_names, None, self.checkpoint_bytes)


class Root(abc.ABC):
    """An artifact root: where every stage's artifact, and what the pipeline publishes, is kept."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """The root, for messages (a directory or ``s3://bucket/prefix at endpoint``)."""

    @abc.abstractmethod
    def target(self, family: str, fingerprint: str) -> ArtifactTarget:
        """The artifact of ``family`` at ``fingerprint``."""

    # Published files (pages, documents, logs), named relative to the root ----------------------------
    @abc.abstractmethod
    def read_file(self, name: str) -> bytes | None:
        """The bytes of a published file, or None when it is not there."""

    @abc.abstractmethod
    def list_files(self, directory: str, suffix: str = "") -> list[str]:
        """Names of the published files directly in ``directory`` that end with ``suffix``, sorted."""

    @abc.abstractmethod
    def publish_directory(self, directory: str, files: dict[str, bytes], last: str = "", lease=None) -> None:
        """Replace ``directory`` by one holding exactly ``files``; ``last`` is written after all the others."""

    @abc.abstractmethod
    def update_file(self, name: str, update: Callable[[bytes | None], bytes | None]) -> bytes | None:
        """Replace the file by ``update(current)`` atomically against other writers (None = leave it);
        ``update`` must be a pure function of what it gets: it may be called again. Returns the bytes stored."""

    @abc.abstractmethod
    def append_file(self, name: str, lines: Callable[[bytes], bytes]) -> bytes:
        """Append ``lines(current)`` (complete lines, or nothing) atomically against other appenders;
        returns the content ``lines`` was given."""

    @abc.abstractmethod
    def read_log(self, name: str) -> bytes:
        """An append-only file's bytes, read consistently with :meth:`append_file` (empty when there is none)."""

    @abc.abstractmethod
    def link(self, name: str) -> str:
        """A link to a published file (``file:///...`` or ``s3://...``)."""

    def local_path(self, name: str):
        """The published file as a local path when the root is a directory, else None."""
        return None

    # Inventory ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    def inventory(self, not_families: set[str]) -> list[StoredArtifact]:
        """Every artifact and leftover under the root, grouped by (family, fingerprint prefix)."""

    @abc.abstractmethod
    def remove(self, item: StoredArtifact) -> None:
        """Delete what ``item`` holds, the manifest first (from then on it counts as not built)."""

    # Runs' claims on what they use -------------------------------------------------------------------
    @abc.abstractmethod
    def claim(self, owner: str, stems: set[tuple[str, str]]) -> None:
        """Record that the live run ``owner`` uses (builds or reads) these (family, fingerprint prefix) pairs;
        the claim lives as long as the run's process (see :mod:`stagecache.run.claims`)."""

    @abc.abstractmethod
    def live_claims(self) -> dict[str, set[tuple[str, str]]]:
        """What each live run claims, by owner; claims of runs that ended are dropped."""

    @contextlib.contextmanager
    def holding(self, item: StoredArtifact) -> Iterator[bool]:
        """Keep builds off ``item`` while it is removed; yields False when a live build holds it."""
        yield not item.busy

    # Helpers on top ------------------------------------------------------------------------------------
    def read_json(self, name: str) -> Any:
        """A published JSON document, or None when there is none (ValueError when it cannot be parsed)."""
        data = self.read_file(name)
        return None if data is None else json.loads(data)

    def update_json(self, name: str, decide: Callable[[Any], Any]) -> Any:
        """Set a JSON document to ``decide(current)`` (None = keep it) atomically; the document now stored."""

        def update(data: bytes | None) -> bytes | None:
            new = decide(None if data is None else json.loads(data))
            return None if new is None else json.dumps(new, indent=2, sort_keys=True).encode()

        stored = self.update_file(name, update)
        return None if stored is None else json.loads(stored)


def parse_record(read: Callable[[], bytes]) -> dict | None:
    """A JSON record read with ``read()``: None when absent, ``{"unreadable": why}`` when it cannot be parsed."""
    try:
        data = read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"unreadable": str(exc)}
    try:
        record = json.loads(data)
    except ValueError as exc:
        return {"unreadable": str(exc)}
    return record if isinstance(record, dict) else {"unreadable": "not a JSON object"}


def record_bytes(record: dict) -> bytes:
    """A small JSON record (a divergence record) as both kinds of root store it."""
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()


def claim_bytes(owner: str, stems: set[tuple[str, str]]) -> bytes:
    """A run's claim (:meth:`Root.claim`) as both kinds of root store it."""
    return json.dumps({"owner": owner, "stems": sorted(f"{f}/{s}" for f, s in stems)}).encode()


def claimed(read: Callable[[], bytes], default_owner: str) -> tuple[str, set[tuple[str, str]]]:
    """(owner, stems) of a stored claim; a claim that cannot be read claims nothing."""
    body = parse_record(read) or {}
    stems = body.get("stems")
    if not isinstance(stems, list):
        stems = []
    pairs = (s.partition("/") for s in stems if isinstance(s, str) and "/" in s)
    return str(body.get("owner", default_owner)), {(family, stem) for family, _, stem in pairs}


def jsonl_lines(records: list[dict]) -> bytes:
    """Records as JSON lines (sorted keys), for :meth:`Root.append_file`."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()


def iter_json_manifests(items: Iterator[tuple[str, bytes]]) -> list[dict]:
    """The valid manifests among ``(name, bytes)`` pairs (divergence records, unreadable and invalid ones skipped)."""
    found: list[dict] = []
    for name, data in items:
        if name.endswith(DIVERGED_SUFFIX):
            continue
        try:
            manifest = json.loads(data)
        except ValueError:
            continue
        if isinstance(manifest, dict):
            found.append(manifest)
    return manifests.valid_manifests(found)
