"""Publishing and verified loads: object then manifest, sha256 checked before anything is unpickled."""

from __future__ import annotations

import io
import json
import pickle

import joblib
import numpy as np
import pytest

from stagecache.storage.stores import IntegrityError, ObjectNotFound
from stagecache.storage.stores.publish import (
    AlreadyPublished,
    load,
    manifest_key,
    object_key,
    publish,
    quarantine,
    read_manifest,
)


class Booby:
    """Unpickling this creates the file ``path`` (stands for any code an attacker could run)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def dumped(obj) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def test_publish_writes_object_then_manifest_and_loads_verified(store):
    weights = {"W": np.arange(12.0).reshape(3, 4), "b": np.zeros(4)}
    data = dumped(weights)
    manifest = publish(store, "TrainMLP/0123456789abcdef", data, manifest={"fingerprint": "0123"})
    key = manifest["artifact"]["key"]
    assert key == object_key("TrainMLP/0123456789abcdef", manifest["artifact"]["sha256"])
    assert store.head(key).metadata["sha256"] == manifest["artifact"]["sha256"]
    assert read_manifest(store, "TrainMLP/0123456789abcdef") == manifest
    assert manifest["fingerprint"] == "0123"
    got = load(store, "TrainMLP/0123456789abcdef")
    np.testing.assert_array_equal(got["W"], weights["W"])
    with pytest.raises(AlreadyPublished):
        publish(store, "TrainMLP/0123456789abcdef", dumped({"other": 1}))
    assert load(store, "TrainMLP/0123456789abcdef")["W"].shape == (3, 4)


def test_an_object_without_manifest_is_not_published_and_does_not_block_a_retry(store):
    data = dumped([1, 2, 3])
    manifest = publish(store, "S/x", data)
    store.delete(manifest_key("S/x"))  # as if the writer died between the object and the manifest
    assert read_manifest(store, "S/x") is None
    with pytest.raises(ObjectNotFound):
        load(store, "S/x")
    assert publish(store, "S/x", data) == manifest
    assert load(store, "S/x") == [1, 2, 3]


def test_garbage_at_the_object_key_is_replaced_on_publish(store):
    data = dumped("good")
    from stagecache.storage.stores.base import sha256_bytes

    store.put_if_absent(object_key("S/y", sha256_bytes(data)), b"half an upload")
    publish(store, "S/y", data)
    assert load(store, "S/y") == "good"


def test_a_tampered_object_is_detected_never_unpickled_and_quarantined(store, tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Booby(marker))
    joblib.load(io.BytesIO(evil))  # the payload really does run code when unpickled ...
    assert marker.exists()
    marker.unlink()
    manifest = publish(store, "TrainMLP/feed", dumped({"W": np.ones(3)}))
    key, sha = manifest["artifact"]["key"], manifest["artifact"]["sha256"]
    # ... and an attacker with write access swaps it in, claiming the right sha256 in the metadata.
    store.delete(key)
    store.put_if_absent(key, evil, metadata={"sha256": sha})
    with pytest.raises(IntegrityError, match=key):
        load(store, "TrainMLP/feed")
    assert not marker.exists()
    moved = quarantine(store, "TrainMLP/feed", "sha256 mismatch")
    assert len(moved) == 2 and all(m.startswith("_quarantine/") for m in moved)
    assert read_manifest(store, "TrainMLP/feed") is None  # so the stage counts as not built, and reruns
    assert store.head(key) is None
    publish(store, "TrainMLP/feed", dumped({"W": np.ones(3)}))
    np.testing.assert_array_equal(load(store, "TrainMLP/feed")["W"], np.ones(3))
    assert not marker.exists()


def test_verified_cache_is_reused_and_a_tampered_cached_copy_is_fetched_again(seaweed, tmp_path):
    store = seaweed.store(cache_dir=tmp_path / "cache")
    manifest = publish(store, "A/b", dumped("payload"))
    sha = manifest["artifact"]["sha256"]
    assert load(store, "A/b") == "payload"
    cached = tmp_path / "cache" / sha[:2] / sha
    assert cached.is_file()
    cached.write_bytes(pickle.dumps(Booby(tmp_path / "pwned")))
    assert load(store, "A/b") == "payload"
    assert not (tmp_path / "pwned").exists()
    store.delete(manifest["artifact"]["key"])
    assert load(store, "A/b") == "payload"  # served from the verified cache, no request for the object


def test_an_unreadable_manifest_counts_as_unpublished(store):
    store.put_if_absent(manifest_key("S/z"), b"{not json")
    assert read_manifest(store, "S/z") is None
    store.delete(manifest_key("S/z"))
    store.put_if_absent(manifest_key("S/z"), json.dumps({"artifact": {"key": 3}}).encode())
    assert read_manifest(store, "S/z") is None
