"""Every use of PyTensor's or JAX's internals, behind one version check.

The compile caches lean on things neither library promises to keep: JAX's
persistent-cache module (its reader, which is wrapped to repair damaged entries, its
decompressor, its file layout and lock file) and its monitoring event names, PyTensor's
``FunctionMaker`` (a compiled function's ``maker`` and ``maker.create``), its JAX
linker's ``jit_compile`` (to reuse a jitted function within a process) and its
graph-traversal helpers; sizing XLA's thread pool needs to know whether JAX's clients
exist yet. They are all here, and nowhere else in the project.

:func:`support` compares the installed versions with :data:`SUPPORTED` (the ranges
tested). Outside its range a library's cache is turned off, with one warning per
process naming the versions: JAX's persistent XLA cache needs JAX in range, the
rewritten-graph cache needs PyTensor in range. Compiling itself only uses public
APIs, so it goes on without the cache: slower, never wrong, never a crash. The same
happens when an internal is missing although the version is in range.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipeline.compile import cachefiles

log = logging.getLogger(__name__)

# Inclusive lower bound (what is installed and passed the suite), exclusive upper bound.
SUPPORTED = {"pytensor": ("3.0.7", "4"), "jax": ("0.10.2", "1")}

# JAX: names its persistent compile cache uses internally
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
CACHE_REQUEST_EVENT = "/jax/compilation_cache/compile_requests_use_cache"
ENTRY_SUFFIXES = ("-cache", "-atime")  # an entry's executable and the record of its last use
ATIME_BYTES = 8  # the last use, in nanoseconds, little-endian
LOCK_FILE = ".lockfile"
LOCK_TIMEOUT_S = 10  # what JAX waits for its lock

_xla_dir: Path | None = None  # the directory JAX's cache is pointed at (by configure_xla_cache)


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


@functools.cache
def support() -> Support:
    """The caches the installed PyTensor and JAX allow; warns once when either is outside :data:`SUPPORTED`."""
    versions = {name: installed_version(name) for name in SUPPORTED}
    ok = {name: in_range(versions[name], *SUPPORTED[name]) for name in SUPPORTED}
    result = Support(xla_cache=ok["jax"], graph_cache=ok["pytensor"])
    off = [
        what
        for what, allowed in (
            ("JAX's persistent XLA cache", result.xla_cache),
            ("the rewritten-graph cache", result.graph_cache),
        )
        if not allowed
    ]
    if off:
        found = ", ".join(f"{n} {versions[n] or 'not installed'}" for n in SUPPORTED)
        tested = ", ".join(f"{n} >={lo},<{hi}" for n, (lo, hi) in SUPPORTED.items())
        log.warning(
            "installed %s; the compile caches are tested with %s: %s off (everything still compiles, "
            "only without that cache)",
            found,
            tested,
            " and ".join(off),
        )
    return result


def unavailable(what: str, exc: BaseException) -> None:
    """Log that an internal ``what`` is missing although the version is supported (the cache stays off)."""
    log.warning("%s is not available in this version (%s: %s); that cache is off", what, type(exc).__name__, exc)


# ---------------------------------------------------------------------------------------------
# JAX's persistent compilation cache


def jax_clients_exist() -> bool:
    """Whether JAX has created its clients in this process (True when this cannot be told)."""
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        return True


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
    """Point JAX's persistent cache at ``path`` (None: off), every compilation cached; False when it is off.

    The directory is tidied first (:func:`tidy_xla_cache`) and JAX's reads are
    checked (:func:`_checked_read`), so that a damaged entry costs one compile and
    one warning, once. ``path`` must exist and be writable.
    """
    global _xla_dir
    import jax

    try:
        from jax._src import compilation_cache as jax_cache
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()  # JAX opens its cache once per process; this lets it reopen elsewhere
        _xla_dir = None
        if path is None:
            jax.config.update("jax_compilation_cache_dir", None)
            jax.config.update("jax_enable_compilation_cache", False)
            return False
        if not getattr(jax_cache.get_executable_and_time, "checked_by_pipeline", False):
            jax_cache.get_executable_and_time = _checked_read(jax_cache.get_executable_and_time)
        jax_cache.decompress_executable, jax_cache.extract_executable_and_time  # noqa: B018 - both needed
    except (ImportError, AttributeError) as exc:
        unavailable("JAX's compilation cache", exc)
        with contextlib.suppress(Exception):
            jax.config.update("jax_enable_compilation_cache", False)
        return False
    try:
        tidy_xla_cache(path)
    except OSError as exc:
        log.warning("no persistent compile cache: cannot lock %s (%s); compiling from scratch", path, exc)
        jax.config.update("jax_compilation_cache_dir", None)
        jax.config.update("jax_enable_compilation_cache", False)
        return False
    try:
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        # a size limit makes JAX take a file lock around each read and write of the cache
        jax.config.update("jax_compilation_cache_max_size", int(max_bytes))
    except AttributeError as exc:
        unavailable("JAX's compilation cache", exc)
        with contextlib.suppress(Exception):
            jax.config.update("jax_enable_compilation_cache", False)
        return False
    _xla_dir = path
    return True


def _locked(directory: Path):
    """JAX's own inter-process lock on ``directory`` (the one it holds around each read and write)."""
    import filelock

    return filelock.FileLock(directory / LOCK_FILE, timeout=LOCK_TIMEOUT_S)


