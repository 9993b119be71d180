"""A sweep spread over two "hosts" under one luigid, sharing only an S3 root: each point trained once, both
hosts trained points, the comparison published once."""

from __future__ import annotations

import json
import re

from luigi.task_register import Register

import tasks
from tests.tasks_s3.test_two_hosts import Host, luigid  # noqa: F401 -- the fixture, with the hosts' helper

SWEEP = """[sweep]
name = deep-hosts
stage = EvaluateDeepMLP

[TrainDeepMLP]
epochs = [40, 50]
lr = [0.01, 0.02]
"""


def wrote(out: str) -> list[str]:
    return re.findall(r"(\w+): wrote ", out)


def test_a_sweep_over_two_hosts_trains_each_point_once_on_either_host(s3pipeline, tmp_path, luigid):  # noqa: F811
    s3pipeline.build(tasks.OneHotMNIST())  # the shared input, up front (this process is a third host)
    path = tmp_path / "deep-hosts.cfg"
    path.write_text(SWEEP)
    a = Host(s3pipeline, tmp_path, "host-a", luigid).start("Sweep", "--file", str(path))
    b = Host(s3pipeline, tmp_path, "host-b", luigid).start("Sweep", "--file", str(path))
    out_a, out_b = a.finish(), b.finish()
    trained_a, trained_b = wrote(out_a).count("TrainDeepMLP"), wrote(out_b).count("TrainDeepMLP")
    assert trained_a + trained_b == 4, (wrote(out_a), wrote(out_b))  # each point once, across the hosts
    assert trained_a and trained_b, (wrote(out_a), wrote(out_b))  # the points spread over both
    assert (wrote(out_a) + wrote(out_b)).count("Sweep") == 1
    assert sum("points compared in s3://" in out for out in (out_a, out_b)) == 1
    Register.clear_instance_cache()
    sweep = tasks.Sweep(file=str(path))
    assert sweep.complete()
    provenance = json.loads(s3pipeline.store.get("sweeps/deep-hosts/provenance.json")[0])
    assert provenance["fingerprint"] == sweep.fingerprint() and provenance["points"] == 4
    assert s3pipeline.build(sweep) == set()


def test_a_host_killed_mid_point_is_taken_over_and_the_point_resumes(s3pipeline, tmp_path, luigid):  # noqa: F811
    import os
    import signal
    import time

    s3pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")  # long enough to be killed mid-way
    s3pipeline.build(tasks.OneHotMNIST())
    path = tmp_path / "deep-kill.cfg"
    path.write_text(SWEEP.replace("deep-hosts", "deep-kill").replace("[40, 50]", "[40]"))
    store = s3pipeline.store
    doomed = Host(s3pipeline, tmp_path, "host-a", luigid).start("Sweep", "--file", str(path))
    deadline = time.time() + 120
    while not any(
        re.search(r"TrainDeepMLP/\w+\.checkpoints/epoch-000(0[2-9]|[1-9]\d)\.json$", k)
        for k in store.list("TrainDeepMLP/")
    ):
        assert time.time() < deadline and doomed.process.poll() is None, doomed.process.communicate()[0][-3000:]
        time.sleep(0.05)
    survivor = Host(s3pipeline, tmp_path, "host-b", luigid).start("Sweep", "--file", str(path))
    assert doomed.process.poll() is None, "the first host finished before it could be killed"
    os.killpg(doomed.process.pid, signal.SIGKILL)
    doomed.process.wait()
    out = survivor.finish()
    assert "TrainDeepMLP: resuming after epoch" in out and "taken over" in out, out[-4000:]
    assert wrote(out).count("TrainDeepMLP") == 2 and wrote(out).count("Sweep") == 1, wrote(out)
    Register.clear_instance_cache()
    for root in tasks.Sweep(file=str(path)).point_roots().values():
        assert root.requires()["model"].output().load()["history"]["epoch"] == list(range(1, 41))
