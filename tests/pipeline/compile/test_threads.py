"""``limit_cpu_threads``: XLA's CPU thread pool gets the threads asked for, and the process keeps every core."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

PROGRAM = """
import os, resource, time
from pipeline.compile.placement import limit_cpu_threads
everywhere = os.sched_getaffinity(0)
assert limit_cpu_threads(1) == 1 and limit_cpu_threads(3) == 1  # settled once per process
import jax, jax.numpy as jnp, numpy as np
threads = [int(t) for t in os.listdir("/proc/self/task")]
assert len(threads) > 2 and all(os.sched_getaffinity(t) == everywhere for t in threads)
a = jnp.asarray(np.random.default_rng(0).random((1024, 1024), dtype=np.float32))
f = jax.jit(lambda a: a @ a @ a @ a)
f(a).block_until_ready()
wall, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
while time.perf_counter() - wall < 1.0:
    f(a).block_until_ready()
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(cpu / (time.perf_counter() - wall))
"""


@pytest.mark.skipif(CORES < 2, reason="needs at least two cores to tell one thread from several")
def test_xla_pool_gets_one_thread_and_the_process_keeps_every_core():
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    cores_busy = float(out.stdout.split()[-1])
    assert cores_busy < 1.2, f"XLA kept {cores_busy:.2f} cores busy with a pool of one thread"
