"""Two "hosts" on one ``s3://`` root, the toy DAG run by each in its own working directory (so its own verified
cache): nothing is shared but the bucket (and luigid, where there is one). Plus the store failing under a run,
and a stopped run's lease. For a pipeline's trainings on S3: tests/tasks_s3/."""

from __future__ import annotations

import logging
import os
import re
import signal

import pytest

from stagecache.core.signals import STOP_EXIT
from stagecache.storage.roots import STORE_ERROR_EXIT
from stagecache.storage.stores.leases import lease_key
from tests.engine.conftest import epochs_saved, wait_for, wrote
from tests.services import free_port
from tests.stores.conftest import SeaweedS3

OWN_CACHE = (("object_store", "cache_dir"),)  # each host's verified cache: the default, in its working directory
FIVE = ["MakeNumbers", "Square", "Summary", "Total", "Train"]


def finish(process, timeout: float = 120) -> str:
    out = process.communicate(timeout=timeout)[0]
    assert process.returncode == 0, out[-4000:]
    return out


@pytest.mark.parametrize("scheduler", ["local schedulers", "luigid"])
def test_two_hosts_share_only_the_bucket_and_build_each_stage_once(toy_s3, tmp_path, scheduler, request):
    """With a local scheduler in each host, both try every stage at once and only the leases in the bucket keep
    a stage from being built twice; under luigid, luigid hands each stage to one of them."""
    toy = toy_s3
    toy.set("Train", "epochs", "40")  # two seconds: the other host meets it being built
    if scheduler == "luigid":
        toy.use_luigid(request.getfixturevalue("luigid"))
    a = toy.start(tmp_path / "host-a", "Summary", "--Train-epoch-seconds", "0.05", drop=OWN_CACHE)
    b = toy.start(tmp_path / "host-b", "Summary", "--workers", "2", "--Train-epoch-seconds", "0.05", drop=OWN_CACHE)
    out_a, out_b = finish(a), finish(b)
    assert wrote(out_a, out_b) == FIVE, (wrote(out_a), wrote(out_b), out_a[-3000:], out_b[-3000:])
    # each run deleted its claim as it ended: gc need not wait for the claims to expire
    assert not [k for k in toy.store.list("_runs/") if k.endswith((f"-{a.pid}.json", f"-{b.pid}.json"))]
    if scheduler == "local schedulers":
        assert "already present (built earlier, or by another process meanwhile)" in out_a + out_b  # one waited
    for host, out in (("host-a", out_a), ("host-b", out_b)):  # each builder verified through its own cache
        if wrote(out):
            assert list((tmp_path / host / ".store_cache").glob("??/*")), host
    assert toy.build(toy.package.Summary()) == set()


def test_a_killed_host_s_training_resumes_on_the_other_from_the_stored_checkpoint(toy_s3, tmp_path, luigid):
    toy = toy_s3
    toy.set("Train", "epochs", "100")
    toy.set("artifacts", "lease_seconds", "3")  # the killed host's lease expires soon
    toy.build(toy.package.Square())  # the shared input, up front (this process is a third host)
    toy.use_luigid(luigid)
    target = toy.output(toy.package.Train())
    prefix = f"{target.stem}.checkpoints/"
    doomed = toy.start(tmp_path / "host-a", "Train", "--Train-epoch-seconds", "0.05", drop=OWN_CACHE)
    assert wait_for(lambda: epochs_saved(target) >= 2 or doomed.poll() is not None)
    survivor = toy.start(tmp_path / "host-b", "Summary", drop=OWN_CACHE)
    assert doomed.poll() is None, doomed.communicate()[0][-3000:]
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert not target.exists()  # nothing of the killed run is published
    out = finish(survivor)
    assert "Train: resuming after epoch" in out and "taken over" in out, out[-4000:]
    assert wrote(out) == ["Summary", "Total", "Train"], out[-4000:]
    resumed = target.load()
    assert resumed["epoch"] == list(range(1, 101))
    # once the artifact was published, only the final training state stays (for a longer training to continue)
    assert sorted(toy.store.list(prefix)) == [f"{prefix}epoch-00100.joblib", f"{prefix}epoch-00100.json"]
    # an uninterrupted build of the same stage on a directory root computes the same values
    toy.set("artifacts", "root", str(tmp_path / "directory-root"))
    assert toy.build(toy.package.Train()) == {"MakeNumbers", "Square", "Train"}
    assert toy.output(toy.package.Train()).load() == resumed


@pytest.mark.parametrize("problem", ["server down", "wrong credentials"])
def test_an_unusable_store_stops_the_run_with_one_line_and_its_exit_code(toy_s3, tmp_path, problem):
    env = {}
    if problem == "server down":
        toy_s3.set("s3", "endpoint_url", f"http://127.0.0.1:{free_port()}")
        expected = "cannot reach the S3 endpoint"
    else:
        env["AWS_SECRET_ACCESS_KEY"] = "wrong" + os.environ["AWS_SECRET_ACCESS_KEY"]
        expected = "refused the credentials"
    run = toy_s3.start(tmp_path / "run", "MakeNumbers", env=env)
    out = run.communicate(timeout=120)[0]
    assert run.returncode == STORE_ERROR_EXIT, out[-3000:]
    errors = [line for line in out.splitlines() if "artifact store unusable" in line]
    assert len(errors) == 1 and expected in errors[0], out[-3000:]
    assert "Traceback" not in out
    assert list(toy_s3.store.list("")) == []  # nothing written, nothing half-published


