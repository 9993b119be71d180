"""A run's claim on an object-store root: what it uses, so that gc on another host leaves it alone.

``_runs/<owner>.json`` lists the stems a run uses. A daemon thread rewrites it every third of
``lease_seconds`` while the process lives; a claim older than ``lease_seconds`` (by the store's
clock) counts as ended. The process deletes its claims as it ends, normally or stopped by a signal,
so that what it used is free for gc at once rather than once the claim expires.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from stagecache.core import signals
from stagecache.storage.roots.base import claim_bytes, claimed
from stagecache.storage.stores.base import Store, StoreError
from stagecache.storage.stores.cas import update_object

log = logging.getLogger(__name__)
RUNS_PREFIX = "_runs/"
_lock = threading.Lock()
_held: dict[tuple[int, str], tuple[Store, str, bytes]] = {}  # (store, key) -> what this process keeps renewed
_renewer: list[threading.Thread] = []


def hold(store: Store, owner: str, stems: set[tuple[str, str]], lease_seconds: float) -> None:
    """Write ``owner``'s claim on ``stems`` and keep it renewed while this process lives."""
    body = claim_bytes(owner, stems)
    key = f"{RUNS_PREFIX}{owner.replace('/', '-').replace(':', '-')}.json"
    update_object(store, key, lambda _old: body)
    with _lock:
        _held[(id(store), key)] = (store, key, body)
        if not _renewer:
            atexit.register(release_claims)
            signals.always_on_stop(release_claims)
            thread = threading.Thread(target=_renew, args=(lease_seconds / 3,), daemon=True, name="stagecache-claims")
            thread.start()
            _renewer.append(thread)


def live(store: Store, lease_seconds: float) -> dict[str, set[tuple[str, str]]]:
    """``{owner: stems}`` of the claims still renewed; an expired one is deleted (its run ended or died)."""
    claims: dict[str, set[tuple[str, str]]] = {}
    for key in store.list(RUNS_PREFIX):
        info = store.head(key)
        if info is None:
            continue
        if info.age > lease_seconds + store.time_resolution:
            store.delete(key)
            continue

        def read(key: str = key) -> bytes:
            return store.get(key)[0]

        owner, stems = claimed(read, key)
        claims[owner] = stems
    return claims


def _renew(every: float) -> None:
    """Rewrite this process's claims every ``every`` seconds (a daemon thread; a claim left unrenewed expires)."""
    while True:
        time.sleep(every)
        with _lock:
            claims = list(_held.values())
        for store, key, body in claims:

            def renewed(_old: bytes | None, body: bytes = body) -> bytes:
                return body

            with _lock:
                if (id(store), key) not in _held:  # released meanwhile
                    continue
            try:
                update_object(store, key, renewed)
            except StoreError as exc:
                log.warning("could not renew the run's claim %s: %s", key, exc)


def release_claims(within: float = 3.0) -> None:
    """Delete this process's claims, best effort and for at most ``within`` seconds (one left behind expires)."""
    with _lock:
        claims = list(_held.values())
        _held.clear()

    def delete() -> None:
        for store, key, _body in claims:
            try:
                store.delete(key)
            except StoreError as exc:
                log.debug("could not delete the run's claim %s (%s); it expires", key, exc)

    if claims:
        signals.run_within(within, delete, "stagecache-claims-release")
