"""A disk cache of PyTensor's rewritten graphs, so that a warm start skips the rewriting.

JAX's persistent cache keeps XLA's compiled executables, but every process still
builds each PyTensor function from scratch, and PyTensor's graph rewrites (about a
second for the char-RNN's scan gradient) come before XLA is asked for anything.
This cache keeps, per function, the rewritten graph (PyTensor's ``FunctionMaker``)
next to the graph it was made from. A later process that builds the same graph
loads the rewritten one and only links it to its own shared variables.

Nothing unverified is unpickled: each entry's sha256 is recorded in a ``.sha256``
file written (atomically) after the entry, as an artifact's manifest is, and the
bytes are checked against it before they are unpickled. An entry without a record,
or whose bytes do not match it, is deleted unread and the function compiled and
cached anew; so is one whose record cannot be read, or one of either that is not a
file. A cache directory that cannot be written to turns this cache off for the
process, with one warning.

A hit is never taken on trust either: the file name is a digest of the graph's
structure, and a loaded entry is used only if PyTensor's own ``equal_computations``
finds the stored graph equal to the new one (same operations, constants, input types
and update targets); otherwise the function is compiled as usual and the entry
replaced. Entries are written atomically; one that cannot be read is deleted and
written anew. Shared variables' values are not stored (they are state, not graph);
entries are compressed. PyTensor's internals used here live in
:mod:`pipeline.compile.internals`, which turns this cache off for untested versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import platform
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytensor

from pipeline.compile import cachefiles, internals

log = logging.getLogger(__name__)

FORMAT = 1
DIGEST_SUFFIX = ".sha256"  # beside each entry: the sha256 of its bytes, written after them
MAX_ENTRIES = 64  # least recently used entries beyond this are deleted


class _Graph:
    """A function's graph in a canonical order: inputs, shared variables (first use), outputs, updates."""

    def __init__(self, inputs, outputs, updates):
        io_toposort, _, SharedVariable, Constant = internals.graph_tools()
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.updates = list(updates)
        self.shared: list = []
        seen = {v: i for i, v in enumerate(self.inputs)}
        lines = [f"input {v.type}" for v in self.inputs]

        def leaf(v) -> None:
            seen[v] = len(seen)
            if isinstance(v, SharedVariable):
                self.shared.append(v)
                lines.append(f"shared {v.type}")
            elif isinstance(v, Constant):
                lines.append(f"constant {v.type} {_digest_data(v.data)}")
            else:
                lines.append(f"free {v.type}")  # pytensor.function will refuse it; no entry is made then

        exprs = self.outputs + [expr for _, expr in self.updates]
        for node in io_toposort(self.inputs, exprs):
            for v in node.inputs:
                if v not in seen:
                    leaf(v)
            lines.append(f"{type(node.op).__name__} {node.op} {[seen[v] for v in node.inputs]}")
            for v in node.outputs:
                seen[v] = len(seen)
        for v in exprs + [target for target, _ in self.updates]:
            if v not in seen:
                leaf(v)
        lines += [f"output {seen[v]}" for v in self.outputs]
        lines += [f"update {seen[target]} <- {seen[expr]}" for target, expr in self.updates]
        self.text = "\n".join(lines)

    def update_targets(self) -> list[int]:
        """Which shared variable (by position in :attr:`shared`) each update writes."""
        return [next(i for i, s in enumerate(self.shared) if s is target) for target, _ in self.updates]

    def same_as(self, other: _Graph) -> bool:
        """True when both graphs compute the same, input for input (PyTensor's ``equal_computations``)."""
        mine, theirs = self.inputs + self.shared, other.inputs + other.shared
        if (len(self.inputs), len(self.shared), len(self.outputs), len(self.updates)) != (
            len(other.inputs),
            len(other.shared),
            len(other.outputs),
            len(other.updates),
        ):
            return False
        if any(a.type != b.type for a, b in zip(mine, theirs)):  # static shapes too, not only dtype and rank
            return False
        if self.update_targets() != other.update_targets():
            return False
        equal_computations = internals.graph_tools()[1]
        return equal_computations(
            self.outputs + [e for _, e in self.updates],
            other.outputs + [e for _, e in other.updates],
            in_xs=mine,
            in_ys=theirs,
        )


