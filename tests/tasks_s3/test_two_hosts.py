"""Two "hosts" against one bucket under one luigid: each worker process has its own working directory,
verified cache and compile cache; nothing is shared but the bucket. Plus the store being unusable at start."""

from __future__ import annotations

import configparser
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from luigi.task_register import Register

import tasks
from stagecache.stages.task import walk
from stagecache.storage.roots import STORE_ERROR_EXIT
from tests.services import free_port, running_luigid
from tests.tasks.conftest import ALL_TASKS

REPO = Path(tasks.__file__).resolve().parents[1]


@pytest.fixture
def luigid(tmp_path):
    """A bare luigid on 127.0.0.1 that notices a dead worker within seconds; yields its port."""
    home = tmp_path / "luigid"
    home.mkdir()
    (home / "luigi.cfg").write_text(
        "[scheduler]\nretry_delay = 1\nworker_disconnect_delay = 3\n"
        "prune_on_get_work = true\nrecord_task_history = false\n"
    )
    with running_luigid(home, home / "luigi.cfg", home) as port:
        yield port


class Host:
    """One worker "host": its own working directory (so its own .store_cache and compile cache)."""

    def __init__(self, pipeline, tmp_path: Path, name: str, port: int | None, own_compile_cache: bool = False):
        """``port``: luigid's; None = luigi's local scheduler in each worker (only the leases coordinate).
        ``own_compile_cache``: the default compile cache, in this host's directory, instead of the test session's
        (which spares each host compiling every model: a compile cache is never shared through the bucket)."""
        self.directory = tmp_path / name
        self.directory.mkdir()
        config = configparser.ConfigParser(interpolation=None)
        config.read_string(_text(pipeline.config))
        settings = (
            [("core", "local_scheduler", "true")]
            if port is None
            else [
                ("core", "local_scheduler", "false"),
                ("core", "scheduler_host", "127.0.0.1"),
                ("core", "scheduler_port", str(port)),
                ("worker", "keep_alive", "true"),
                ("worker", "ping_interval", "0.5"),
                ("worker", "wait_interval", "0.2"),
                ("worker", "wait_jitter", "0.1"),
            ]
        )
        for section, key, value in settings:
            if not config.has_section(section):
                config.add_section(section)
            config.set(section, key, value)
        config.remove_option("object_store", "cache_dir")  # the default: relative to this host's directory
        if own_compile_cache:
            config.remove_option("pytensor", "compile_cache")  # the default: inside that cache, on this host's disk
        with open(self.directory / "worker.cfg", "w") as fh:
            config.write(fh)
        config = self.directory / "worker.cfg"
        self.env = {**os.environ, "LUIGI_CONFIG_PATH": str(config), "PYTHONPATH": str(REPO)}
        self.process = None

    def start(self, *args: str) -> Host:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "luigi", "--module", "tasks", *args],
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        return self

    def finish(self, timeout: float = 300) -> str:
        out = self.process.communicate(timeout=timeout)[0]
        assert self.process.returncode == 0, out[-4000:]
        return out


def _text(parser) -> str:
    buffer = io.StringIO()
    parser.write(buffer)
    return buffer.getvalue()


def built(*outputs: str) -> list[str]:
    """Families whose artifact a worker published ("<Family>: wrote ..."), over all outputs."""
    return sorted(m for out in outputs for m in re.findall(r"(\w+): wrote ", out))


