"""An object-store root (``[artifacts] root = s3://bucket/prefix``).

Keys under the store (see :mod:`stagecache.storage.stores.publish`): ``<Family>/<fp16>.json`` is the manifest
(the commit marker), ``<Family>/<fp16>.<sha16>.joblib`` the object it names,
``<Family>/<fp16>.checkpoints/`` the training checkpoints, ``<Family>/<fp16>.diverged.json`` a
divergence record, ``_leases/<Family>/<fp16>.json`` the build lease. ``exists`` reads the manifest
and HEADs its object (size and ETag as published); ``load`` goes through the host's verified cache
and checks the sha256 before unpickling. Published documents and logs are updated by compare-and-swap
on their ETag, so two hosts cannot both win.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from collections.abc import Callable

import joblib

from stagecache.core import signals
from stagecache.storage import manifest as manifests
from stagecache.storage.roots import bucket_claims
from stagecache.storage.roots.base import (
    CHECKPOINTS_SUFFIX,
    DIVERGED_SUFFIX,
    ArtifactCorruptError,
    ArtifactTarget,
    Root,
    StoredArtifact,
    iter_json_manifests,
    parse_record,
    record_bytes,
)
from stagecache.storage.stores import publish as publishing
from stagecache.storage.stores.base import IntegrityError, ObjectNotFound, PreconditionFailed, Store, StoreError
from stagecache.storage.stores.cas import update_object
from stagecache.storage.stores.leases import LEASE_PREFIX, Lease, LeaseHeld, acquire_lease, hand_back, read_lease

log = logging.getLogger(__name__)


class BucketTarget(ArtifactTarget):
    """One stage's artifact in an object store: manifest, object, checkpoints, divergence record and build lease."""

    def __init__(self, root: BucketRoot, family: str, fingerprint: str):
        super().__init__(family, fingerprint)
        self.store: Store = root.store
        self.lease_seconds = root.lease_seconds
        self.manifest_key = publishing.manifest_key(self.stem)
        #: The lease held while this target is being built here (None otherwise).
        self.lease: Lease | None = None

    @property
    def location(self) -> str:
        return f"{self.store.location}: {self.stem}"

    def reference(self) -> str:
        """Its object's key once published, else its stem."""
        manifest = self.manifest()
        return str(manifest["artifact"]["key"]) if manifest is not None else self.stem

    # Reading --------------------------------------------------------------------------------
    def _raw_manifest(self) -> tuple[dict | None, str]:
        return publishing.manifest_or_problem(self.store, self.stem)

    def manifest(self) -> dict | None:
        return self._raw_manifest()[0]

    def verdict(self) -> manifests.Verdict:
        """From the manifest and a HEAD of its object; a replaced object shows as a changed size or ETag
        (the sha256 itself is checked on load). Changes nothing."""
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

    def _load_verified(self):
        manifest = self.manifest()
        if manifest is None:
            raise ArtifactCorruptError(f"{self.location}: the manifest vanished")
        artifact = manifest["artifact"]
        try:
            return self.store.load_verified(artifact["key"], artifact["sha256"])
        except (IntegrityError, ObjectNotFound) as exc:
            raise ArtifactCorruptError(str(exc)) from None

    def family_manifests(self) -> list[dict]:
        def contents():
            for key in self.store.list(f"{self.family}/"):
                if key.endswith(".json") and key.count("/") == 1:
                    try:
                        yield key, self.store.get(key)[0]
                    except ObjectNotFound:
                        continue

        return iter_json_manifests(contents())

    # Building -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def build_guard(self, exclusive: bool = False):
        """Hold this stage's lease (kept alive in a thread) for the block: one builder across hosts.

        Waits while a live worker holds it; takes it over once it expires (its holder died).
        Gives up waiting, yielding without the lease, as soon as the artifact is published,
        unless ``exclusive`` (the block writes more than the artifact, e.g. the report's files).
        """
        ttl = self.lease_seconds
        # SIGTERM: others need not wait out the ttl. The hand-back is registered before the lease is written and
        # until it is released, and needs neither the Lease object nor its lock: a stop can come as the lease is
        # being written, while the build renews it (holding its lock), or once the build has ended.
        token = uuid.uuid4().hex

        def give_back() -> None:
            hand_back(self.store, self.stem, token)

        with signals.on_stop(give_back):
            while True:
                try:
                    lease = acquire_lease(self.store, self.stem, ttl, wait=ttl, token=token)
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

    def write(self, obj, manifest: dict) -> None:
        """Publish ``obj`` (joblib) and then its manifest, under the lease when one is held."""
        buffer = io.BytesIO()
        joblib.dump(obj, buffer, compress=0)
        # publish renews the lease before each write: a worker that lost it raises LeaseLost, never publishes
        publishing.publish(self.store, self.stem, buffer.getvalue(), manifest, lease=self.lease)

    def copy_from(self, source: ArtifactTarget, sha256: str, manifest: dict) -> None:
        """Fetch ``source``'s object (checked against ``sha256``), then publish it and ``manifest`` under the lease."""
        if not isinstance(source, BucketTarget) or source.store is not self.store:
            raise TypeError(f"{self.location}: cannot copy from {source.location}, an artifact of another root")
        body = source.manifest()
        if body is None or body["artifact"]["sha256"] != sha256:
            raise ArtifactCorruptError(f"{source.location} is gone or was replaced")
        try:
            data = self.store.read_verified(body["artifact"]["key"], sha256)
        except (IntegrityError, ObjectNotFound) as exc:
            raise ArtifactCorruptError(str(exc)) from None
        publishing.publish(self.store, self.stem, data, manifest, lease=self.lease)

    def checkpointer(self):
        from stagecache.storage.checkpoints import StoreCheckpointer

        return StoreCheckpointer(self.store, f"{self.stem}.checkpoints/", lease=self.lease)

    # Divergence records -----------------------------------------------------------------------
    @property
    def divergence_key(self) -> str:
        return f"{self.stem}{DIVERGED_SUFFIX}"

    @property
    def divergence_location(self) -> str:
        return f"{self.store.location}/{self.divergence_key}"

    def read_divergence(self) -> dict | None:
        def read() -> bytes:
            try:
                return self.store.get(self.divergence_key)[0]
            except ObjectNotFound:
                raise FileNotFoundError(self.divergence_key) from None

        return parse_record(read)

    def write_divergence(self, record: dict) -> str:
        data = record_bytes(record)
        update_object(self.store, self.divergence_key, lambda _old: data)
        return self.divergence_location


