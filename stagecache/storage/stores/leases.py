"""Build once across hosts: a lease object per stage, held by compare-and-swap on its ETag.

* acquire: create ``leases/<name>.json`` with If-None-Match: * (only one worker can);
* renew: rewrite it with If-Match on the ETag this holder wrote last, which fails once
  anyone else has written it since;
* takeover: a lease not renewed for ``ttl`` seconds (by the store's clock, so hosts' clocks
  need not agree) may be replaced with If-Match on the ETag that was read;
* release: delete with If-Match.

A holder that lost its lease gets :class:`LeaseLost` from ``renew``/``check`` and so from
:func:`stagecache.storage.stores.publish.publish`, which renews before each of its two writes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from stagecache.storage.stores.base import ObjectNotFound, PreconditionFailed, Store, StoreError

log = logging.getLogger(__name__)
LEASE_PREFIX = "_leases/"


class LeaseError(StoreError):
    """Base of the lease errors."""


class LeaseHeld(LeaseError):
    """Another live worker holds the lease."""


class LeaseLost(LeaseError):
    """This worker's lease was taken over (or deleted) after it expired: it must not publish."""


def default_owner() -> str:
    """``host:pid``, how a lease names its holder in messages."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaseState:
    """What the lease object says, and how old it is by the store's clock."""

    owner: str
    token: str
    ttl: float
    age: float
    etag: str
    expired: bool


def lease_key(name: str) -> str:
    """The store key of the lease called ``name``."""
    return f"{LEASE_PREFIX}{name}.json"


def read_lease(store: Store, name: str) -> LeaseState | None:
    """The lease's state, or None when nobody holds it."""
    try:
        data, info = store.get(lease_key(name))
    except ObjectNotFound:
        return None
    try:
        body = json.loads(data)
        owner, token, ttl = str(body["owner"]), str(body["token"]), float(body["ttl"])
    except (ValueError, KeyError, TypeError):
        log.warning("lease %s in %s is unreadable; treating it as expired", name, store.location)
        return LeaseState("?", "?", 0.0, info.age, info.etag, expired=True)
    return LeaseState(owner, token, ttl, info.age, info.etag, expired=info.age > ttl + store.time_resolution)


class Lease:
    """A held lease. Use :meth:`renew` (or :meth:`keep_alive`) well within ``ttl``."""

    def __init__(self, store: Store, name: str, owner: str, ttl: float, token: str, etag: str):
        self.store, self.name, self.owner, self.ttl = store, name, owner, ttl
        self.token, self.etag = token, etag
        self.renewals = 0
        self._lost: LeaseLost | None = None
        self._lock = threading.Lock()

    def _body(self) -> bytes:
        return json.dumps(
            {
                "owner": self.owner,
                "token": self.token,
                "ttl": self.ttl,
                "renewals": self.renewals,
                "written_at": time.time(),
            }
        ).encode()

    def _lost_error(self) -> LeaseLost:
        state = read_lease(self.store, self.name)
        now = "nobody holds it now" if state is None else f"{state.owner} holds it now"
        return LeaseLost(
            f"lease {self.name!r} of {self.owner} in {self.store.location} was lost "
            f"(not renewed within {self.ttl:g} s and taken over, or released); {now}"
        )

    def renew(self) -> None:
        """Rewrite the lease with If-Match on our last ETag; :class:`LeaseLost` if anyone else wrote it."""
        with self._lock:
            if self._lost is not None:
                raise self._lost
            self.renewals += 1
            try:
                self.etag = self.store.put_if_match(lease_key(self.name), self._body(), self.etag).etag
            except PreconditionFailed:
                self._lost = self._lost_error()
                raise self._lost from None

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is still ours (renews it as a side effect)."""
        self.renew()

    def release(self) -> None:
        """Delete the lease if it is still ours (a lost lease is left to its new holder)."""
        with self._lock:
            try:
                self.store.delete(lease_key(self.name), if_match=self.etag)
            except PreconditionFailed:
                log.warning("lease %r was no longer ours when released", self.name)

    def keep_alive(self, every: float | None = None) -> _KeepAlive:
        """Context manager renewing the lease every ``every`` (default ttl/3) seconds in a thread."""
        return _KeepAlive(self, every if every is not None else self.ttl / 3)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class _KeepAlive:
    def __init__(self, lease: Lease, every: float):
        self.lease, self.every = lease, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.name}", daemon=True)

    def _run(self):
        while not self._stop.wait(self.every):
            try:
                self.lease.renew()
            except LeaseLost:
                log.error("lease %r lost while working", self.lease.name)
                return
            except StoreError as exc:  # a transient failure: try again at the next tick
                log.warning("renewing lease %r failed: %s", self.lease.name, exc)

    def __enter__(self):
        self._thread.start()
        return self.lease

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def hand_back(store: Store, name: str, token: str) -> bool:
    """Delete the lease ``name`` if it is the one written with ``token``, whatever ETag its holder saw last.

    For a stopping process, from another thread: the thread that holds the lease may have been stopped in
    the middle of a renewal (holding the lease's lock, its new ETag not yet recorded), or of taking it (the
    lease written, its :class:`Lease` not yet returned). True when it was deleted here.
    """
    for _ in range(5):  # a renewal between our read and our delete changes the ETag: read again
        state = read_lease(store, name)
        if state is None or state.token != token:
            return False
        try:
            store.delete(lease_key(name), if_match=state.etag)
            return True
        except PreconditionFailed:
            continue
    return False


def acquire_lease(
    store: Store,
    name: str,
    ttl: float,
    owner: str | None = None,
    wait: float = 0.0,
    poll: float = 0.5,
    token: str | None = None,
) -> Lease:
    """Take the lease ``name`` (creating it, or taking over an expired one).

    Raises :class:`LeaseHeld` when a live holder keeps it for longer than ``wait`` seconds. ``token`` (default:
    a new one) is what the lease is written with: known before it is written, :func:`hand_back` can remove it
    whenever the caller is stopped.
    """
    owner = owner or default_owner()
    token = token or uuid.uuid4().hex
    deadline = time.monotonic() + wait
    vanished = 0
    while True:
        lease = Lease(store, name, owner, ttl, token=token, etag="")
        try:
            lease.etag = store.put_if_absent(lease_key(name), lease._body()).etag
            log.info("lease %r taken by %s", name, owner)
            return lease
        except PreconditionFailed:
            pass
        state = read_lease(store, name)
        if state is None and vanished < 10:  # released between our two requests: create it again
            vanished += 1
            continue
        if state is not None and state.expired:
            try:
                lease.etag = store.put_if_match(lease_key(name), lease._body(), state.etag).etag
                log.warning(
                    "lease %r taken over by %s from %s (not renewed for %.1f s)", name, owner, state.owner, state.age
                )
                return lease
            except PreconditionFailed:
                state = read_lease(store, name)
        if time.monotonic() >= deadline:
            holder = (
                "another worker"
                if state is None
                else f"{state.owner} (renewed {state.age:.0f} s ago, expires after {state.ttl:g} s)"
            )
            raise LeaseHeld(f"lease {name!r} in {store.location} is held by {holder}")
        time.sleep(poll)