@pytest.mark.parametrize("scheduler", ["luigid", "local schedulers"])
def test_two_hosts_share_only_the_bucket_and_build_each_stage_once(s3pipeline, tmp_path, scheduler, request):
    """Under luigid, the whole pipeline up to the report published in the bucket; and with a local scheduler
    in each worker, where both try every stage at once and only the leases in the bucket keep a stage from
    being built twice."""
    port = request.getfixturevalue("luigid") if scheduler == "luigid" else None
    s3pipeline.build(tasks.OneHotMNIST())  # the shared input, up front (this process is a third host)
    if port is None:  # both run the same chain at the same time: they contend for each stage's lease
        s3pipeline.set("TrainDeepMLP", "epochs", "20")
        root, expected = "EvaluateDeepMLP", ["EvaluateDeepMLP", "TrainDeepMLP"]
    else:  # the whole pipeline, up to the report published in the bucket
        root, expected = "FullReport", sorted(ALL_TASKS - {"DownloadMNIST", "OneHotMNIST"})
    own = port is not None  # one variant checks each host's own caches, on its own disk
    a = Host(s3pipeline, tmp_path, "host-a", port, own_compile_cache=own).start(root)
    b = Host(s3pipeline, tmp_path, "host-b", port, own_compile_cache=own).start(root, "--workers", "2")
    out_a, out_b = a.finish(), b.finish()
    assert built(out_a, out_b) == expected, (built(out_a), built(out_b), out_a[-3000:], out_b[-3000:])
    # each run deleted its claim as it ended: gc need not wait for the claims to expire
    assert not [
        k for k in s3pipeline.store.list("_runs/") if k.endswith((f"-{a.process.pid}.json", f"-{b.process.pid}.json"))
    ]
    if port is None:
        assert "already present (built earlier, or by another process meanwhile)" in out_a + out_b  # one host waited
    Register.clear_instance_cache()
    for task in walk(tasks.FullReport() if port else tasks.EvaluateDeepMLP()):
        assert task.output().exists(), task
    if port:  # published once, by the host that built it, from this fingerprint
        provenance = json.loads(s3pipeline.store.get("report/provenance.json")[0])
        assert provenance["fingerprint"] == tasks.FullReport().fingerprint()
        assert sum("report written: s3://" in out for out in (out_a, out_b)) == 1
    for host, out in (("host-a", out_a), ("host-b", out_b)):  # each builder kept its own caches, on its disk
        if not built(out):
            continue
        assert list((tmp_path / host / ".store_cache").glob("??/*"))
        assert (tmp_path / host / ".store_cache" / "compile_cache").is_dir() or not own
    assert s3pipeline.build(tasks.FullReport() if port else tasks.EvaluateDeepMLP()) == set()


def test_a_killed_host_s_training_resumes_on_the_other_from_the_stored_checkpoint(s3pipeline, tmp_path, luigid):
    s3pipeline.set("TrainDeepMLP", "epochs", "40")  # long enough to be killed mid-way
    s3pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")
    s3pipeline.build(tasks.OneHotMNIST())
    target = tasks.TrainDeepMLP().output()
    store, prefix = s3pipeline.store, f"{target.stem}.checkpoints/"
    doomed = Host(s3pipeline, tmp_path, "host-a", luigid).start("TrainDeepMLP")
    deadline = time.time() + 120
    while not any(re.search(r"epoch-000(0[2-9]|[1-9]\d)\.json$", k) for k in store.list(prefix)):
        assert time.time() < deadline and doomed.process.poll() is None, doomed.process.communicate()[0][-3000:]
        time.sleep(0.05)
    survivor = Host(s3pipeline, tmp_path, "host-b", luigid).start("EvaluateDeepMLP")
    assert doomed.process.poll() is None, "the first worker finished before it could be killed"
    os.killpg(doomed.process.pid, signal.SIGKILL)
    doomed.process.wait()
    assert not target.exists()  # nothing of the killed run is published
    out = survivor.finish()
    assert "TrainDeepMLP: resuming after epoch" in out and "taken over" in out, out[-4000:]
    assert built(out) == ["EvaluateDeepMLP", "TrainDeepMLP"]
    Register.clear_instance_cache()
    resumed = tasks.TrainDeepMLP().output().load()
    assert resumed["history"]["epoch"] == list(range(1, 41))
    # once the artifact was published, only the final training state stays (for a longer training to continue)
    assert sorted(store.list(prefix)) == [f"{prefix}epoch-00040.joblib", f"{prefix}epoch-00040.json"]
    # an uninterrupted run of the same stage on a local root gives the same weights
    s3pipeline.set("artifacts", "root", str(tmp_path / "local-root"))
    s3pipeline.set("pytensor", "compile_cache", str(tmp_path / "host-b" / ".store_cache" / "compile_cache"))
    assert s3pipeline.build(tasks.TrainDeepMLP()) == {"DownloadMNIST", "OneHotMNIST", "TrainDeepMLP"}
    uninterrupted = tasks.TrainDeepMLP().output().load()
    for name, value in uninterrupted["weights"].items():
        np.testing.assert_array_equal(np.asarray(resumed["weights"][name]), np.asarray(value))
    assert resumed["history"]["test_accuracy"] == uninterrupted["history"]["test_accuracy"]