class BucketRoot(Root):
    """Artifacts and published files as keys under an object store's prefix."""

    def __init__(self, store: Store, url: str, lease_seconds: float = 60.0):
        self.store = store
        self.url = url.rstrip("/")
        self.lease_seconds = lease_seconds

    @property
    def location(self) -> str:
        return self.store.location

    def target(self, family: str, fingerprint: str) -> BucketTarget:
        return BucketTarget(self, family, fingerprint)

    # Published files -----------------------------------------------------------------------------
    def read_file(self, name: str) -> bytes | None:
        try:
            return self.store.get(name)[0]
        except ObjectNotFound:
            return None

    def list_files(self, directory: str, suffix: str = "") -> list[str]:
        prefix = f"{directory}/"
        return [k for k in self.store.list(prefix) if "/" not in k[len(prefix) :] and k.endswith(suffix)]

    def publish_directory(self, directory: str, files: dict[str, bytes], last: str = "", lease=None) -> None:
        """Each file is written, ``last`` (the file readers check) after all others, then files no
        longer published are deleted. With the writer's ``lease``, it is renewed before the first file
        and before ``last``: a writer that lost it stops with ``LeaseLost``."""
        prefix = f"{directory}/"
        order = sorted(files, key=lambda name: (name == last, name))
        for name in order:
            if lease is not None and name in (order[0], last):
                lease.renew()
            self._put(prefix + name, files[name])
        for key in list(self.store.list(prefix)):
            if key[len(prefix) :] not in files:
                self.store.delete(key)
        log.info("published %d files under %s", len(files), self.link(directory) + "/")

    def _put(self, key: str, data: bytes) -> None:
        """Write ``key`` whatever it holds now (a concurrent writer of the same key: the last one wins)."""
        for _ in range(10):
            info = self.store.head(key)
            try:
                if info is None:
                    self.store.put_if_absent(key, data)
                else:
                    self.store.put_if_match(key, data, info.etag)
                return
            except PreconditionFailed:
                continue
        raise RuntimeError(f"{self.store.location}: {key} kept changing while it was published")

    def update_file(self, name: str, update: Callable[[bytes | None], bytes | None]) -> bytes | None:
        stored: list[bytes | None] = [None]

        def step(current: bytes | None) -> bytes | None:
            new = update(current)
            stored[0] = current if new is None else new
            return new

        update_object(self.store, name, step)
        return stored[0]

    def append_file(self, name: str, lines: Callable[[bytes], bytes]) -> bytes:
        seen: list[bytes] = [b""]

        def appended(data: bytes | None) -> bytes | None:
            current = data or b""
            seen[0] = current
            new = lines(current)
            if not new:
                return None
            if current and not current.endswith(b"\n"):
                current += b"\n"
            return current + new

        update_object(self.store, name, appended)
        return seen[0]

    def read_log(self, name: str) -> bytes:
        return self.read_file(name) or b""

    def link(self, name: str) -> str:
        return f"{self.url}/{name}"

    # Runs' claims (stagecache.storage.roots.bucket_claims) ---------------------------------------------------
    def claim(self, owner: str, stems: set[tuple[str, str]]) -> None:
        bucket_claims.hold(self.store, owner, stems, self.lease_seconds)

    def live_claims(self) -> dict[str, set[tuple[str, str]]]:
        return bucket_claims.live(self.store, self.lease_seconds)

    # Inventory -------------------------------------------------------------------------------------
    def inventory(self, not_families: set[str]) -> list[StoredArtifact]:
        """Keys ``<Family>/<fp16>...`` grouped by stem; a stage with a live build lease is marked busy
        (its checkpoints are in use, its manifest not written yet)."""
        found: dict[tuple[str, str], StoredArtifact] = {}
        for key in self.store.list(""):
            family, _, name = key.partition("/")
            if (
                not name
                or "/" in name.split(".checkpoints/")[0]
                or family in not_families
                or key.startswith((LEASE_PREFIX, bucket_claims.RUNS_PREFIX, publishing.QUARANTINE_PREFIX))
            ):
                continue
            stem = name.split(".")[0]
            item = found.setdefault((family, stem), StoredArtifact(family, stem, [], None))
            item.names.append(key)
            info = self.store.head(key)
            item.bytes += info.size if info is not None else 0
            if name.startswith(f"{stem}{CHECKPOINTS_SUFFIX}/"):
                item.checkpoint_bytes += info.size if info is not None else 0
            if key == f"{family}/{stem}.json":
                try:
                    manifest = json.loads(self.store.get(key)[0])
                except (ValueError, StoreError):
                    continue
                item.manifest = (
                    manifests.valid_manifests([manifest])[0] if manifests.valid_manifests([manifest]) else None
                )
        for (family, stem), item in found.items():
            lease = read_lease(self.store, f"{family}/{stem}")
            if lease is not None and not lease.expired:
                item.busy = f"being built by {lease.owner}"
        return list(found.values())

    def remove(self, item: StoredArtifact) -> None:
        manifest = f"{item.family}/{item.fingerprint}.json"
        for key in sorted(item.names, key=lambda k: k != manifest):
            self.store.delete(key)
