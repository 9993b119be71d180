"""Leases: one holder at a time, takeover after expiry, and a stale holder cannot publish."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from stagecache.stores.leases import LeaseHeld, LeaseLost, acquire_lease, read_lease
from stagecache.stores.publish import load, publish, read_manifest
from tests.stores.workers import hold_lease, spec_of

CTX = multiprocessing.get_context("forkserver")
CTX.set_forkserver_preload(["tests.stores.workers"])


def ttl_for(store) -> float:
    """A short ttl; S3 timestamps have one-second resolution, so its leases need a little longer."""
    return 0.5 if store.time_resolution == 0 else 1.0


def wait_until_expired(store, name):
    deadline = time.monotonic() + 10
    while not read_lease(store, name).expired:
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.2)


def test_a_held_lease_refuses_a_second_worker(store):
    lease = acquire_lease(store, "TrainMLP-abc", ttl=30, owner="host-a:1")
    with pytest.raises(LeaseHeld, match="host-a:1"):
        acquire_lease(store, "TrainMLP-abc", ttl=30, owner="host-b:2")
    lease.renew()
    lease.release()
    assert read_lease(store, "TrainMLP-abc") is None
    acquire_lease(store, "TrainMLP-abc", ttl=30, owner="host-b:2").release()


def test_expired_lease_is_taken_over_and_the_stale_holder_can_neither_renew_nor_publish(store):
    stale = acquire_lease(store, "stage", ttl=ttl_for(store), owner="host-a:1")
    wait_until_expired(store, "stage")
    fresh = acquire_lease(store, "stage", ttl=30, owner="host-b:2")
    assert read_lease(store, "stage").owner == "host-b:2"
    with pytest.raises(LeaseLost, match="host-b:2 holds it now"):
        stale.renew()
    with pytest.raises(LeaseLost):
        publish(store, "TrainMLP/abc", b"stale bytes", lease=stale)
    assert read_manifest(store, "TrainMLP/abc") is None
    assert list(store.list("TrainMLP/")) == []  # not even the object was written
    stale.release()  # releasing a lost lease leaves the new holder's alone
    assert read_lease(store, "stage").owner == "host-b:2"
    publish(store, "TrainMLP/abc", b"\x80\x04K\x07.", lease=fresh)  # pickle of 7
    assert load(store, "TrainMLP/abc") == 7


def test_a_killed_holder_keeps_its_lease_while_alive_and_loses_it_after_expiry(store):
    ttl, ready = ttl_for(store), CTX.Event()
    worker = CTX.Process(target=hold_lease, args=(spec_of(store), "stage", ttl, ready))
    worker.start()
    try:
        assert ready.wait(30)
        time.sleep(2 * ttl + 0.2)  # well past the ttl: only the keep-alive renewals keep it held
        with pytest.raises(LeaseHeld, match="doomed-worker"):
            acquire_lease(store, "stage", ttl=30, owner="survivor")
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
    killed = time.monotonic()
    lease = acquire_lease(store, "stage", ttl=30, owner="survivor", wait=15, poll=0.2)
    assert time.monotonic() - killed >= ttl * 0.5
    assert read_lease(store, "stage").owner == "survivor"
    lease.release()
