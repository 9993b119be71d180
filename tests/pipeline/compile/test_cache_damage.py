"""Every cache is an optimisation, never a failure: each kind of damage to each compile-cache file.

A fresh process (forked from a server that has imported the libraries and compiled nothing: see
cache_worker) trains and predicts with a cache that was written whole by an earlier process and then
damaged. It must exit 0, compute bit for bit what a process without any cache computes, warn once naming
the damaged file (never for damage that does not matter), and leave the cache so that the next process
loads everything from it without a warning.
"""

import contextlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.compile.backend import GRAPH_CACHE_SUBDIR
from pipeline.compile.internals import LOCK_FILE
from tests.pipeline.compile.cache_worker import in_fresh_process
from tests.pipeline.models.helpers import ROOT

ALL_HIT = {"log_reg_train": "hit", "log_reg_predict": "hit"}


def run(cache, wrap=()):
    """Train and predict in a fresh process with the compile cache ``cache`` (None: no cache); ``wrap``: a command
    prefix (then the process is a new interpreter, started under it)."""
    if not wrap:
        return in_fresh_process(str(cache) if cache is not None else None)
    command = [*wrap, sys.executable, "-m", "tests.pipeline.compile.cache_worker", str(cache) if cache else "none"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def without_cache():
    result = run(None)
    assert result["warnings"] == [] and set(result["xla"].values()) == {"off"}
    return result["computed"]


@pytest.fixture(scope="module")
def written(tmp_path_factory, without_cache):
    """A cache written whole by one process, and a copy of it as it was."""
    cache, copy = tmp_path_factory.mktemp("written") / "cache", tmp_path_factory.mktemp("pristine") / "cache"
    result = run(cache)
    assert result["warnings"] == [] and set(result["xla"].values()) == {"miss"}
    assert result["computed"] == without_cache
    shutil.copytree(cache, copy)
    return cache, copy


@pytest.fixture
def written_cache(written):
    """The cache as its process wrote it (restored in place: XLA entries are valid only where they were written)."""
    cache, copy = written
    shutil.rmtree(cache)
    shutil.copytree(copy, cache)
    return cache


# Each damage turns the bytes of a file into other bytes, or the file into a directory.
def _garble(data: bytes) -> bytes:  # a stretch in the middle overwritten; hex digits become non-ASCII bytes
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]


DAMAGES = {
    "garbled": _garble,
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],  # what a writer killed halfway leaves
}


def damage(path: Path, how: str) -> None:
    if how == "directory":  # a directory (not empty) where the file should be
        path.unlink()
        path.mkdir()
        (path / "inside").write_bytes(b"x")
    else:
        path.write_bytes(DAMAGES[how](path.read_bytes()))


def largest(directory: Path, pattern: str) -> Path:
    files = sorted(directory.glob(pattern), key=lambda p: p.stat().st_size)
    assert files, f"no {pattern} in {directory}"
    return files[-1]


def target(cache: Path, file: str) -> Path:
    """The file of the written cache that a test damages: the largest of its kind (the training function's)."""
    graphs = cache / GRAPH_CACHE_SUBDIR
    return {
        "XLA entry": lambda: largest(cache, "*-cache"),
        "XLA access-time record": lambda: largest(cache, "*-cache").with_name(
            largest(cache, "*-cache").name[: -len("-cache")] + "-atime"
        ),
        "XLA lock file": lambda: cache / LOCK_FILE,
        "graph entry": lambda: largest(graphs, "*.pkl.z"),
        "graph sha256 record": lambda: largest(graphs, "*.pkl.z").with_name(
            largest(graphs, "*.pkl.z").name + ".sha256"
        ),
        "graph directory": lambda: graphs,
    }[file]()


# Damage that changes nothing JAX or the cache relies on: no warning, no compile. An access-time
# record of the right length is any timestamp (it only orders eviction).
HARMLESS = {("XLA access-time record", "garbled")}
# A sample of the damages per file, one per way the file can fail, since the suite's time is shared by
# every test: XLA's entry is empty, cut short, wrong inside or not a file; the rewritten graph's sha256
# record is not ASCII, does not match, or is not a file; an access-time record is short or long,
# readable or not; a graph entry only ever fails its record's sha256.
CASES = (
    [("XLA entry", h) for h in ("empty", "truncated", "garbled", "directory")]
    + [("graph sha256 record", h) for h in ("garbled", "truncated", "directory")]
    + [("XLA access-time record", h) for h in ("empty", "garbled", "directory")]
    + [("graph entry", h) for h in ("garbled", "truncated", "directory")]
    + [("XLA lock file", "directory"), ("graph directory", "file")]
)


