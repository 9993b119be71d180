"""Every use of PyTensor's or JAX's internals, behind one version check.

The compile caches lean on things neither library promises to keep: JAX's
persistent-cache module and its monitoring event names, the name and messages of
the logger its cache reads go through, PyTensor's ``FunctionMaker`` (a compiled
function's ``maker`` and ``maker.create``) and its graph-traversal helpers. They are
all here, and nowhere else in the project.

:func:`support` compares the installed versions with :data:`SUPPORTED` (the ranges
tested). Outside its range a library's cache is turned off, with one warning per
process naming the versions: JAX's persistent XLA cache needs JAX in range, the
rewritten-graph cache needs PyTensor in range. Compiling itself only uses public
APIs, so it goes on without the cache: slower, never wrong, never a crash. The same
happens when an internal is missing although the version is in range.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

# Inclusive lower bound (what is installed and passed the suite), exclusive upper bound.
SUPPORTED = {"pytensor": ("3.0.7", "4"), "jax": ("0.10.2", "1")}

# JAX: names its persistent compile cache uses internally
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
CACHE_REQUEST_EVENT = "/jax/compilation_cache/compile_requests_use_cache"
CACHE_LOGGER = "jax._src.lru_cache"
CACHE_HIT_PREFIX = "Cache hit for key: "
UNREADABLE_ENTRY = "Error reading persistent compilation cache entry"
ENTRY_SUFFIXES = ("-cache", "-atime")
LOCK_FILE = ".lockfile"


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (None when it is not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...] | None:
    match = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def in_range(version: str | None, lower: str, upper: str) -> bool:
    """True when ``lower <= version < upper`` (release numbers only; an unreadable version is out of range)."""
    release = _release(version) if version else None
    if release is None:
        return False
    return _release(lower) <= release < _release(upper)


@dataclass(frozen=True)
class Support:
    """Which caches the installed versions allow."""

    xla_cache: bool
    graph_cache: bool


@functools.lru_cache(maxsize=None)
def support() -> Support:
    """The caches the installed PyTensor and JAX allow; warns once when either is outside :data:`SUPPORTED`."""
    versions = {name: installed_version(name) for name in SUPPORTED}
    ok = {name: in_range(versions[name], *SUPPORTED[name]) for name in SUPPORTED}
    result = Support(xla_cache=ok["jax"], graph_cache=ok["pytensor"])
    off = [what for what, allowed in (("JAX's persistent XLA cache", result.xla_cache),
                                      ("the rewritten-graph cache", result.graph_cache)) if not allowed]
    if off:
        found = ", ".join(f"{n} {versions[n] or 'not installed'}" for n in SUPPORTED)
        tested = ", ".join(f"{n} >={lo},<{hi}" for n, (lo, hi) in SUPPORTED.items())
        log.warning("installed %s; the compile caches are tested with %s: %s off (everything still compiles, "
                    "only without that cache)", found, tested, " and ".join(off))
    return result


def unavailable(what: str, exc: BaseException) -> None:
    """Log that an internal ``what`` is missing although the version is supported (the cache stays off)."""
    log.warning("%s is not available in this version (%s: %s); that cache is off", what, type(exc).__name__, exc)


# ---------------------------------------------------------------------------------------------
# JAX's persistent compilation cache

def listen_to_cache_events(callback) -> bool:
    """Call ``callback(kind)`` with ``"hit"`` or ``"request"`` for each of JAX's persistent-cache events."""
    try:
        import jax

        def listener(event: str, **_kwargs) -> None:
            if event == CACHE_HIT_EVENT:
                callback("hit")
            elif event == CACHE_REQUEST_EVENT:
                callback("request")

        jax.monitoring.register_event_listener(listener)
        return True
    except (ImportError, AttributeError) as exc:
        unavailable("jax.monitoring", exc)
        return False


