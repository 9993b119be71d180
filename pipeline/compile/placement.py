"""Where the JAX backend runs: its device (``cpu`` or ``cuda``) and the size of XLA's CPU thread pool."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os

from pipeline.compile import internals

log = logging.getLogger(__name__)


def jax_available() -> bool:
    """True when the ``jax`` package can be imported."""
    return importlib.util.find_spec("jax") is not None


DEVICES = ("cpu", "cuda")


def check_device(device: str) -> str:
    """Validate ``device`` (``cpu`` or ``cuda``); for ``cuda``, that JAX finds a CUDA GPU here.

    Raises ValueError with one line otherwise. The CUDA route (``pip install -e '.[cuda]'``,
    which adds JAX's CUDA plugin) has not been run on a GPU yet: see docs/performance.md.
    """
    device = device.lower()
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cuda":
        if not jax_available():
            raise ValueError("device 'cuda' needs JAX with its CUDA plugin: pip install -e '.[cuda]'")
        import jax

        try:
            found = jax.devices("cuda")
        except RuntimeError:
            found = []
        if not found:
            raise ValueError(
                "device 'cuda': JAX finds no CUDA GPU on this machine "
                "(install the plugin with pip install -e '.[cuda]', or set device = cpu)"
            )
    return device


def use_device(device: str) -> None:
    """Make ``device`` JAX's default, so that the JAX backend's functions and weights live there."""
    device = check_device(device)
    if jax_available():
        import jax

        jax.config.update("jax_default_device", jax.devices(device)[0])


_pool_threads: int | None = None  # what limit_cpu_threads settled, once per process


def limit_cpu_threads(threads: int) -> int:
    """Give XLA's CPU thread pool ``threads`` threads (0: one per core); returns the pool's size.

    XLA sizes that pool from the CPUs the process may run on at the moment JAX creates its CPU
    client, and ignores ``--xla_cpu_multi_thread_eigen=false`` (measured with JAX 0.10.2). So,
    when JAX has no client yet, the process narrows its CPU set to ``threads`` cores while the
    client is created and then gives every thread the full set back: the pool keeps its size and
    the OS schedules its threads on any core. Settled once per process: a later call returns the
    size in effect, and a client created earlier by other code is left as it is, with a warning.
    """
    global _pool_threads
    if _pool_threads is not None:
        return _pool_threads
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if threads <= 0 or not cores or threads >= len(cores) or not jax_available():
        _pool_threads = len(cores) or threads
        return _pool_threads
    if internals.jax_clients_exist():
        log.warning("JAX's CPU client already exists: its thread pool cannot be given %d threads now", threads)
        _pool_threads = len(cores)
        return _pool_threads
    import jax

    os.sched_setaffinity(0, cores[:threads])
    try:
        jax.devices("cpu")  # creates the client and its thread pool
    finally:
        for thread in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that has ended since
                os.sched_setaffinity(int(thread), cores)
    log.debug("XLA's CPU thread pool: %d threads", threads)
    _pool_threads = threads
    return threads