def test_a_server_killed_during_a_run_fails_the_stage_clearly_and_leaves_nothing_published(toy_s3, tmp_path, caplog):
    toy = toy_s3
    server = SeaweedS3(tmp_path / "crashable", toy.seaweed.access_key, toy.seaweed.secret_key)
    server.start()
    try:
        toy.set("s3", "endpoint_url", server.endpoint)
        toy.set("retcode", "task_failed", "30")
        toy.set("Train", "epochs", "100")
        toy.set("artifacts", "lease_seconds", "3")  # the failed run could not hand its lease back: it expires
        store = server.store(toy.store.prefix)
        run = toy.start(tmp_path / "run", "Train", "--Train-epoch-seconds", "0.05")
        # a checkpoint: mid-training
        assert wait_for(lambda: any(k.endswith(".json") for k in store.list("Train/")) or run.poll() is not None)
        assert run.poll() is None, run.communicate()[0][-3000:]
        server.kill()
        out = run.communicate(timeout=120)[0]
        assert run.returncode == 30, out[-3000:]
        assert f"cannot reach the S3 endpoint {server.endpoint}" in out, out[-3000:]
        server.start()  # same data and ports, as after a reboot
        target = toy.output(toy.package.Train())
        assert target.manifest() is None and not target.exists()  # nothing half-published
        caplog.set_level(logging.INFO, logger="toydag")
        assert toy.build(toy.package.Train()) == {"Train"}
        assert "Train: resuming after epoch" in caplog.text
        assert target.load()["epoch"] == list(range(1, 101))
    finally:
        if server.process.poll() is None:
            server.kill()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stopped_run_hands_its_build_lease_back_so_no_other_host_waits_for_it_to_expire(toy_s3, tmp_path, workers):
    """With --workers 2 the stage runs in a forked process, which hands the lease back (the stop's moments:
    tests/stores/test_leases.py::test_a_stop_at_any_moment_of_a_build_hands_its_lease_back_before_the_process_exits)."""
    toy = toy_s3
    toy.set("Train", "epochs", "100")
    toy.set("artifacts", "lease_seconds", "600")  # a lease left behind would outlive the test
    run = toy.start(tmp_path / "run", "Train", "--workers", workers, "--Train-epoch-seconds", "0.05")
    lease = lease_key(toy.output(toy.package.Train()).stem)
    assert wait_for(lambda: lease in toy.store.list("_leases/") or run.poll() is not None)  # Train is being built
    assert run.poll() is None, run.communicate()[0][-3000:]
    run.send_signal(signal.SIGTERM)
    out = run.communicate(timeout=60)[0]
    assert run.returncode == STOP_EXIT[signal.SIGTERM], out[-3000:]
    assert "stopped by SIGTERM: Train" in out, out[-3000:]
    assert lease not in toy.store.list("_leases/")  # released, not left to expire in 600 s
    assert not [k for k in toy.store.list("_runs/") if k.endswith(f"-{run.pid}.json")]  # its claim too


SWEEP = """[sweep]
name = toy-hosts
stage = Train

[Train]
epochs = [20, 30]
start = [0, 1]
"""


def test_a_sweep_over_two_hosts_builds_each_point_once_on_either_host(toy_s3, tmp_path, luigid):
    """Four points (two lineages: each 30-epoch point continues its 20-epoch one), luigid handing them out."""
    toy = toy_s3
    toy.build(toy.package.Square())  # the shared input, up front (this process is a third host)
    toy.use_luigid(luigid)
    path = tmp_path / "toy-hosts.cfg"
    path.write_text(SWEEP)
    a, b = (
        toy.start(tmp_path / host, "ToySweep", "--file", str(path), "--Train-epoch-seconds", "0.1", drop=OWN_CACHE)
        for host in ("host-a", "host-b")
    )
    out_a, out_b = finish(a), finish(b)
    trained_a, trained_b = wrote(out_a).count("Train"), wrote(out_b).count("Train")
    assert trained_a + trained_b == 4, (wrote(out_a), wrote(out_b))  # each point once, across the hosts
    assert trained_a and trained_b, (wrote(out_a), wrote(out_b))  # the points spread over both
    assert wrote(out_a, out_b).count("ToySweep") == 1
    sweep = toy.package.ToySweep(file=str(path))
    assert toy.build(sweep) == set()
    assert len(toy.output(sweep).load()["points"]) == 4


def test_a_host_killed_mid_point_is_taken_over_and_the_point_resumes(toy_s3, tmp_path, luigid):
    toy = toy_s3
    toy.set("artifacts", "lease_seconds", "3")  # the killed host's lease expires soon
    toy.build(toy.package.Square())
    toy.use_luigid(luigid)
    path = tmp_path / "toy-kill.cfg"
    path.write_text(SWEEP.replace("toy-hosts", "toy-kill").replace("[20, 30]", "[100]").replace("[0, 1]", "[0]"))
    doomed = toy.start(
        tmp_path / "host-a", "ToySweep", "--file", str(path), "--Train-epoch-seconds", "0.05", drop=OWN_CACHE
    )
    started = re.compile(r"Train/\w+\.checkpoints/epoch-000(0[2-9]|[1-9]\d)\.json$")
    assert wait_for(lambda: any(started.search(k) for k in toy.store.list("Train/")) or doomed.poll() is not None)
    survivor = toy.start(tmp_path / "host-b", "ToySweep", "--file", str(path), drop=OWN_CACHE)
    assert doomed.poll() is None, doomed.communicate()[0][-3000:]
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    out = finish(survivor)
    assert "Train: resuming after epoch" in out and "taken over" in out, out[-4000:]
    assert wrote(out).count("Train") == 1 and wrote(out).count("ToySweep") == 1, wrote(out)
    (root,) = toy.package.ToySweep(file=str(path)).point_roots().values()
    assert toy.output(root).load()["epoch"] == list(range(1, 101))
