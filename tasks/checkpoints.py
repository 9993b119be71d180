"""End-of-epoch training checkpoints for one artifact, kept beside it until the artifact is written."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import joblib

from tasks import storage

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

    def save(self, epoch: int, checkpoint: dict) -> None:
        path = self.directory / f"epoch-{epoch:05d}.joblib"
        storage.atomic_write(path, lambda fh: joblib.dump(checkpoint, fh, compress=0))
        sidecar = {"epoch": epoch, "sha256": storage.sha256_file(path)}
        storage.atomic_write_bytes(path.with_suffix(".json"), json.dumps(sidecar).encode())
        for old in self._files()[:-self.keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)

    def load_latest(self) -> dict | None:
        storage.remove_stale_temporaries(self.directory)
        for path in reversed(self._files()):
            try:
                expected = json.loads(path.with_suffix(".json").read_text())["sha256"]
            except (OSError, ValueError, KeyError):
                expected = None
            if expected is not None and storage.sha256_file(path) == expected:
                return joblib.load(path)
            log.warning("checkpoint %s is incomplete or corrupt; trying the one before it", path)
            storage.quarantine(path, self.root, "checkpoint failed its checksum")
            path.with_suffix(".json").unlink(missing_ok=True)
        return None

    def clear(self) -> None:
        """Remove every checkpoint (after the final artifact is written)."""
        shutil.rmtree(self.directory, ignore_errors=True)
