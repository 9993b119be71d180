"""The S3 server dies in the middle of a publish: nothing is taken for published, and a retry works."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest

from stagecache.storage.stores import StoreUnavailable
from stagecache.storage.stores.publish import load, object_key, publish, read_manifest


class KillingLease:
    """Stands in for a held lease; its second check (after the object, before the manifest) kills the server."""

    def __init__(self, server):
        self.server, self.checks = server, 0

    def check(self):
        self.checks += 1
        if self.checks == 2:
            self.server.kill()


def test_server_killed_between_object_and_manifest_leaves_nothing_published(crashable_seaweed):
    store = crashable_seaweed.store("crash", max_attempts=1)
    buffer = io.BytesIO()
    joblib.dump({"W": np.arange(5.0)}, buffer)
    data = buffer.getvalue()
    with pytest.raises(StoreUnavailable, match=crashable_seaweed.endpoint):
        publish(store, "TrainMLP/abc", data, lease=KillingLease(crashable_seaweed))
    crashable_seaweed.start()  # same data directory and ports, as after a reboot
    assert read_manifest(store, "TrainMLP/abc") is None
    from stagecache.storage.stores.base import sha256_bytes

    assert list(store.list("TrainMLP/")) in ([], [object_key("TrainMLP/abc", sha256_bytes(data))])
    publish(store, "TrainMLP/abc", data)
    np.testing.assert_array_equal(load(store, "TrainMLP/abc")["W"], np.arange(5.0))
