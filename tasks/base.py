"""The one artifact base class: fingerprinted path, atomic write, manifest, verified load."""
from __future__ import annotations

import json
import logging
import platform
import socket
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import joblib
import luigi
from luigi.task import flatten

from tasks import storage
from tasks.config import artifacts
from tasks.config import fingerprint as fingerprint_config
from tasks.fingerprint import canonical_hash, code_hashes

log = logging.getLogger(__name__)
FINGERPRINT_CHARS = 16
RECORDED_LIBRARIES = ("numpy", "pytensor", "jax", "luigi", "joblib", "matplotlib")


class ArtifactCorruptError(RuntimeError):
    """An artifact's bytes do not match the checksum in its manifest."""


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the results depend on (without importing them)."""
    out = {}
    for name in RECORDED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class ArtifactTarget(luigi.Target):
    """``<root>/<Family>/<fingerprint>.joblib`` plus its ``.json`` manifest.

    The manifest is written last and names the artifact's sha256 and size, so an
    artifact counts as present only when both exist and agree.
    """

    _verified: dict[tuple, bool] = {}

    def __init__(self, root: Path, family: str, fingerprint: str):
        self.root = Path(root)
        self.path = self.root / family / f"{fingerprint[:FINGERPRINT_CHARS]}.joblib"
        self.manifest_path = self.path.with_suffix(".json")

    def manifest(self) -> dict | None:
        """The manifest, or None when it is missing or unreadable."""
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None

    def verify(self) -> bool:
        """True when artifact and manifest exist and the artifact's sha256 matches; corrupt files are quarantined."""
        manifest = self.manifest()
        if manifest is None or not self.path.is_file():
            return False
        stat = self.path.stat()
        key = (str(self.path), stat.st_size, stat.st_mtime_ns, manifest["artifact"]["sha256"])
        if key in self._verified:
            return True
        expected = manifest["artifact"]
        problem = None
        if stat.st_size != expected["bytes"]:
            problem = f"size {stat.st_size} != manifest {expected['bytes']}"
        elif storage.sha256_file(self.path) != expected["sha256"]:
            problem = "sha256 does not match the manifest"
        if problem:
            storage.quarantine(self.path, self.root, problem)
            storage.quarantine(self.manifest_path, self.root, problem)
            return False
        self._verified[key] = True
        return True

    def exists(self) -> bool:
        return self.verify()

    def load(self):
        """Unpickle the artifact, after checking its bytes against the manifest.

        Its numpy arrays come back memory-mapped read-only: loading MNIST's 200 MB takes
        milliseconds instead of a copy, and the file never changes once written (a rebuild
        writes a new file and renames it into place).
        """
        if not self.verify():
            raise ArtifactCorruptError(f"{self.path} is missing or failed its checksum; rerun the pipeline")
        return joblib.load(self.path, mmap_mode="r")

    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    @property
    def checkpoint_dir(self) -> Path:
        return self.path.with_suffix(".checkpoints")

    def remove_temporaries(self) -> None:
        """Delete what interrupted writes of this artifact left behind (call while holding its lock)."""
        for name in (self.path.name, self.manifest_path.name):
            storage.remove_stale_temporaries(self.path.parent, name)

    def write(self, obj, manifest: dict) -> None:
        """Atomically write ``obj`` with joblib, then its manifest."""
        storage.atomic_write(self.path, lambda fh: joblib.dump(obj, fh, compress=0))
        manifest = {**manifest, "artifact": {
            "file": self.path.name, "sha256": storage.sha256_file(self.path), "bytes": self.path.stat().st_size,
        }}
        storage.atomic_write_bytes(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True).encode())


class ArtifactTask(luigi.Task):
    """A pipeline stage whose output is one fingerprinted joblib artifact.

    Subclasses set ``code`` (the ``pipeline`` modules the stage runs), declare
    ``requires()`` and implement ``build(inputs)``, which returns the object to store;
    ``inputs`` mirrors ``requires()`` with each artifact loaded.
    """

    code: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.validate()

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        try:
            return super().get_param_values(params, args, kwargs)
        except ValueError as exc:  # luigi's parsing errors keep the offending value in __cause__
            detail = f" ({exc.__cause__})" if exc.__cause__ else ""
            raise ValueError(f"[{cls.get_task_family()}] invalid configuration: {exc}{detail}") from exc

    def validate(self) -> None:
        """Raise ``ValueError`` naming section, key and value when a parameter is out of range."""

    def params_dict(self, significant_only: bool = False) -> dict[str, str]:
        """Resolved parameters, serialised as luigi writes them on the command line."""
        return {
            name: param.serialize(getattr(self, name))
            for name, param in self.get_params()
            if param.significant or not significant_only
        }

    def upstream_fingerprints(self) -> dict[str, str]:
        """``{family: fingerprint}`` of the artifacts this stage reads."""
        return {t.get_task_family(): t.fingerprint() for t in flatten(self.requires())}

    def fingerprint_inputs(self) -> dict:
        """Everything the fingerprint is a hash of."""
        inputs = {
            "family": self.get_task_family(),
            "params": self.params_dict(significant_only=True),
            "upstream": self.upstream_fingerprints(),
            "code": code_hashes(self.code),
        }
        if fingerprint_config().include_library_versions:
            inputs["libraries"] = library_versions()
        return inputs

    def fingerprint(self) -> str:
        """sha256 over :meth:`fingerprint_inputs`.

        Not memoised: luigi reuses task instances with equal parameters, while the
        configuration of their upstream stages may have changed in between.
        """
        return canonical_hash(self.fingerprint_inputs())

    def output(self) -> ArtifactTarget:
        return self.target_for(self.fingerprint())

    def target_for(self, fingerprint: str) -> ArtifactTarget:
        """This stage's artifact with the given fingerprint (built now or earlier)."""
        return ArtifactTarget(Path(artifacts().root), self.get_task_family(), fingerprint)

    def load_inputs(self):
        """The loaded artifacts of ``requires()``, in the same structure (dict, list or single)."""
        req = self.requires()
        if isinstance(req, dict):
            return {k: t.output().load() for k, t in req.items()}
        if isinstance(req, (list, tuple)):
            return [t.output().load() for t in req]
        return req.output().load() if req is not None else None

    def build(self, inputs):
        """Compute and return this stage's artifact object."""
        raise NotImplementedError

    def run(self):
        """Build and save the artifact under an inter-process lock, unless it is already there."""
        inputs = self.fingerprint_inputs()  # fixed now: a source edit during training must not relabel it
        target = self.target_for(canonical_hash(inputs))
        with storage.exclusive_lock(target.lock_path):
            if target.exists():
                log.info("%s: artifact already present (another process built it)", self.get_task_family())
            else:
                target.remove_temporaries()
                started = time.time()
                result = self.build(self.load_inputs())
                self.save(result, started, inputs, target)
            self.after_save()

    def after_save(self) -> None:
        """Runs under the lock once the artifact exists (subclasses publish or clean up here)."""

    def save(self, result, started: float, inputs: dict, target: ArtifactTarget) -> None:
        """Write ``result`` to ``target`` with a manifest recording parameters, inputs, code and environment."""
        manifest = {
            "task": self.get_task_family(),
            "fingerprint": canonical_hash(inputs),
            "params": self.params_dict(),
            "significant_params": inputs["params"],
            "upstream": inputs["upstream"],
            "code": inputs["code"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - started, 3),
            "host": socket.gethostname(),
            "python": platform.python_version(),
            "platform": sys.platform,
            "libraries": library_versions(),
        }
        target.write(result, manifest)
        log.info("%s: wrote %s", self.get_task_family(), target.path)