@pytest.mark.parametrize("problem", ["server down", "wrong credentials"])
def test_an_unusable_store_stops_the_run_with_one_line_and_its_exit_code(s3pipeline, tmp_path, problem):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if problem == "server down":
        s3pipeline.set("s3", "endpoint_url", f"http://127.0.0.1:{free_port()}")
        expected = "cannot reach the S3 endpoint"
    else:
        env["AWS_SECRET_ACCESS_KEY"] = "wrong" + env["AWS_SECRET_ACCESS_KEY"]
        expected = "refused the credentials"
    config = tmp_path / "worker.cfg"
    with open(config, "w") as fh:
        s3pipeline.config.write(fh)
    env["LUIGI_CONFIG_PATH"] = str(config)
    run = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "tasks", "OneHotMNIST", "--local-scheduler"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == STORE_ERROR_EXIT, run.stdout[-2000:] + run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if "artifact store unusable" in line]
    assert len(errors) == 1 and expected in errors[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert list(s3pipeline.store.list("")) == []  # nothing written, nothing half-published


def test_a_server_killed_during_a_run_fails_the_stage_clearly_and_leaves_nothing_published(s3pipeline, tmp_path):
    from tests.stores.conftest import SeaweedS3

    server = SeaweedS3(tmp_path / "crashable", s3pipeline.seaweed.access_key, s3pipeline.seaweed.secret_key)
    server.start()
    try:
        s3pipeline.set("s3", "endpoint_url", server.endpoint)
        s3pipeline.set("retcode", "task_failed", "30")
        s3pipeline.set("TrainDeepMLP", "epochs", "40")
        s3pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")
        store = server.store(s3pipeline.store.prefix)
        config = tmp_path / "worker.cfg"
        with open(config, "w") as fh:
            s3pipeline.config.write(fh)
        env = {**os.environ, "PYTHONPATH": str(REPO), "LUIGI_CONFIG_PATH": str(config)}
        command = [sys.executable, "-m", "luigi", "--module", "tasks", "TrainDeepMLP", "--local-scheduler"]
        run = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while not any(k.endswith(".json") for k in store.list("TrainDeepMLP/")):  # a checkpoint: mid-training
            assert time.time() < deadline and run.poll() is None, run.communicate()[0][-3000:]
            time.sleep(0.05)
        server.kill()
        out = run.communicate(timeout=120)[0]
        assert run.returncode == 30, out[-3000:]
        assert f"cannot reach the S3 endpoint {server.endpoint}" in out
        server.start()  # same data and ports, as after a reboot
        Register.clear_instance_cache()
        target = tasks.TrainDeepMLP().output()
        assert target.manifest() is None and not target.exists()  # nothing half-published
        rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert "TrainDeepMLP: resuming after epoch" in rerun.stderr + rerun.stdout
        Register.clear_instance_cache()
        assert tasks.TrainDeepMLP().output().load()["history"]["epoch"] == list(range(1, 41))
    finally:
        if server.process.poll() is None:
            server.kill()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stopped_run_hands_its_build_lease_back_so_no_other_host_waits_for_it_to_expire(
    s3pipeline, tmp_path, workers
):
    """With --workers 2 the stage runs in a forked process, which hands the lease back (the stop's moments:
    tests/stores/test_leases.py::test_a_stop_at_any_moment_of_a_build_hands_its_lease_back_before_the_process_exits)."""
    from stagecache.core.signals import STOP_EXIT
    from stagecache.storage.stores.leases import lease_key

    s3pipeline.set("TrainDeepMLP", "epochs", "40")  # long enough to be stopped mid-way
    s3pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")
    s3pipeline.set("artifacts", "lease_seconds", "600")  # a lease left behind would outlive the test
    config = tmp_path / "worker.cfg"
    with open(config, "w") as fh:
        s3pipeline.config.write(fh)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LUIGI_CONFIG_PATH": str(config)}
    run = subprocess.Popen(
        [sys.executable, "-m", "luigi", "--module", "tasks", "TrainDeepMLP", "--local-scheduler", "--workers", workers],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lease = lease_key(tasks.TrainDeepMLP().output().stem)
    deadline = time.time() + 120
    while lease not in s3pipeline.store.list("_leases/"):  # TrainDeepMLP is being built
        assert time.time() < deadline and run.poll() is None, run.communicate()[0][-3000:]
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    out = run.communicate(timeout=60)[0]
    assert run.returncode == STOP_EXIT[signal.SIGTERM], out[-3000:]
    assert "stopped by SIGTERM: TrainDeepMLP" in out
    assert lease not in s3pipeline.store.list("_leases/")  # released, not left to expire in 600 s
    assert not [k for k in s3pipeline.store.list("_runs/") if k.endswith(f"-{run.pid}.json")]  # its claim too