def configure_xla_cache(path: Path | None, max_bytes: int) -> bool:
    """Point JAX's persistent cache at ``path`` (None: off), every compilation cached; False when it is off."""
    import jax

    try:
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()  # JAX opens its cache once per process; this lets it reopen elsewhere
        if path is None:
            jax.config.update("jax_compilation_cache_dir", None)
            jax.config.update("jax_enable_compilation_cache", False)
            return False
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        # a size limit makes JAX take a file lock around each read and write of the cache
        jax.config.update("jax_compilation_cache_max_size", int(max_bytes))
        return True
    except (ImportError, AttributeError) as exc:
        unavailable("JAX's compilation cache", exc)
        with contextlib.suppress(Exception):
            jax.config.update("jax_enable_compilation_cache", False)
        return False


class _CacheReads(logging.Handler):
    """Collects the keys of the entries JAX's cache reads (it logs each hit at debug level)."""

    def __init__(self, logger: logging.Logger, shown_from: int):
        super().__init__(logging.DEBUG)
        self.keys: list[str] = []
        self.logger, self.shown_from = logger, shown_from

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(CACHE_HIT_PREFIX):
            self.keys.append(message[len(CACHE_HIT_PREFIX):].strip("'\""))
        if record.levelno >= self.shown_from and self.logger.parent is not None:
            self.logger.parent.handle(record)  # what would have been shown without us is still shown


@contextlib.contextmanager
def repairing_xla_cache(directory: Path):
    """Run a first call; if JAX could not read a cache entry, delete that entry so that it is written anew.

    JAX writes an entry in place, so a process killed mid-write leaves a truncated
    entry. JAX then warns, compiles instead, and never replaces the entry: without
    this repair every later process would compile that function again.
    """
    logger = logging.getLogger(CACHE_LOGGER)
    level, propagate = logger.level, logger.propagate
    reads = _CacheReads(logger, shown_from=logger.getEffectiveLevel())
    logger.addHandler(reads)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logger.removeHandler(reads)
        logger.setLevel(level)
        logger.propagate = propagate
    broken = False
    for warning in caught:
        if UNREADABLE_ENTRY in str(warning.message):
            broken = True
        else:  # pass every other warning on as it would have been shown
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if broken:
        import filelock

        with filelock.FileLock(directory / LOCK_FILE):
            for key in reads.keys:
                for suffix in ENTRY_SUFFIXES:
                    (directory / f"{key}{suffix}").unlink(missing_ok=True)
        log.warning("removed unreadable compile cache entries %s from %s (a process killed while writing "
                    "them?); they are written again by the next compilation", ", ".join(reads.keys), directory)


# ---------------------------------------------------------------------------------------------
# PyTensor's graph internals and FunctionMaker

def graph_tools():
    """``(io_toposort, equal_computations, SharedVariable, Constant)`` from PyTensor's graph modules."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant, equal_computations
    from pytensor.graph.traversal import io_toposort

    return io_toposort, equal_computations, SharedVariable, Constant


def function_maker(function):
    """The ``FunctionMaker`` that built a compiled PyTensor function (what the graph cache stores)."""
    return function.maker


def shared_value_ids(shared) -> set[int]:
    """``id`` of the value each shared variable's container holds (what a compiled function's storage points to)."""
    return {id(s.container.storage[0]) for s in shared}


def link_maker(maker, shared: list[tuple]):
    """A function from a stored ``FunctionMaker``, its shared inputs bound to this process's variables.

    ``shared`` pairs each stored shared variable with the one of this process whose
    container becomes the function's storage, exactly as when the function is compiled
    here; every one must be used, or ``ValueError``.
    """
    by_stored = {id(stored): fresh.container for stored, fresh in shared}
    storage = [by_stored.get(id(i.variable)) for i in maker.inputs]
    if sum(s is not None for s in storage) != len(shared):
        raise ValueError("the entry's shared inputs do not match its graph")
    return maker.create(storage)
