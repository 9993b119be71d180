"""Publishing an artifact: the object, then its manifest as the commit marker.

Both are written with If-None-Match: *. The object's key holds a prefix of its sha256
(``<stem>.<sha16>.joblib``), so an upload that died before its manifest never blocks a
retry, and two writers of one stem cannot mix one's manifest with the other's bytes. The
sha256 is stored with the object (metadata) and in the manifest (``<stem>.json``); loads
check the bytes against the manifest before ``joblib.load`` ever sees them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from stagecache.storage.manifest import manifest_problem
from stagecache.storage.stores.base import ObjectNotFound, PreconditionFailed, Store, StoreError, sha256_bytes

log = logging.getLogger(__name__)
QUARANTINE_PREFIX = "_quarantine/"


class AlreadyPublished(StoreError):
    """Another writer committed this stem's manifest first."""


def manifest_key(stem: str) -> str:
    """Key of the manifest (the commit marker) of ``stem``."""
    return f"{stem}.json"


def object_key(stem: str, sha256: str, suffix: str = ".joblib") -> str:
    """Key of the object with content ``sha256`` published under ``stem``."""
    return f"{stem}.{sha256[:16]}{suffix}"


def _put_object(store: Store, key: str, data: bytes, sha: str) -> str:
    """Write the object (or reuse the same bytes already there); return its ETag."""
    try:
        return store.put_if_absent(key, data, metadata={"sha256": sha}).etag
    except PreconditionFailed:
        pass
    existing, info = store.get(key)
    if sha256_bytes(existing) == sha:
        log.info("%s already holds the same bytes (an earlier upload); reusing it", key)
        return info.etag
    log.warning("%s in %s holds other bytes than its name says; replacing them", key, store.location)
    store.delete(key, if_match=info.etag)
    return store.put_if_absent(key, data, metadata={"sha256": sha}).etag


def publish(
    store: Store, stem: str, data: bytes, manifest: dict | None = None, lease=None, suffix: str = ".joblib"
) -> dict:
    """Write ``data`` and then the manifest of ``stem``; return the manifest.

    With a ``lease`` (see :mod:`stagecache.storage.stores.leases`), it is renewed before each write, so a
    worker whose lease was taken over gets ``LeaseLost`` instead of publishing. Raises
    :class:`AlreadyPublished` when another writer's manifest got there first.
    """
    sha = sha256_bytes(data)
    key = object_key(stem, sha, suffix)
    if lease is not None:
        lease.check()
    etag = _put_object(store, key, data, sha)
    if lease is not None:
        lease.check()
    body = dict(manifest or {})
    # The ETag lets a HEAD tell a replaced object from the published one without downloading it.
    body["artifact"] = {"key": key, "sha256": sha, "bytes": len(data), "etag": etag}
    try:
        store.put_if_absent(
            manifest_key(stem), json.dumps(body, indent=1, sort_keys=True).encode(), metadata={"sha256": sha}
        )
    except PreconditionFailed:
        raise AlreadyPublished(f"{store.location}: {manifest_key(stem)} was published by another writer") from None
    log.info("published %s (%d bytes, sha256 %s) in %s", key, len(data), sha[:16], store.location)
    return body


def manifest_or_problem(store: Store, stem: str) -> tuple[dict | None, str]:
    """(manifest, "") when ``stem``'s manifest is readable and valid (:func:`stagecache.storage.manifest.manifest_problem`,
    the one schema of every root: its object's key, sha256 and size, and every other field's type and range);
    else (None, why): ``"no manifest"``, or what is wrong with it."""
    try:
        data, _ = store.get(manifest_key(stem))
    except ObjectNotFound:
        return None, "no manifest"
    try:
        body = json.loads(data)
    except ValueError as exc:
        return None, f"manifest {manifest_key(stem)} is unreadable ({str(exc).splitlines()[0]})"
    problem = manifest_problem(body, location=("key", "etag"), optional=("etag",))
    if problem:
        return None, f"manifest {manifest_key(stem)}: {problem}"
    return body, ""


def read_manifest(store: Store, stem: str) -> dict | None:
    """The manifest of ``stem``, or None when it is missing or unreadable (= not published)."""
    body, problem = manifest_or_problem(store, stem)
    if body is None and problem != "no manifest":
        log.warning("%s in %s", problem, store.location)
    return body


def load(store: Store, stem: str):
    """The published object of ``stem``, unpickled only after its sha256 matched the manifest.

    Raises :class:`ObjectNotFound` when unpublished and :class:`IntegrityError` when tampered.
    """
    manifest = read_manifest(store, stem)
    if manifest is None:
        raise ObjectNotFound(f"{store.location}: {stem} is not published")
    artifact = manifest["artifact"]
    return store.load_verified(artifact["key"], artifact["sha256"])


def quarantine(store: Store, stem: str, reason: str) -> list[str]:
    """Move ``stem``'s manifest (first, so it stops counting as published) and object under ``_quarantine/``."""
    manifest = read_manifest(store, stem)
    keys = [manifest_key(stem)] + ([manifest["artifact"]["key"]] if manifest else [])
    moved = []
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for key in keys:
        try:
            data, info = store.get(key)
        except ObjectNotFound:
            continue
        target = f"{QUARANTINE_PREFIX}{stamp}/{key}"
        with contextlib.suppress(PreconditionFailed):  # already quarantined there
            store.put_if_absent(target, data, metadata={"reason": reason[:200]})
        try:
            store.delete(key, if_match=info.etag)
        except PreconditionFailed:
            log.warning("%s changed while being quarantined; left in place", key)
            continue
        moved.append(target)
    log.warning("quarantined %s in %s (%s)", stem, store.location, reason)
    return moved
