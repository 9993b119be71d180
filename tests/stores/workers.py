"""Functions run in separate processes by the store tests (importable, so ``spawn`` can run them)."""

from __future__ import annotations

import os
import time

from stagecache.storage.stores.base import PreconditionFailed
from stagecache.storage.stores.cas import compare_and_swap, read_json, update_json
from stagecache.storage.stores.leases import acquire_lease
from stagecache.storage.stores.s3 import S3Store


def spec_of(store) -> tuple:
    """What a child process needs to open the same store."""
    # The fork server may predate the server fixture's environment: hand the host's AWS variables on.
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    return ("s3", store.bucket, store.prefix, store.endpoint, env)


def open_spec(spec: tuple):
    os.environ.update(spec[4])
    return S3Store(spec[1], spec[2], endpoint_url=spec[3], region_name="us-east-1")


def race_put_if_absent(spec, name, keys, barrier, results):
    store = open_spec(spec)
    won = []
    barrier.wait()
    for key in keys:
        try:
            store.put_if_absent(key, name.encode())
            won.append(key)
        except PreconditionFailed:
            pass
    results.put((name, won))


def race_promote(spec, name, key, barrier, results):
    store = open_spec(spec)
    _, etag = read_json(store, key)
    barrier.wait()
    try:
        compare_and_swap(store, key, etag, {"champion": name})
        results.put((name, True))
    except PreconditionFailed:
        results.put((name, False))


def append_history(spec, name, key, n, barrier):
    store = open_spec(spec)
    barrier.wait()
    for i in range(n):
        update_json(store, key, lambda history, i=i: (history or []) + [f"{name}-{i}"])


def hold_lease(spec, name, ttl, ready):
    """Take the lease, keep it alive, and work forever (until killed)."""
    store = open_spec(spec)
    lease = acquire_lease(store, name, ttl=ttl, owner="doomed-worker")
    with lease.keep_alive():
        ready.set()
        while True:
            time.sleep(1)


# Load botocore's S3 model once here, so that a fork server that preloads this module hands it to each child.
from stagecache.storage.stores.s3 import _new_session  # noqa: E402

_new_session().client("s3", region_name="us-east-1")
