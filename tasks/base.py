"""The one artifact base class: a stage's fingerprinted target, and its build under a lock.

Manifests and verification live in :mod:`tasks.manifest` (bytes on disk in
:mod:`tasks.storage`), fingerprints and environment metadata in :mod:`tasks.fingerprint`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import joblib
import luigi
from luigi.task import flatten

from tasks import divergence
from tasks import manifest as manifests
from tasks import storage
from tasks.config import artifacts
from tasks.config import fingerprint as fingerprint_config
from tasks.fingerprint import canonical_hash, environment, library_versions, stage_code_hashes
from tasks.store_target import StoreArtifactTarget, configured_store, is_store_root

log = logging.getLogger(__name__)
FINGERPRINT_CHARS = 16


class ArtifactCorruptError(RuntimeError):
    """An artifact is missing, or its bytes do not match the checksum in its manifest."""


class ArtifactTarget(manifests.VerifiedTarget, luigi.Target):
    """``<root>/<Family>/<fingerprint>.joblib`` plus its ``.json`` manifest.

    :meth:`exists` and :meth:`verdict` only read; :meth:`load` (the run that needs the
    artifact) quarantines a corrupt one before raising.
    """

    def __init__(self, root: Path, family: str, fingerprint: str):
        self.root = Path(root)
        self.path = self.root / family / f"{fingerprint[:FINGERPRINT_CHARS]}.joblib"
        self.manifest_path = manifests.manifest_path(self.path)

    def manifest(self) -> dict | None:
        """The manifest, or None when it is missing or unreadable."""
        return manifests.read_manifest(self.path)

    def verdict(self) -> manifests.Verdict:
        """Present, missing or corrupt (and why), without changing anything on disk."""
        return manifests.verify(self.path)

    def _quarantine(self, problem: str) -> None:
        manifests.quarantine(self.path, self.root, problem)  # to <root>/_quarantine

    def load(self):
        """Unpickle the artifact, after checking its bytes against the manifest.

        A corrupt artifact is quarantined and never unpickled. Numpy arrays come back
        memory-mapped read-only: loading MNIST's 200 MB takes milliseconds instead of a
        copy, and the file never changes once written (a rebuild writes a new file and
        renames it into place).
        """
        verdict = self.verdict()
        if verdict.state == manifests.CORRUPT:
            manifests.quarantine(self.path, self.root, verdict.problem)
            raise ArtifactCorruptError(f"{self.path} failed its checksum ({verdict.problem}); it was quarantined, "
                                       f"rerun the pipeline")
        if verdict.state != manifests.PRESENT:
            raise ArtifactCorruptError(f"{self.path} is missing ({verdict.problem}); rerun the pipeline")
        return joblib.load(self.path, mmap_mode="r")

    #: Divergence records (:mod:`tasks.divergence`) are kept beside artifacts in a directory.
    keeps_divergence_records = True

    @property
    def location(self) -> str:
        """Where the artifact is, for messages."""
        return str(self.path)

    def reference(self) -> str:
        """How a champion names this artifact (``artifacts gc`` reads it back): its path."""
        return str(self.path)

    def family_manifests(self) -> list[dict]:
        """Every readable manifest of this artifact's family (for ``status``'s reasons)."""
        found = []
        for path in sorted(self.path.parent.glob("*.json")) if self.path.parent.is_dir() else []:
            if path.name.endswith(divergence.SUFFIX):
                continue
            try:
                manifest = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict):
                found.append(manifest)
        return found

    def build_guard(self, exclusive: bool = True):
        """Context manager: this artifact's inter-process lock (one builder on this file system; always
        exclusive, ``exclusive`` is for the object store's guard)."""
        return storage.exclusive_lock(self.lock_path)

    def checkpointer(self):
        """End-of-epoch checkpoints kept beside the artifact until it is written."""
        from tasks.checkpoints import DirectoryCheckpointer

        return DirectoryCheckpointer(self.checkpoint_dir, self.root)

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
        manifests.write(self.path, lambda fh: joblib.dump(obj, fh, compress=0), manifest)


class ArtifactTask(luigi.Task):
    """A pipeline stage whose output is one fingerprinted joblib artifact.

    Subclasses may set ``code`` (modules the stage runs that its imports do not show:
    :mod:`tasks.fingerprint` follows the rest), declare
    ``requires()`` and implement ``build(inputs)``, which returns the object to store;
    ``inputs`` mirrors ``requires()`` with each artifact loaded.
    """

    code: tuple[str, ...] = ()
    #: Whether :meth:`after_save` writes more than the artifact (and so needs the build guard even when
    #: another process built the artifact): see ``build_guard(exclusive=...)``.
    exclusive_after_save: bool = False
    #: The artifact the current run writes, fixed when it started (None outside :meth:`build`).
    run_target: ArtifactTarget | None = None

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
            "code": stage_code_hashes(self),
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

    def target_for(self, fingerprint: str):
        """This stage's artifact with the given fingerprint (built now or earlier): an
        :class:`ArtifactTarget` in a directory, or a :class:`tasks.store_target.StoreArtifactTarget`
        when ``[artifacts] root`` is ``s3://bucket/prefix``; both have the same methods."""
        root = artifacts().root
        if is_store_root(root):
            return StoreArtifactTarget(configured_store(), self.get_task_family(), fingerprint)
        return ArtifactTarget(Path(root), self.get_task_family(), fingerprint)

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
        """Build and save the artifact under its build guard, unless it is already there.

        The guard is an inter-process lock for a directory root, the stage's lease for an
        object store (one builder across hosts; a worker that lost its lease cannot publish).

        The target is fixed before the build (a source edit during training must not
        relabel it); the build reaches it as :attr:`run_target`, ``after_save`` as its argument.
        A corrupt artifact at that path is quarantined here, by the run that rebuilds it.
        """
        inputs = self.fingerprint_inputs()
        target = self.target_for(canonical_hash(inputs))
        with target.build_guard(exclusive=self.exclusive_after_save):
            if target.exists():
                log.info("%s: artifact already present (built earlier, or by another process meanwhile)", self.get_task_family())
            else:
                if target.quarantine_if_corrupt():
                    log.warning("%s: the stored artifact was corrupt; rebuilding it", self.get_task_family())
                target.remove_temporaries()
                started = time.time()
                self.run_target = target
                try:
                    with self.building(target):
                        result = self.build(self.load_inputs())
                finally:
                    self.run_target = None
                self.save(result, started, inputs, target)
            self.after_save(target)

    def building(self, target: ArtifactTarget):
        """Context around loading the inputs and building ``target``, under its lock: subclasses may
        refuse to build here, or record how a build failed."""
        return contextlib.nullcontext()

    def after_save(self, target: ArtifactTarget) -> None:
        """Runs under the lock once ``target`` (this run's artifact) exists: subclasses publish or clean up here."""

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
            **environment(),
        }
        target.write(result, manifest)
        log.info("%s: wrote %s", self.get_task_family(), target.location)