def _entry_files(directory: Path, key: str) -> tuple[Path, Path]:
    return directory / f"{key}{ENTRY_SUFFIXES[0]}", directory / f"{key}{ENTRY_SUFFIXES[1]}"


def _discard(files, problem: str) -> None:
    """Delete a damaged entry's files, with one warning naming the entry and what was wrong with it."""
    try:
        for path in files:
            cachefiles.remove(path)
    except OSError as exc:
        log.warning("compile cache entry %s %s; cannot remove it (%s); compiling without it", files[0], problem, exc)
        return
    log.warning(
        "compile cache entry %s %s; removed it, compiling instead (the next compilation writes it anew)",
        files[0],
        problem,
    )


def _structural_problem(entry: Path, atime: Path) -> str | None:
    """What is wrong with an entry's files, short of reading the entry (None: nothing found)."""
    if not cachefiles.is_regular_file(entry):
        return "is not a file"
    if not cachefiles.exists(atime):
        return f"has no access-time record {atime.name} (a writer killed between the two?)"
    if not cachefiles.is_regular_file(atime):
        return f"has an access-time record {atime} that is not a file"
    if atime.stat().st_size != ATIME_BYTES:
        return f"has an access-time record {atime} of {atime.stat().st_size} bytes, not {ATIME_BYTES}"
    return None


def _entry_problem(entry: Path, atime: Path) -> str | None:
    """What is wrong with an entry (None: it reads, decompresses and has a record), read as JAX would."""
    from jax._src import compilation_cache as jax_cache

    if not cachefiles.exists(entry):
        return None  # gone meanwhile (another process repaired it)
    problem = _structural_problem(entry, atime)
    if problem is not None:
        return problem
    try:
        data = entry.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc})"
    try:
        jax_cache.extract_executable_and_time(jax_cache.decompress_executable(data))
    except Exception as exc:
        return f"is damaged ({type(exc).__name__}: {exc})" if data else "is empty"
    return None


def tidy_xla_cache(directory: Path) -> None:
    """Before JAX opens ``directory``: remove what it would trip over in every later process.

    A lock file that is not a file, an entry that is not a file, or one without an
    intact access-time record (which makes every one of JAX's writes to the directory
    fail) is removed with one warning. Entries' bytes are checked when JAX reads them
    (:func:`_checked_read`), not here. Raises ``OSError`` when the lock cannot be taken.
    """
    lock = directory / LOCK_FILE
    if cachefiles.exists(lock) and not cachefiles.is_regular_file(lock):
        _discard([lock], "(JAX's lock file) is not a file")
    with _locked(directory):
        for entry in sorted(directory.glob(f"*{ENTRY_SUFFIXES[0]}")):
            atime = _entry_files(directory, entry.name[: -len(ENTRY_SUFFIXES[0])])[1]
            problem = _structural_problem(entry, atime)
            if problem is not None:
                _discard([entry, atime], problem)
        for atime in directory.glob(f"*{ENTRY_SUFFIXES[1]}"):  # left by an entry removed by hand: harmless
            if not cachefiles.exists(_entry_files(directory, atime.name[: -len(ENTRY_SUFFIXES[1])])[0]):
                with contextlib.suppress(OSError):
                    cachefiles.remove(atime)


