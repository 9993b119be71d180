"""End-of-epoch training checkpoints for one artifact, kept beside it (or in its object store).

While an artifact is built, the newest ``keep`` checkpoints are kept (a killed build resumes from
them). Once it is written, a stage that continues along a parameter
(:attr:`stagecache.stages.task.ArtifactTask.continues_along`) keeps only the newest one, its final
*training state*, from which a longer build continues (:mod:`stagecache.stages.continuation`); other
stages clear them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import joblib

from stagecache.core.signals import critical
from stagecache.storage import localfs

log = logging.getLogger(__name__)


class DirectoryCheckpointer:
    """``<dir>/epoch-00007.joblib`` plus a ``.json`` sidecar with its sha256; keeps the newest ``keep``.

    A checkpoint is loaded only after its bytes match the sidecar; a corrupt newest one
    is moved aside and the one before it used.
    """

    def __init__(self, directory: Path, root: Path, keep: int = 2):
        self.directory, self.root, self.keep = Path(directory), Path(root), keep

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("epoch-*.joblib")) if self.directory.is_dir() else []

    def _path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch:05d}.joblib"

    def epochs(self) -> list[int]:
        """The epochs with a checkpoint and its sidecar, oldest first (nothing is read or checked)."""
        return sorted(
            int(p.stem[6:]) for p in self._files() if p.stem[6:].isdigit() and p.with_suffix(".json").exists()
        )

    def read_bytes(self, epoch: int) -> bytes | None:
        """The checkpoint of ``epoch`` as stored, only when its bytes match the sidecar (else None)."""
        path = self._path(epoch)
        try:
            expected = json.loads(path.with_suffix(".json").read_text())["sha256"]
            data = path.read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return data if hashlib.sha256(data).hexdigest() == expected else None

    def put(self, epoch: int, data: bytes) -> None:
        """Store ``data`` (a checkpoint's bytes, as :meth:`read_bytes` returns them) as the checkpoint of ``epoch``."""
        path = self._path(epoch)
        localfs.atomic_write_bytes(path, data)
        self._commit(epoch, path)

    def _commit(self, epoch: int, path: Path) -> None:
        sidecar = {"epoch": epoch, "sha256": localfs.sha256_file(path)}
        localfs.atomic_write_bytes(path.with_suffix(".json"), json.dumps(sidecar).encode())
        for old in self._files()[: -self.keep]:
            self._remove(old)

    def _remove(self, path: Path) -> None:
        """Delete a checkpoint, its sidecar first (a checkpoint without one is never read; a kill between the two
        leaves no sidecar that names missing bytes)."""
        path.with_suffix(".json").unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    def latest(self) -> tuple[int | None, str]:
        """(epoch of the newest checkpoint with a sidecar, or None; where the checkpoints are). Reads names only."""
        epochs = self.epochs()
        return (epochs[-1] if epochs else None), str(self.directory)

    def keep_latest(self) -> tuple[int, int] | None:
        """Delete every checkpoint but the newest; its ``(epoch, bytes stored)``, or None when there is none."""
        localfs.remove_stale_temporaries(self.directory)
        epochs = self.epochs()
        keep = self._path(epochs[-1]) if epochs else None
        for old in self._files():
            if old != keep:
                self._remove(old)
        for sidecar in self.directory.glob("epoch-*.json") if self.directory.is_dir() else []:
            if keep is None or sidecar != keep.with_suffix(".json"):
                sidecar.unlink(missing_ok=True)  # one a killed build left without its checkpoint
        if not epochs:
            return None
        path = self._path(epochs[-1])
        return epochs[-1], path.stat().st_size + path.with_suffix(".json").stat().st_size

    def save(self, epoch: int, checkpoint: dict) -> None:
        path = self._path(epoch)
        with critical():  # a stop (SIGTERM) waits until the checkpoint and its sidecar are written
            localfs.atomic_write(path, lambda fh: joblib.dump(checkpoint, fh, compress=0))
            self._commit(epoch, path)

    def load_latest(self) -> dict | None:
        localfs.remove_stale_temporaries(self.directory)
        for path in reversed(self._files()):
            try:
                expected = json.loads(path.with_suffix(".json").read_text())["sha256"]
            except (OSError, ValueError, KeyError):
                expected = None
            if expected is not None and localfs.sha256_file(path) == expected:
                return joblib.load(path)
            log.warning("checkpoint %s is incomplete or corrupt; trying the one before it", path)
            localfs.quarantine(path, self.root, "checkpoint failed its checksum")
            path.with_suffix(".json").unlink(missing_ok=True)
        return None

    def clear(self) -> None:
        """Remove every checkpoint (after the final artifact is written)."""
        shutil.rmtree(self.directory, ignore_errors=True)


class StoreCheckpointer:
    """Checkpoints in an object store: ``<prefix>epoch-00007.joblib`` plus a ``.json`` sidecar with its sha256.

    A training killed on one host resumes on another from the newest checkpoint whose
    bytes match their sidecar (checked before unpickling). With a ``lease``, each save first
    renews it, so a worker that lost its lease stops instead of writing over its successor.
    """

    def __init__(self, store, prefix: str, keep: int = 2, lease=None):
        self.store, self.prefix, self.keep, self.lease = store, prefix, keep, lease

    def epochs(self) -> list[int]:
        """The epochs with a sidecar, oldest first (nothing is read or checked)."""
        return self._epochs()

    def _epochs(self) -> list[int]:
        epochs = set()
        for key in self.store.list(self.prefix):
            name = key[len(self.prefix) :]
            if name.startswith("epoch-") and name.endswith(".json") and name[6:-5].isdigit():
                epochs.add(int(name[6:-5]))
        return sorted(epochs)

    def _key(self, epoch: int, suffix: str) -> str:
        return f"{self.prefix}epoch-{epoch:05d}{suffix}"

    def _put(self, key: str, data: bytes, metadata: dict | None = None) -> None:
        from stagecache.storage.stores.base import PreconditionFailed

        try:
            self.store.put_if_absent(key, data, metadata)
        except PreconditionFailed:  # a rerun of the same epoch (after a resume): replace it
            info = self.store.head(key)
            if info is None:
                self.store.put_if_absent(key, data, metadata)
            else:
                self.store.put_if_match(key, data, info.etag, metadata)

    def save(self, epoch: int, checkpoint: dict) -> None:
        import io

        buffer = io.BytesIO()
        joblib.dump(checkpoint, buffer, compress=0)
        self.put(epoch, buffer.getvalue())

    def read_bytes(self, epoch: int) -> bytes | None:
        """The checkpoint of ``epoch`` as stored, only when its bytes match the sidecar (else None)."""
        from stagecache.storage.stores.base import StoreError

        try:
            expected = json.loads(self.store.get(self._key(epoch, ".json"))[0])["sha256"]
            return self.store.read_verified(self._key(epoch, ".joblib"), expected)
        except (StoreError, ValueError, KeyError, TypeError):
            return None

    def keep_latest(self) -> tuple[int, int] | None:
        """Delete every checkpoint but the newest; its ``(epoch, bytes stored)``, or None when there is none."""
        epochs = self._epochs()
        for key in list(self.store.list(self.prefix)):  # older ones, and any whose sidecar was never written
            if not epochs or not key[len(self.prefix) :].startswith(f"epoch-{epochs[-1]:05d}."):
                self.store.delete(key)
        if not epochs:
            return None
        infos = [self.store.head(self._key(epochs[-1], suffix)) for suffix in (".joblib", ".json")]
        return epochs[-1], sum(info.size for info in infos if info is not None)

    def put(self, epoch: int, data: bytes) -> None:
        """Store ``data`` (a checkpoint's bytes, as :meth:`read_bytes` returns them) as the checkpoint of ``epoch``."""
        from stagecache.storage.stores.base import sha256_bytes

        if self.lease is not None:
            self.lease.check()
        sha = sha256_bytes(data)
        with critical():  # a stop (SIGTERM) waits until the checkpoint and its sidecar are written
            self._put(self._key(epoch, ".joblib"), data, {"sha256": sha})
            self._put(self._key(epoch, ".json"), json.dumps({"epoch": epoch, "sha256": sha}).encode())
            for old in self._epochs()[: -self.keep]:
                self.store.delete(self._key(old, ".json"))
                self.store.delete(self._key(old, ".joblib"))

    def latest(self) -> tuple[int | None, str]:
        """(epoch of the newest checkpoint with a sidecar, or None; where the checkpoints are). Lists keys only."""
        epochs = self._epochs()
        return (epochs[-1] if epochs else None), f"{self.store.location}: {self.prefix}"

    def load_latest(self) -> dict | None:
        from stagecache.storage.stores.base import IntegrityError, ObjectNotFound

        for epoch in reversed(self._epochs()):
            key = self._key(epoch, ".joblib")
            try:
                expected = json.loads(self.store.get(self._key(epoch, ".json"))[0])["sha256"]
                checkpoint = self.store.load_verified(key, expected)
            except (ObjectNotFound, ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "checkpoint %s in %s is incomplete (%s); trying the one before it", key, self.store.location, exc
                )
                continue
            except IntegrityError as exc:  # never unpickled
                log.warning("checkpoint %s failed its checksum (%s); trying the one before it", key, exc)
                self.store.delete(self._key(epoch, ".json"))
                continue
            log.info("resuming from checkpoint %s in %s", key, self.store.location)
            return checkpoint
        return None

    def clear(self) -> None:
        """Remove every checkpoint (after the final artifact is published)."""
        for key in self.store.list(self.prefix):
            self.store.delete(key)
