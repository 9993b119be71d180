"""Choose how PyTensor graphs are compiled, keep JAX's compile cache, and report what compiling cost.

One ``backend`` name is resolved to a PyTensor mode. With the JAX backend, XLA's
compiled executables can be kept in a persistent cache directory
(:func:`use_compile_cache`), so a warm start of a training process skips XLA compilation;
PyTensor's rewritten graphs are kept beside them (:mod:`pipeline.compile.graph_cache`),
so it skips PyTensor's graph rewriting too.
Every function from :func:`compile_function` reports, on its first call, how long
building the graph and compiling took and whether the persistent cache was hit
(a :class:`CompileRecord`, logged and collected by :func:`record_compiles`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytensor

from pipeline.compile import cachefiles, internals
from pipeline.compile.graph_cache import cached_function
from pipeline.compile.placement import jax_available

log = logging.getLogger(__name__)
GRAPH_CACHE_SUBDIR = "pytensor-graphs"  # inside the compile cache; JAX's own entries end in -cache/-atime

BACKENDS = ("auto", "jax", "numba", "c")
_MODES = {"jax": "JAX", "numba": "NUMBA", "c": "CVM"}
DEFAULT_CACHE_MAX_BYTES = 1 << 30


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


# ---------------------------------------------------------------------------------------------
# JAX's persistent compile cache

_cache_dir: Path | None = None
_graph_cache_on = True  # keep PyTensor's rewritten graphs beside XLA's executables
_cache_events = {"hit": 0, "request": 0}
_listening = False
# Directories found unusable, warned about once by this process and the stages forked from it (--workers N).
_warned_unusable = cachefiles.SharedOnce()


def _count_cache_event(kind: str) -> None:
    _cache_events[kind] += 1


def use_compile_cache(
    directory: str | Path | None, *, max_bytes: int = DEFAULT_CACHE_MAX_BYTES, graph_cache: bool = True
) -> Path | None:
    """Keep XLA executables compiled by the JAX backend in ``directory`` (None: no persistent cache).

    Every compilation is cached, however quick. A size limit (``max_bytes``, least recently
    used entries evicted) makes JAX guard each read and write of the cache with a file
    lock, so several processes can compile into one directory at once without one
    reading another's half-written entry. PyTensor's rewritten graphs are kept in a
    subdirectory unless ``graph_cache`` is False. A directory that cannot be created or
    written to (a read-only filesystem, say), or a JAX version outside the tested range
    (:mod:`pipeline.compile.internals`), leaves the cache off, with one warning (for a
    directory: once per run, however many stages open it, in this process or in processes
    forked from it); damaged
    entries cost a compile and a warning, and are removed (see the internals module).
    Returns the directory in use (None when off).
    """
    global _cache_dir, _listening, _graph_cache_on

    if max_bytes <= 0:
        raise ValueError(f"compile cache size limit must be > 0 bytes, got {max_bytes}")
    _graph_cache_on = graph_cache
    path = Path(directory).resolve() if directory is not None else None
    if path is not None and not internals.support().xla_cache:
        path = None
    if path == _cache_dir:
        return path
    if not _listening:
        _listening = internals.listen_to_cache_events(_count_cache_event)
    if path is not None:
        try:
            path.mkdir(parents=True, exist_ok=True)
            cachefiles.check_writable(path)  # JAX would fail every compile on its lock file otherwise
        except OSError as exc:  # a cache is an optimisation: without one, everything still compiles
            if _warned_unusable.first(str(path)):  # once per run, not once per stage
                log.warning(
                    "no persistent compile cache: cannot create or write to %s (%s); compiling from scratch", path, exc
                )
            path = None
    if not internals.configure_xla_cache(path, max_bytes):
        path = None
    _cache_dir = path
    return path


def compile_cache_dir() -> Path | None:
    """The persistent compile cache directory in use, or None."""
    return _cache_dir


# ---------------------------------------------------------------------------------------------
# Compiling, with a record of what it cost


@dataclass(frozen=True)
class CompileRecord:
    """What compiling one function cost.

    ``graph_seconds``: building the PyTensor function (graph rewrites, linking);
    ``first_call_seconds``: its first call, which includes XLA compilation or loading
    it from the persistent cache; ``cache``: ``hit``, ``miss`` or ``off`` (JAX backend;
    ``n/a`` for the others), or ``memory`` when this process had already compiled the
    same rewritten graph and nothing reached the persistent cache; ``graph_cache``: the
    same for PyTensor's rewritten graph (:mod:`pipeline.compile.graph_cache`);
    ``finished_at``: ``time.perf_counter()`` when the first call returned.
    """

    name: str
    backend: str
    graph_seconds: float
    first_call_seconds: float
    cache: str
    cache_dir: str | None
    finished_at: float
    graph_cache: str = "n/a"

    @property
    def seconds(self) -> float:
        """Total compile cost: building plus first call."""
        return self.graph_seconds + self.first_call_seconds

    def as_dict(self) -> dict:
        """The record as plain values (without ``finished_at``, which means nothing outside this process)."""
        out = {**asdict(self), "seconds": round(self.seconds, 4)}
        del out["finished_at"]
        return out


_recorders: list[tuple[list[CompileRecord], Callable | None]] = []


@contextlib.contextmanager
def record_compiles(on_record: Callable[[CompileRecord], None] | None = None):
    """Collect the :class:`CompileRecord` of every function first called inside the block.

    ``on_record`` is called with each record as it is made.
    """
    records: list[CompileRecord] = []
    entry = (records, on_record)
    _recorders.append(entry)
    try:
        yield records
    finally:
        _recorders.remove(entry)


class CompiledFunction:
    """A compiled PyTensor function that reports what its compilation cost when first called."""

    __slots__ = ("function", "name", "backend", "graph_seconds", "graph_cache", "in_memory", "record")

    def __init__(
        self,
        function,
        name: str,
        backend: str,
        graph_seconds: float,
        graph_cache: str = "n/a",
        in_memory: bool = False,
    ):
        self.function, self.name, self.backend, self.graph_seconds = function, name, backend, graph_seconds
        self.graph_cache, self.in_memory = graph_cache, in_memory
        self.record: CompileRecord | None = None

    def __call__(self, *args):
        if self.record is not None:
            return self.function(*args)
        hits, requests = _cache_events["hit"], _cache_events["request"]
        t0 = time.perf_counter()
        out = self.function(*args)
        if self.backend == "jax":  # JAX returns before the work is done; the record counts until it is
            import jax

            jax.block_until_ready(out)
        finished = time.perf_counter()
        if self.backend != "jax":
            cache = "n/a"
        elif _cache_events["request"] == requests:
            cache = "memory" if self.in_memory else "off"
        else:
            cache = "hit" if _cache_events["hit"] - hits == _cache_events["request"] - requests else "miss"
        self.record = CompileRecord(
            self.name,
            self.backend,
            round(self.graph_seconds, 4),
            round(finished - t0, 4),
            cache,
            str(_cache_dir) if _cache_dir and self.backend == "jax" else None,
            finished,
            self.graph_cache,
        )
        log.info(
            "compiled %s (%s): %.2f s (graph %.2f s, rewritten graph cache %s; first call %.2f s, XLA cache %s)%s",
            self.name,
            self.backend,
            self.record.seconds,
            self.graph_seconds,
            self.graph_cache,
            self.record.first_call_seconds,
            cache,
            f" in {_cache_dir}" if self.record.cache_dir else "",
        )
        for records, on_record in _recorders:
            records.append(self.record)
            if on_record is not None:
                on_record(self.record)
        return out


def compile_function(inputs, outputs, *, backend: str, updates=None, name: str = "function") -> CompiledFunction:
    """``pytensor.function`` compiled with the mode that ``backend`` names, wrapped in a :class:`CompiledFunction`."""
    resolved = resolve_backend(backend)
    if resolved == "jax":
        import jax

        # The models are float32 (``pipeline.models`` sets floatX), and so is JAX here. PyTensor's
        # JAX backend turns 64-bit types on when it is first imported while floatX is still
        # float64; a float64 accumulator in a scan's gradient then no longer matches its float32
        # type and JAX rejects the loop. Turning them off per compile keeps import order harmless.
        jax.config.update("jax_enable_x64", False)
        # PyTensor's int64 indices and float64 accumulators are truncated to 32 bits, as
        # expected; the warning about it is noise.
        warnings.filterwarnings("ignore", message="Explicitly requested dtype", category=UserWarning)
    t0 = time.perf_counter()
    if resolved == "jax":  # the rewritten graph is cached beside XLA's executables
        directory = _cache_dir / GRAPH_CACHE_SUBDIR if _cache_dir is not None and _graph_cache_on else None
        function, graph_cache = cached_function(
            inputs, outputs, updates=updates, mode=_MODES[resolved], name=name, directory=directory
        )
    else:
        function, graph_cache = (
            pytensor.function(inputs, outputs, updates=updates, mode=_MODES[resolved], name=name),
            "n/a",
        )
    in_memory = graph_cache == "reused"  # a hit whose executable this process already holds
    return CompiledFunction(
        function, name, resolved, time.perf_counter() - t0, "hit" if in_memory else graph_cache, in_memory
    )