@pytest.mark.parametrize("file,how", CASES, ids=[f"{f}-{h}" for f, h in CASES])
def test_damage_costs_at_most_a_compile_and_one_warning_once(written_cache, without_cache, file, how):
    cache = written_cache
    damaged = target(cache, file)
    assert damaged.exists()
    if how == "file":  # a file where the directory should be
        shutil.rmtree(damaged)
        damaged.write_text("not a directory")
    else:
        damage(damaged, how)

    first = run(cache)
    assert first["computed"] == without_cache  # bit for bit
    if (file, how) in HARMLESS:
        assert first["warnings"] == [] and first["xla"] == first["graph"] == ALL_HIT
    else:
        (warning,) = first["warnings"]
        assert str(damaged) in warning and warning.startswith("pipeline.compile.")
        if file.startswith(("XLA entry", "XLA access")):
            assert first["xla"]["log_reg_train"] == "miss"  # compiled instead
        if file.startswith(("graph entry", "graph sha256")):
            assert first["graph"]["log_reg_train"] == "miss"

    second = run(cache)  # repaired: everything from the cache, nothing to warn about
    assert second["warnings"] == []
    assert second["xla"] == ALL_HIT and second["graph"] == ALL_HIT
    assert second["computed"] == without_cache


def _read_only_mount(directory: Path):
    """A command prefix that runs a process with ``directory`` on a read-only bind mount, or None.

    A real read-only filesystem (``EROFS``, as on a read-only volume): tests run as root,
    for whom a directory's mode bits stop nothing. Needs a private mount namespace.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    mount = f"mount --bind -o ro {directory} {directory}"
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"{mount} && ! touch {directory}/.probe 2>/dev/null"],
        capture_output=True,
        check=False,
    )
    (directory / ".probe").unlink(missing_ok=True)
    if probe.returncode != 0:
        return None
    return [unshare, "-m", "sh", "-c", f'{mount} && exec "$@"', "sh"]


@contextlib.contextmanager
def _immutable(directory: Path):
    """``directory`` made immutable (``chattr +i``: nothing can be created in it, even by root), or None."""
    chattr = shutil.which("chattr")
    if (
        chattr is None
        or subprocess.run([chattr, "+i", str(directory)], capture_output=True, check=False).returncode != 0
    ):
        yield None
        return
    try:
        yield []
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


@pytest.mark.parametrize("way", ["read-only mount", "immutable directory"])
def test_a_cache_directory_that_cannot_be_written_turns_the_cache_off_with_one_warning(
    written_cache, without_cache, way
):
    cache = written_cache
    before = sorted((p.relative_to(cache), p.stat().st_mtime_ns) for p in cache.rglob("*"))
    assert before
    with contextlib.ExitStack() as stack:
        wrap = _read_only_mount(cache) if way == "read-only mount" else stack.enter_context(_immutable(cache))
        if wrap is None:
            pytest.skip(f"cannot make a {way} here")
        result = run(cache, wrap)
    assert result["computed"] == without_cache
    assert set(result["xla"].values()) == {"off"} and set(result["graph"].values()) == {"off"}
    (warning,) = result["warnings"]
    assert str(cache) in warning and "cannot create or write to" in warning
    assert ("Read-only file system" if way == "read-only mount" else "Operation not permitted") in warning
    assert sorted((p.relative_to(cache), p.stat().st_mtime_ns) for p in cache.rglob("*")) == before


def test_an_unwritable_graph_cache_directory_turns_that_cache_off_once(tmp_path, caplog):
    """In one process: the first function warns, the later ones compile without the cache and say nothing."""
    from pipeline.compile.graph_cache import cached_function
    from tests.pipeline.models.test_graph_cache import sgd_graph

    graphs = tmp_path / GRAPH_CACHE_SUBDIR
    graphs.mkdir()
    with _immutable(graphs) as made:
        if made is None:
            pytest.skip("cannot make an immutable directory here")
        statuses = []
        with caplog.at_level(logging.WARNING, logger="pipeline.compile.graph_cache"):
            for scale in (2.0, 3.0):
                _, inputs, out, updates = sgd_graph(scale)
                f, status = cached_function(inputs, out, updates=updates, mode="JAX", name="sgd", directory=graphs)
                statuses.append(status)
                assert float(f(np.ones(3, dtype=np.float32))) == pytest.approx(scale * 3)
    assert statuses == ["off", "off"]
    (warning,) = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "pipeline.compile.graph_cache"
    ]
    assert str(graphs) in warning and "cannot create or write to" in warning
    assert list(graphs.iterdir()) == []
