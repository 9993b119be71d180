"""Choose how PyTensor graphs are compiled: one ``backend`` name, resolved to a PyTensor mode."""
from __future__ import annotations

import importlib.util
import logging
import warnings

import pytensor

log = logging.getLogger(__name__)

BACKENDS = ("auto", "jax", "numba", "c")
_MODES = {"jax": "JAX", "numba": "NUMBA", "c": "CVM"}


def jax_available() -> bool:
    """True when the ``jax`` package can be imported."""
    return importlib.util.find_spec("jax") is not None


def resolve_backend(backend: str) -> str:
    """Map ``auto`` to ``jax`` when JAX is installed, else ``numba``; validate the name."""
    backend = backend.lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "jax" if jax_available() else "numba"
    if backend == "jax" and not jax_available():
        raise ValueError("backend 'jax' needs the jax package: pip install jax")
    return backend


def compile_function(inputs, outputs, *, backend: str, updates=None, name: str | None = None):
    """``pytensor.function`` compiled with the mode that ``backend`` names."""
    mode = _MODES[resolve_backend(backend)]
    if mode == "JAX":
        # JAX runs without 64-bit types; PyTensor's int64 indices are truncated to int32 there,
        # as expected, and the warning about it is noise.
        warnings.filterwarnings("ignore", message="Explicitly requested dtype", category=UserWarning)
    return pytensor.function(inputs, outputs, updates=updates, mode=mode, name=name)
