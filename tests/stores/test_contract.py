"""The store contract, on both implementations: conditional writes, ETags, metadata, listing."""

from __future__ import annotations

import pytest

from stagecache.storage.stores import ObjectNotFound, PreconditionFailed
from stagecache.storage.stores.base import check_key


def test_put_if_absent_creates_once_and_never_overwrites(store):
    info = store.put_if_absent("a/b.json", b"first", metadata={"sha256": "abc"})
    with pytest.raises(PreconditionFailed, match="a/b.json"):
        store.put_if_absent("a/b.json", b"second")
    data, got = store.get("a/b.json")
    assert data == b"first"
    assert got.etag == info.etag == store.head("a/b.json").etag
    assert store.head("a/b.json").metadata == {"sha256": "abc"}
    assert store.head("a/b.json").size == 5


def test_put_if_match_needs_the_current_etag(store):
    first = store.put_if_absent("doc", b"v1")
    second = store.put_if_match("doc", b"v2", first.etag)
    assert second.etag != first.etag
    with pytest.raises(PreconditionFailed):
        store.put_if_match("doc", b"v3", first.etag)  # stale ETag
    with pytest.raises(PreconditionFailed):
        store.put_if_match("missing", b"v1", first.etag)
    assert store.get("doc")[0] == b"v2"


def test_missing_objects(store):
    assert store.head("nope") is None
    with pytest.raises(ObjectNotFound, match="nope"):
        store.get("nope")
    store.delete("nope")  # deleting a missing object is not an error
    with pytest.raises(PreconditionFailed):
        store.delete("nope", if_match='"x"')


def test_delete_if_match(store):
    info = store.put_if_absent("x", b"1")
    with pytest.raises(PreconditionFailed):
        store.delete("x", if_match=store.put_if_match("x", b"2", info.etag).etag + "0")
    store.delete("x", if_match=store.head("x").etag)
    assert store.head("x") is None
    store.put_if_absent("x", b"again")  # a deleted key can be created again


def test_list_is_a_sorted_string_prefix(store):
    for key in ("TrainMLP/b.json", "TrainMLP/a.json", "TrainMLPx/c.json", "Other/d.json"):
        store.put_if_absent(key, b"{}")
    assert list(store.list("TrainMLP/")) == ["TrainMLP/a.json", "TrainMLP/b.json"]
    assert list(store.list("TrainMLP")) == ["TrainMLP/a.json", "TrainMLP/b.json", "TrainMLPx/c.json"]
    assert list(store.list()) == ["Other/d.json", "TrainMLP/a.json", "TrainMLP/b.json", "TrainMLPx/c.json"]


def test_age_comes_from_the_stores_clock(store):
    info = store.put_if_absent("t", b"1")
    head = store.head("t")
    assert 0 <= head.age <= 1 + store.time_resolution
    assert abs(head.last_modified - info.last_modified) <= store.time_resolution


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", ".store/x", "a\\b"])
def test_bad_keys_are_refused(key):
    with pytest.raises(ValueError, match="invalid object key"):
        check_key(key)
