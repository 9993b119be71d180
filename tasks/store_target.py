"""An artifact in an object store (``[artifacts] root = s3://bucket/prefix``), as :class:`tasks.base.ArtifactTarget`
is one in a directory: the same methods, so that no task knows which it has.

Keys under the store (see :mod:`tasks.stores.publish`): ``<Family>/<fp16>.json`` is the manifest
(the commit marker), ``<Family>/<fp16>.<sha16>.joblib`` the object it names,
``<Family>/<fp16>.checkpoints/`` the training checkpoints, ``_leases/<Family>/<fp16>.json`` the
build lease. ``exists`` reads the manifest and HEADs its object (size and ETag as published);
``load`` goes through the host's verified cache and checks the sha256 before unpickling.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading

import joblib
import luigi

from tasks import manifest as manifests
from tasks.stores import publish as publishing
from tasks.stores.base import IntegrityError, ObjectNotFound, Store, StoreError
from tasks.stores.leases import LeaseHeld, LeaseLost, acquire_lease

log = logging.getLogger(__name__)
FINGERPRINT_CHARS = 16
#: Exit code of a run that cannot use its object store (server down, wrong credentials, no bucket).
STORE_ERROR_EXIT = 50

_stores: dict[tuple, Store] = {}
_stores_lock = threading.Lock()


def is_store_root(root: str) -> bool:
    """Whether ``[artifacts] root`` names an object store (``s3://...``) rather than a directory."""
    return "://" in str(root)


def configured_store() -> Store:
    """The object store of ``[artifacts] root``, opened and checked once per process and configuration.

    A store that cannot be used (server down, wrong credentials, missing bucket) stops the
    process with one line naming it and exit code :data:`STORE_ERROR_EXIT`: nothing is read
    or written, so no partial artifact can appear.
    """
    from tasks.config import artifacts
    from tasks.stores.config import object_store, s3

    settings = s3()
    # per process: luigi's --workers N forks a process per task, and a client's pooled connections
    # must not be shared across a fork
    key = (os.getpid(), artifacts().root, settings.endpoint_url, settings.region_name, object_store().cache_dir)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            from tasks.stores.config import StoreConfigError, store_from_config

            try:
                store = store_from_config()
                store.check()
            except (StoreError, StoreConfigError) as exc:
                log.critical("error: artifact store unusable: %s", exc)
                raise SystemExit(STORE_ERROR_EXIT) from None
            _stores[key] = store
    return store


def lease_seconds() -> float:
    """``[artifacts] lease_seconds``, checked."""
    from tasks.config import artifacts

    seconds = float(artifacts().lease_seconds)
    if not seconds > 0:
        raise ValueError(f"[artifacts] lease_seconds must be > 0, got {seconds}")
    return seconds


class StoreArtifactTarget(manifests.VerifiedTarget, luigi.Target):
    """One stage's artifact in an object store: manifest, object, checkpoints and build lease."""

    def __init__(self, store: Store, family: str, fingerprint: str):
        self.store = store
        self.family = family
        self.stem = f"{family}/{fingerprint[:FINGERPRINT_CHARS]}"
        self.manifest_key = publishing.manifest_key(self.stem)
        #: The lease held while this target is being built here (None otherwise).
        self.lease = None

    #: Divergence records (:mod:`tasks.divergence`) are not kept in an object store yet (docs/s3.md).
    keeps_divergence_records = False

    @property
    def location(self) -> str:
        """Where the artifact is, for messages."""
        return f"{self.store.location}: {self.stem}"

    def reference(self) -> str:
        """How a champion names this artifact (``artifacts gc`` reads it back): its object's key once
        published, else its stem."""
        manifest = self.manifest()
        return manifest["artifact"]["key"] if manifest is not None else self.stem

    def __str__(self) -> str:
        return self.location

    # Reading --------------------------------------------------------------------------------

    def _raw_manifest(self) -> tuple[dict | None, str]:
        """(manifest, problem): the manifest when readable and complete, else None and why."""
        return publishing.manifest_or_problem(self.store, self.stem)

    def manifest(self) -> dict | None:
        """The manifest, or None when it is missing or unreadable."""
        return self._raw_manifest()[0]

    def verdict(self) -> manifests.Verdict:
        """Present, missing or corrupt (and why), from the manifest and a HEAD of its object; changes nothing.

        A replaced object shows as a changed size or ETag; the sha256 itself is checked on load.
        """
        body, problem = self._raw_manifest()
        if body is None:
            return manifests.Verdict(manifests.MISSING if problem == "no manifest" else manifests.CORRUPT, problem)
        expected = body["artifact"]
        info = self.store.head(expected["key"])
        if info is None:
            return manifests.Verdict(manifests.MISSING, "artifact object missing")
        if info.size != expected["bytes"]:
            return manifests.Verdict(manifests.CORRUPT, f"size {info.size} != manifest {expected['bytes']}")
        if expected.get("etag") and info.etag != expected["etag"]:
            return manifests.Verdict(manifests.CORRUPT, "object replaced since it was published (ETag changed)")
        return manifests.Verdict(manifests.PRESENT)

    def _quarantine(self, problem: str) -> None:
        publishing.quarantine(self.store, self.stem, problem)  # under _quarantine/ in the store

    def load(self):
        """Unpickle the artifact only after its bytes matched the manifest's sha256; quarantine it if not."""
        from tasks.base import ArtifactCorruptError

        verdict = self.verdict()
        if verdict.state == manifests.PRESENT:
            artifact = self.manifest()["artifact"]
            try:
                return self.store.load_verified(artifact["key"], artifact["sha256"])
            except IntegrityError as exc:
                verdict = manifests.Verdict(manifests.CORRUPT, str(exc))
            except ObjectNotFound:
                verdict = manifests.Verdict(manifests.MISSING, "artifact object missing")
        if verdict.state == manifests.CORRUPT:
            publishing.quarantine(self.store, self.stem, verdict.problem)
            raise ArtifactCorruptError(f"{self.location} failed its checksum ({verdict.problem}); it was "
                                       "quarantined, rerun the pipeline")
        raise ArtifactCorruptError(f"{self.location} is missing ({verdict.problem}); rerun the pipeline")

    def family_manifests(self) -> list[dict]:
        """Every readable manifest of this artifact's family (for ``status``'s reasons)."""
        found = []
        for key in self.store.list(f"{self.family}/"):
            if key.endswith(".json") and key.count("/") == 1:
                try:
                    found.append(json.loads(self.store.get(key)[0]))
                except (ObjectNotFound, ValueError):
                    continue
        return found

    # Building -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def build_guard(self, exclusive: bool = False):
        """Hold this stage's lease (kept alive in a thread) for the block: one builder across hosts.

        Waits while a live worker holds it; takes it over once it expires (its holder died).
        Gives up waiting, yielding without the lease, as soon as the artifact is published,
        unless ``exclusive`` (the block writes more than the artifact, e.g. the report's files).
        """
        ttl = lease_seconds()
        while True:
            try:
                lease = acquire_lease(self.store, self.stem, ttl, wait=ttl)
                break
            except LeaseHeld as exc:
                if not exclusive and self.exists():
                    yield
                    return
                log.info("%s; waiting", exc)
        self.lease = lease
        try:
            with lease.keep_alive():
                yield
        finally:
            self.lease = None
            try:
                lease.release()
            except StoreError as exc:  # e.g. the server died: keep the build's own error; the lease expires
                log.warning("%s: could not release the lease (%s); it expires after %g s", self.location, exc, ttl)

    def remove_temporaries(self) -> None:
        """Nothing to do: an upload is one PUT, and an object without manifest is never taken for published."""

    def write(self, obj, manifest: dict) -> None:
        """Publish ``obj`` (joblib) and then its manifest, under the lease when one is held."""
        buffer = io.BytesIO()
        joblib.dump(obj, buffer, compress=0)
        # publish renews the lease before each write: a worker that lost it raises LeaseLost, never publishes
        publishing.publish(self.store, self.stem, buffer.getvalue(), manifest, lease=self.lease)

    def checkpointer(self):
        """End-of-epoch checkpoints of this artifact in the store (see :mod:`tasks.checkpoints`)."""
        from tasks.checkpoints import StoreCheckpointer

        return StoreCheckpointer(self.store, f"{self.stem}.checkpoints/", lease=self.lease)


__all__ = ["STORE_ERROR_EXIT", "StoreArtifactTarget", "configured_store", "is_store_root", "LeaseLost"]
