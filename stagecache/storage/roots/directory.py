"""A directory root: ``<root>/<Family>/<fingerprint>.joblib`` with its ``.json`` manifest beside it.

Builds are serialised by ``flock`` on ``<fingerprint>.lock``; checkpoints live in
``<fingerprint>.checkpoints/``; published files are swapped in whole (pages) or updated under a
lock in ``<root>/.locks/`` (documents, logs). Loads memory-map numpy arrays read-only: the
bytes were checked against the manifest first, and a file never changes once written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import joblib

from stagecache.storage import localfs
from stagecache.storage import manifest as manifests
from stagecache.storage.roots.base import (
    CHECKPOINTS_SUFFIX,
    DIVERGED_SUFFIX,
    ArtifactCorruptError,
    ArtifactTarget,
    Root,
    StoredArtifact,
    claim_bytes,
    claimed,
    iter_json_manifests,
    parse_record,
    record_bytes,
)

LOCKS = ".locks"
RUNS = ".runs"
QUARANTINE = "_quarantine"


class DirectoryTarget(ArtifactTarget):
    """One artifact in a directory root."""

    def __init__(self, root: DirectoryRoot, family: str, fingerprint: str):
        super().__init__(family, fingerprint)
        self.root = root.path
        self.path = self.root / f"{self.stem}.joblib"
        self.manifest_path = manifests.manifest_path(self.path)

    @property
    def location(self) -> str:
        return str(self.path)

    def reference(self) -> str:
        return str(self.path)

    def manifest(self) -> dict | None:
        return manifests.read_manifest(self.path)

    def verdict(self) -> manifests.Verdict:
        return manifests.verify(self.path)

    def _quarantine(self, problem: str) -> None:
        manifests.quarantine(self.path, self.root, problem)

    def _load_verified(self):
        return joblib.load(self.path, mmap_mode="r")

    def family_manifests(self) -> list[dict]:
        directory = self.path.parent
        paths = sorted(directory.glob("*.json")) if directory.is_dir() else []

        def contents():
            for path in paths:
                try:
                    yield path.name, path.read_bytes()
                except OSError:
                    continue

        return iter_json_manifests(contents())

    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    @property
    def checkpoint_dir(self) -> Path:
        return self.path.with_suffix(".checkpoints")

    def build_guard(self, exclusive: bool = False):
        return localfs.exclusive_lock(self.lock_path)

    def checkpointer(self):
        from stagecache.storage.checkpoints import DirectoryCheckpointer

        return DirectoryCheckpointer(self.checkpoint_dir, self.root)

    def remove_temporaries(self) -> None:
        for name in (self.path.name, self.manifest_path.name):
            localfs.remove_stale_temporaries(self.path.parent, name)

    def write(self, obj, manifest: dict) -> None:
        manifests.write(self.path, lambda fh: joblib.dump(obj, fh, compress=0), manifest)

    def copy_from(self, source: ArtifactTarget, sha256: str, manifest: dict) -> None:
        if not isinstance(source, DirectoryTarget):
            raise TypeError(f"{self.location}: cannot copy from {source.location}, an artifact of another root")

        def copy(fh) -> None:  # streamed and hashed on the way: the temporary file is dropped on a mismatch
            digest = hashlib.sha256()
            try:
                with open(source.path, "rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        fh.write(block)
            except FileNotFoundError:
                raise ArtifactCorruptError(f"{source.location} is gone") from None
            if digest.hexdigest() != sha256:
                raise ArtifactCorruptError(f"{source.location} does not match its sha256")

        manifests.write(self.path, copy, manifest)

    @property
    def divergence_path(self) -> Path:
        return self.path.with_suffix(DIVERGED_SUFFIX)

    @property
    def divergence_location(self) -> str:
        return str(self.divergence_path)

    def read_divergence(self) -> dict | None:
        return parse_record(self.divergence_path.read_bytes)

    def write_divergence(self, record: dict) -> str:
        localfs.atomic_write_bytes(self.divergence_path, record_bytes(record))
        return self.divergence_location


#: Claim lock files this process holds, kept open (and so locked) until it exits.
_claim_locks: dict[Path, object] = {}


def _held_by_another(lock: Path) -> bool:
    """Whether another process holds ``flock`` on ``lock`` now (a build in progress). Creates nothing."""
    try:
        fh = open(lock, "rb")  # noqa: SIM115 -- closed by the with block below
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


class DirectoryRoot(Root):
    """Artifacts and published files in a local directory (or a shared file system with working ``flock``)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    @property
    def location(self) -> str:
        return str(self.path)

    def target(self, family: str, fingerprint: str) -> DirectoryTarget:
        return DirectoryTarget(self, family, fingerprint)

    # Published files -----------------------------------------------------------------------------
    def _file(self, name: str) -> Path:
        return self.path / name

    def _lock(self, name: str):
        return localfs.exclusive_lock(self.path / LOCKS / f"{name.replace('/', '--')}.lock")

    def read_file(self, name: str) -> bytes | None:
        try:
            return self._file(name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def list_files(self, directory: str, suffix: str = "") -> list[str]:
        folder = self._file(directory)
        if not folder.is_dir():
            return []
        return [f"{directory}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file() and p.name.endswith(suffix)]

    def publish_directory(self, directory: str, files: dict[str, bytes], last: str = "", lease=None) -> None:
        with self._lock(directory):  # two writers of different builds (say, two configurations) swap in turn
            localfs.publish_directory(self._file(directory), files)  # swapped in whole: no order needed

    def update_file(self, name: str, update: Callable[[bytes | None], bytes | None]) -> bytes | None:
        with self._lock(name):
            current = self.read_file(name)
            new = update(current)
            if new is None:
                return current
            localfs.atomic_write_bytes(self._file(name), new)
            return new

    def append_file(self, name: str, lines: Callable[[bytes], bytes]) -> bytes:
        with self._lock(name):
            current = self.read_file(name) or b""
            new = lines(current)
            if new:
                path = self._file(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "ab") as fh:  # appends, whatever was read
                    if current and not current.endswith(b"\n"):
                        fh.write(b"\n")  # a line cut short by a crash stays alone on its line
                    fh.write(new)
                    fh.flush()
                    os.fsync(fh.fileno())
            return current

    def read_log(self, name: str) -> bytes:
        lock = self.path / LOCKS / f"{name.replace('/', '--')}.lock"
        if not lock.exists():  # never appended to through this root (and reading creates nothing)
            return self.read_file(name) or b""
        with self._lock(name):
            return self.read_file(name) or b""

    def link(self, name: str) -> str:
        return self._file(name).resolve().as_uri()

    def local_path(self, name: str) -> Path:
        return self._file(name)

    # Runs' claims -----------------------------------------------------------------------------------
    def claim(self, owner: str, stems: set[tuple[str, str]]) -> None:
        """``.runs/<owner>.json`` lists the stems; ``.runs/<owner>.lock`` is held (``flock``) for the process's
        life, by the file it keeps open: the claim is live exactly while a process of the run holds it."""
        name = owner.replace("/", "-").replace(":", "-")
        lock = self.path / RUNS / f"{name}.lock"
        if lock not in _claim_locks:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock, "a+b")  # noqa: SIM115 -- held open on purpose until the process ends
            fcntl.flock(fh, fcntl.LOCK_EX)
            _claim_locks[lock] = fh
        localfs.atomic_write_bytes(lock.with_suffix(".json"), claim_bytes(owner, stems))

    def live_claims(self) -> dict[str, set[tuple[str, str]]]:
        claims: dict[str, set[tuple[str, str]]] = {}
        folder = self.path / RUNS
        for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            lock = record.with_suffix(".lock")
            if lock in _claim_locks or _held_by_another(lock):
                owner, stems = claimed(record.read_bytes, record.stem)
                claims[owner] = stems
            else:  # the run ended (or was killed): its claim goes
                record.unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
        return claims

    # Inventory -------------------------------------------------------------------------------------
    def inventory(self, not_families: set[str]) -> list[StoredArtifact]:
        found: dict[tuple[str, str], StoredArtifact] = {}
        skip = set(not_families) | {QUARANTINE}
        directories = (
            sorted(p for p in self.path.iterdir() if p.is_dir() and p.name not in skip and not p.name.startswith("."))
            if self.path.is_dir()
            else []
        )
        for directory in directories:
            for path in sorted(directory.iterdir()):  # artifact, manifest, lock, checkpoints, divergence record
                temporary = path.name.startswith(localfs.TMP_PREFIX)
                stem = path.name if temporary else path.name.split(".")[0]
                item = found.setdefault((directory.name, stem), StoredArtifact(directory.name, stem, [], None))
                item.names.append(f"{directory.name}/{path.name}")
                files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
                item.bytes += sum(f.stat().st_size for f in files)
                if path.name == f"{stem}{CHECKPOINTS_SUFFIX}":
                    item.checkpoint_bytes += sum(f.stat().st_size for f in files)
                if path.name == f"{stem}.json":
                    item.manifest = manifests.read_manifest(path.with_suffix(".joblib"))
                if path.suffix == ".lock" and _held_by_another(path):
                    item.busy = "a run is building it"
        # a lock file alone is no artifact (gc leaves lock files: a waiting run must lock the same file)
        return [i for i in found.values() if i.busy or not all(n.endswith(".lock") for n in i.names)]

    def remove(self, item: StoredArtifact) -> None:
        manifest = f"{item.family}/{item.fingerprint}.json"
        for name in sorted(item.names, key=lambda n: n != manifest):
            if name.endswith(".lock"):
                continue  # a run waiting on it must lock the same file as the next one: lock files stay
            path = self._file(name)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def holding(self, item: StoredArtifact):
        """Hold ``item``'s build lock while it is removed; yields False (and holds nothing) when a run holds it."""
        lock = self.path / item.family / f"{item.fingerprint}.lock"
        if not lock.exists():
            yield True
            return
        with open(lock, "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
