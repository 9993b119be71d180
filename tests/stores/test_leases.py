"""Leases: one holder at a time, takeover after expiry, and a stale holder cannot publish."""

from __future__ import annotations

import os
import signal
import time

import pytest

from stagecache.storage.stores.leases import LeaseHeld, LeaseLost, acquire_lease, read_lease
from stagecache.storage.stores.publish import load, publish, read_manifest
from tests import forkserver
from tests.stores.workers import hold_lease, spec_of

CTX = forkserver.context()


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


class _Exited(BaseException):
    """What the stop's ``os._exit`` does in these tests: end the build where the signal came."""


@pytest.mark.parametrize("moment", ["the lease just written", "the build renewing it", "the build just ended"])
def test_a_stop_at_any_moment_of_a_build_hands_its_lease_back_before_the_process_exits(store, monkeypatch, moment):
    """Issue 33 item 7: SIGTERM left the stage's lease on the store in 1 run of 2, and the rerun waited
    ``lease_seconds``. The stop comes (the handler run as Python runs it, in the building thread) right after
    the lease was written, before the build guard had registered its release; while the build thread renews
    the lease (holding its lock, which the stop's release waited on until it gave up); and once the build has
    ended, before the guard released the lease. Each time the lease must be gone when the process exits."""
    from stagecache.core import signals
    from stagecache.storage.roots.bucket import BucketRoot
    from stagecache.storage.stores import leases

    root = BucketRoot(store, "s3://test", lease_seconds=600)
    target = root.target("Stage", "ab" * 32)
    at_exit: list[list[str]] = []

    def stop() -> None:
        signals._handle(signal.SIGTERM, None)

    def exit_(code: int) -> None:
        at_exit.append(list(store.list(leases.LEASE_PREFIX)))
        raise _Exited(code)

    monkeypatch.setattr(signals, "_owner", os.getpid())
    monkeypatch.setattr(signals, "_stopping", False)
    monkeypatch.setattr(signals, "_releases", {})
    monkeypatch.setattr(signals, "_exit", exit_)
    if moment == "the lease just written":
        put_if_absent = store.put_if_absent

        def written(key, data, metadata=None):
            info = put_if_absent(key, data, metadata)
            stop()
            return info

        monkeypatch.setattr(store, "put_if_absent", written)
    elif moment == "the build renewing it":
        put_if_match = store.put_if_match

        def renewed(key, data, etag, metadata=None):
            info = put_if_match(key, data, etag, metadata)
            stop()  # inside Lease.renew, its lock held
            return info

        monkeypatch.setattr(store, "put_if_match", renewed)
    else:
        exit_keep_alive = leases._KeepAlive.__exit__

        def ended(self, *exc):
            exit_keep_alive(self, *exc)
            stop()

        monkeypatch.setattr(leases._KeepAlive, "__exit__", ended)
    started = time.monotonic()
    with pytest.raises(_Exited), target.build_guard():
        target.lease.check()  # what a checkpoint does before it is written
    assert at_exit == [[]], at_exit
    assert time.monotonic() - started < signals.RELEASE_SECONDS, "the release waited for a lock it cannot get"
