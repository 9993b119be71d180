"""Champions and history: JSON documents updated by compare-and-swap on their ETag.

Two retrains on two hosts that both read champion A and both try to promote get one
success and one :class:`PreconditionFailed`; :func:`update_json` retries the loser with the
new value, so its decision is made again against the winner.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from stagecache.storage.stores.base import ObjectNotFound, PreconditionFailed, Store, StoreError

log = logging.getLogger(__name__)


def read_json(store: Store, key: str) -> tuple[Any, str | None]:
    """The document at ``key`` and its ETag, or ``(None, None)`` when it does not exist."""
    try:
        data, info = store.get(key)
    except ObjectNotFound:
        return None, None
    return json.loads(data), info.etag


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()


def compare_and_swap(store: Store, key: str, expected_etag: str | None, value: Any) -> str:
    """Write ``value`` if ``key`` still has ``expected_etag`` (None = still absent); return the new ETag.

    Raises :class:`PreconditionFailed` when someone else wrote ``key`` in between.
    """
    data = _dump(value)
    if expected_etag is None:
        return store.put_if_absent(key, data).etag
    return store.put_if_match(key, data, expected_etag).etag


def update_object(
    store: Store, key: str, update: Callable[[bytes | None], bytes | None], attempts: int = 50
) -> bytes | None:
    """Replace the object at ``key`` by ``update(current bytes)`` (None when absent) by compare-and-swap,
    retrying on conflict with the newer bytes; return the bytes now stored.

    ``update`` must be a pure function of what it gets; when it returns None or the current
    bytes, nothing is written.
    """
    for attempt in range(attempts):
        try:
            current, info = store.get(key)
            etag = info.etag
        except ObjectNotFound:
            current, etag = None, None
        new = update(current)
        if new is None or new == current:
            return current
        try:
            if etag is None:
                store.put_if_absent(key, new)
            else:
                store.put_if_match(key, new, etag)
            return new
        except PreconditionFailed:
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise StoreError(f"{store.location}: {key} kept changing; gave up after {attempts} attempts")


def update_json(store: Store, key: str, update: Callable[[Any], Any], attempts: int = 50) -> Any:
    """Apply ``update(current)`` (current is None when absent) by compare-and-swap, retrying on conflict.

    ``update`` gets a copy and must be a pure function of it; when it returns a value equal
    to the current one nothing is written (None for an absent document: it stays absent).
    Returns the value now stored.
    """

    def on_bytes(data: bytes | None) -> bytes | None:
        current = None if data is None else json.loads(data)
        new = update(copy.deepcopy(current))
        return None if new == current else _dump(new)

    stored = update_object(store, key, on_bytes, attempts)
    return None if stored is None else json.loads(stored)