def _checked_read(read):
    """Wrap JAX's ``get_executable_and_time``: an entry it cannot use is removed, and compiled anew.

    JAX catches a failed read itself, warns and compiles, but never replaces the entry
    (it writes only under a name that is free), so the warning and the compile would
    come back in every process. Here the failure is taken before JAX sees it: under
    JAX's lock the entry is checked as JAX reads it and, if damaged, removed, with one
    warning naming it; ``(None, None)`` then tells JAX to compile and write it anew.
    """

    @functools.wraps(read)
    def get_executable_and_time(cache_key, *args, **kwargs):
        try:
            return read(cache_key, *args, **kwargs)
        except Exception as exc:  # a cache entry must never stop a compile (re-raised when not ours)
            directory = _xla_dir
            if directory is None:
                raise  # not a cache of ours: JAX warns as usual
            _repair(directory, cache_key, exc)
            return None, None

    get_executable_and_time.checked_by_pipeline = True
    return get_executable_and_time


def _repair(directory: Path, key: str, error: Exception) -> None:
    entry, atime = _entry_files(directory, key)
    try:
        with _locked(directory):
            problem = _entry_problem(entry, atime)
            if problem is not None:
                _discard([entry, atime], problem)
                return
    except OSError as exc:
        log.warning(
            "compile cache entry %s could not be read (%s: %s) nor checked (%s); compiling without it",
            entry,
            type(error).__name__,
            error,
            exc,
        )
        return
    log.warning(
        "compile cache entry %s could not be used (%s: %s); compiling without it", entry, type(error).__name__, error
    )


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


def link_maker(maker, shared: list[tuple], reuse_key: str | None = None):
    """A function from a stored ``FunctionMaker``, its shared inputs bound to this process's variables.

    ``shared`` pairs each stored shared variable with the one of this process whose
    container becomes the function's storage, exactly as when the function is compiled
    here; every one must be used, or ``ValueError``. With ``reuse_key`` (the digest of
    the stored rewritten graph), JAX's jitted function is the one an earlier link of the
    same entry made in this process, if any (see :func:`_reuse_jitted`).
    """
    by_stored = {id(stored): fresh.container for stored, fresh in shared}
    storage = [by_stored.get(id(i.variable)) for i in maker.inputs]
    if sum(s is not None for s in storage) != len(shared):
        raise ValueError("the entry's shared inputs do not match its graph")
    if reuse_key is not None:
        _reuse_jitted(maker.linker, reuse_key)
    return maker.create(storage)


JITTED_KEPT = 64  # jitted functions kept per process, least recently used dropped
_jitted: collections.OrderedDict[str, Callable] = collections.OrderedDict()


def _reuse_jitted(linker, key: str) -> None:
    """Make ``linker`` (a ``JAXLinker``, one per function) hand out the jitted function that ``key`` last got.

    PyTensor's JAX linker wraps the Python function it generates from the graph in a new
    ``jax.jit``, which JAX traces and lowers on its first call (and looks up in its
    persistent cache) even when this process has run the same graph before. The jitted
    function is pure: the function's shared variables and inputs are its arguments, its
    constants are the graph's, so one made from an identical rewritten graph (same
    digest) computes exactly what a new one would, and JAX's own dispatch cache then
    skips the tracing. PyTensor calls ``jit_compile`` on the linker while it creates the
    function; it is overridden on this linker instance only.
    """
    if not callable(getattr(linker, "jit_compile", None)):  # PyTensor moved it: every link compiles anew
        return
    compile_here = linker.jit_compile

    def jit_compile(fn):
        jitted = _jitted.pop(key, None)
        if jitted is None:
            jitted = compile_here(fn)
        _jitted[key] = jitted  # most recently used last
        while len(_jitted) > JITTED_KEPT:
            _jitted.popitem(last=False)
        return jitted

    linker.jit_compile = jit_compile


def jitted_in_process(key: str) -> bool:
    """Whether this process already holds the jitted function of the rewritten graph ``key``."""
    return key in _jitted