def _digest_data(data) -> str:
    if isinstance(data, np.ndarray):
        return f"{data.dtype}{data.shape}:{hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:16]}"
    return repr(data)


def _versions() -> str:
    import jax

    return (
        f"format {FORMAT} python {platform.python_version()} pytensor {pytensor.__version__} "
        f"jax {jax.__version__} numpy {np.__version__} floatX {pytensor.config.floatX}"
    )


class _Pickler(pickle.Pickler):
    """Pickles an entry without the shared variables' values (they are state, not graph)."""

    def __init__(self, file, values: set[int]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.values = values

    def persistent_id(self, obj):
        return "shared value" if id(obj) in self.values else None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        if pid != "shared value":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return None


def _entry_path(directory: Path, graph: _Graph, mode: str, name: str) -> Path:
    digest = hashlib.sha256(f"{_versions()}\nmode {mode}\n{graph.text}".encode()).hexdigest()[:32]
    return directory / f"{name}-{digest}.pkl.z"


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def _remove(path: Path) -> None:
    """Delete an entry and its digest record, whatever they are (a directory where a file should be, too)."""
    for p in (path, _digest_path(path)):
        with contextlib.suppress(OSError):
            cachefiles.remove(p)


def _recorded_digest(path: Path) -> tuple[str | None, str | None]:
    """``(digest, None)`` from the entry's record, or ``(None, what is wrong with the record)``."""
    record = _digest_path(path)
    if not cachefiles.exists(record):
        return None, "has no sha256 record"
    try:
        text = record.read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"has an unreadable sha256 record {record} ({type(exc).__name__}: {exc})"
    return text, None


def _verified_bytes(path: Path, name: str) -> tuple[bytes, str] | None:
    """The entry's bytes and their sha256 if it matches the one recorded for them; otherwise None (and the
    entry is deleted).

    Whatever is wrong (the entry or its record garbled, empty, cut short, missing, or
    a directory), the entry is deleted unread with one warning naming it.
    """
    if not cachefiles.exists(path):
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = f"cannot be read ({type(exc).__name__}: {exc})"
    else:
        recorded, problem = _recorded_digest(path)
        digest = hashlib.sha256(data).hexdigest()
        if problem is None and recorded != digest:
            problem = f"does not match its sha256 record {_digest_path(path)}"
    if problem is not None:
        log.warning("%s: rewritten-graph cache entry %s %s; deleting it unread and rewriting", name, path, problem)
        _remove(path)
        return None
    return data, digest


def _load(path: Path, graph: _Graph, name: str):
    """``(function, reused)`` made from a verified, matching entry at ``path``, or None (no entry, or a different
    graph); ``reused``: this process already held the jitted function of that entry, and the function uses it."""
    verified = _verified_bytes(path, name)
    if verified is None:
        return None
    data, digest = verified
    reused = internals.jitted_in_process(digest)
    try:
        entry = _Unpickler(io.BytesIO(zlib.decompress(data))).load()
        if entry["format"] != FORMAT:
            raise ValueError(f"format {entry['format']}")
        stored = _Graph(*entry["graph"])
        if not graph.same_as(stored):
            log.info("%s: the cached rewritten graph %s is of another graph; rewriting", name, path.name)
            return None
        # Link the rewritten graph to this process's shared variables: their containers
        # become the function's storage, exactly as when the function is compiled here.
        function = internals.link_maker(entry["maker"], list(zip(stored.shared, graph.shared)), reuse_key=digest)
    except Exception as exc:
        log.warning(
            "%s: unusable rewritten-graph cache entry %s (%s: %s); deleting it and rewriting",
            name,
            path,
            type(exc).__name__,
            exc,
        )
        _remove(path)
        return None
    with contextlib.suppress(OSError):  # marks it recently used (another process may have pruned it meanwhile)
        os.utime(path)
    return function, reused


def _store(path: Path, graph: _Graph, function, name: str) -> None:
    values = internals.shared_value_ids(graph.shared)  # the function's shared inputs hold these values
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, values).dump(
            {
                "format": FORMAT,
                "graph": (graph.inputs, graph.outputs, graph.updates),
                "maker": internals.function_maker(function),
            }
        )
        data = zlib.compress(buffer.getbuffer(), 1)  # constant-folded zeros: MBs -> KBs
        for p in (path, _digest_path(path)):  # a directory (or other non-file) there would refuse the rename
            if cachefiles.exists(p) and not cachefiles.is_regular_file(p):
                cachefiles.remove(p)
        _write_atomically(path, data)
        _write_atomically(_digest_path(path), hashlib.sha256(data).hexdigest().encode())  # last: the entry is whole
    except Exception as exc:
        log.warning(
            "%s: could not cache the rewritten graph in %s (%s: %s)", name, path.parent, type(exc).__name__, exc
        )
        return
    _prune(path.parent)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _prune(directory: Path) -> None:
    """Keep the :data:`MAX_ENTRIES` most recently used entries (other processes may prune at the same time)."""

    def last_used(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return float("-inf")

    for old in sorted(directory.glob("*.pkl.z"), key=last_used, reverse=True)[MAX_ENTRIES:]:
        _remove(old)
    for record in directory.glob(f"*.pkl.z{DIGEST_SUFFIX}"):  # a record whose entry went (pruned, deleted)
        if not record.with_name(record.name[: -len(DIGEST_SUFFIX)]).exists():
            with contextlib.suppress(OSError):
                record.unlink()


_unusable: set[Path] = set()  # directories found unusable by this process (warned about once)


def _usable(directory: Path, name: str) -> bool:
    """Make ``directory`` if needed and check it can be written to; False (warned once per process) if not.

    Something other than a directory in its place (it is the cache's own
    subdirectory) is removed first.
    """
    if directory in _unusable:
        return False
    try:
        if cachefiles.exists(directory) and not directory.is_dir():
            log.warning(
                "%s: %s is not a directory; removing it to keep the rewritten-graph cache there", name, directory
            )
            cachefiles.remove(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cachefiles.check_writable(directory)
    except OSError as exc:
        log.warning(
            "%s: no rewritten-graph cache: cannot create or write to %s (%s); compiling from scratch",
            name,
            directory,
            exc,
        )
        _unusable.add(directory)
        return False
    return True


def cached_function(inputs, outputs, *, updates, mode, name: str, directory: Path | None):
    """``pytensor.function(inputs, outputs, updates=updates, mode=mode, name=name)``, rewritten graph cached.

    Returns ``(function, status)`` with status ``hit`` (the rewritten graph came from
    ``directory``), ``reused`` (it did, and this process had already run that graph: JAX's
    jitted function is the one made then, see :func:`internals.link_maker`), ``miss``
    (rewritten here and stored) or ``off`` (no directory, or a PyTensor version the cache is
    not tested with).
    """
    updates = list(updates.items() if isinstance(updates, dict) else updates or [])

    def compile_here():
        return pytensor.function(inputs, outputs, updates=updates, mode=mode, name=name)

    if directory is None or not internals.support().graph_cache:
        return compile_here(), "off"
    if not _usable(directory, name):
        return compile_here(), "off"
    try:
        graph = _Graph(inputs, outputs if isinstance(outputs, (list, tuple)) else [outputs], updates)
    except (ImportError, AttributeError) as exc:  # PyTensor's graph helpers moved: no cache, same function
        internals.unavailable("PyTensor's graph traversal", exc)
        return compile_here(), "off"
    path = _entry_path(directory, graph, str(mode), name)
    loaded = _load(path, graph, name)
    if loaded is not None:
        function, reused = loaded
        return function, "reused" if reused else "hit"
    function = compile_here()
    _store(path, graph, function, name)
    return function, "miss"
