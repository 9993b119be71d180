"""What the pipeline publishes beside its artifacts, on a directory or an object-store root alike:
the report directory, the champions and the retrain history.

A directory root keeps today's files (``<root>/report/``, ``<root>/champions/<Family>.json``,
``<root>/history.jsonl``) under ``flock``; an ``s3://`` root keeps the same names as keys under
its prefix, and updates champions and history by compare-and-swap on their ETag, so two
retrains on two hosts cannot both promote and concurrent appends lose nothing.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

from tasks import storage
from tasks.config import artifacts
from tasks.store_target import configured_store, is_store_root

log = logging.getLogger(__name__)
HISTORY = "history.jsonl"
REPORT = "report"


def _store():
    root = artifacts().root
    return configured_store() if is_store_root(root) else None


def _root() -> Path:
    return Path(artifacts().root)


def report_location(directory: str = REPORT) -> str:
    """Where the report is published: a local directory, or ``s3://bucket/prefix/report/``."""
    root = artifacts().root
    return f"{root.rstrip('/')}/{directory}/" if is_store_root(root) else str((_root() / directory).resolve())


def report_link(name: str = "index.html", directory: str = REPORT) -> str:
    """A link to a published file: ``file:///.../report/index.html`` or ``s3://bucket/prefix/report/index.html``."""
    location = report_location(directory)
    return location + name if is_store_root(artifacts().root) else Path(location, name).as_uri()


def publish_directory(files: dict[str, bytes], directory: str = REPORT, last: str = "provenance.json",
                      lease=None) -> None:
    """Publish ``files`` as ``<root>/<directory>/``, replacing what was there.

    A directory root swaps in a fully written copy (:func:`tasks.storage.publish_directory`). An
    object store has no rename: each file is written, ``last`` (the file readers check, e.g. the
    provenance with the report's fingerprint) after all others, then files no longer published
    are deleted. With the writer's ``lease`` (:mod:`tasks.stores.leases`), it is renewed before
    the first file and before ``last``: a writer that lost it stops with ``LeaseLost``.
    """
    store = _store()
    if store is None:
        storage.publish_directory(_root() / directory, files)
        return
    prefix = f"{directory}/"
    order = sorted(files, key=lambda name: (name == last, name))
    for name in order:
        if lease is not None and name in (order[0], last):
            lease.renew()
        _put(store, prefix + name, files[name])
    for key in list(store.list(prefix)):
        if key[len(prefix):] not in files:
            store.delete(key)
    log.info("published %d files under %s", len(files), report_location(directory))


def _put(store, key: str, data: bytes) -> None:
    """Write ``key`` whatever it holds now (a concurrent writer of the same key: the last one wins)."""
    from tasks.stores.base import PreconditionFailed

    for _ in range(10):
        info = store.head(key)
        try:
            if info is None:
                store.put_if_absent(key, data)
            else:
                store.put_if_match(key, data, info.etag)
            return
        except PreconditionFailed:
            continue
    raise RuntimeError(f"{store.location}: {key} kept changing while it was published")


def read_published(name: str, directory: str = REPORT) -> bytes | None:
    """The bytes of a published file (``report/provenance.json``), or None when it is not there."""
    store = _store()
    if store is None:
        path = _root() / directory / name
        return path.read_bytes() if path.is_file() else None
    from tasks.stores.base import ObjectNotFound

    try:
        return store.get(f"{directory}/{name}")[0]
    except ObjectNotFound:
        return None


# History ------------------------------------------------------------------------------------------

def parse_history(text: str, where: str = HISTORY) -> list[dict]:
    """The records of a history.jsonl text, oldest first (a line cut short by a crash is skipped, with a warning)."""
    from pipeline.report.records import parse_history as parse

    records, bad = parse(text)
    for number in bad:
        log.warning("%s line %d is not a JSON record (cut short by a crash?); skipped", where, number)
    return records


def history_bytes(locked: bool = True) -> bytes:
    """The bytes of ``history.jsonl`` (none when there is none yet).

    On a directory root they are read under the history's lock, so never while a retrain
    appends (``locked=False`` reads without it: taking it creates its file, which ``status``
    must not); an object in a store is always read whole.
    """
    store = _store()
    if store is None:
        if locked:
            with storage.exclusive_lock(_root() / "history.lock"):
                return history_bytes(locked=False)
        try:
            return (_root() / HISTORY).read_bytes()
        except FileNotFoundError:
            return b""
    from tasks.stores.base import ObjectNotFound

    try:
        return store.get(HISTORY)[0]
    except ObjectNotFound:
        return b""


def history_location() -> str:
    """Where ``history.jsonl`` is, for messages."""
    store = _store()
    return str(_root() / HISTORY) if store is None else f"{store.location}/{HISTORY}"


def read_history() -> list[dict]:
    """Every retrain record, oldest first (a line that is not a JSON record is skipped with a warning)."""
    return parse_history(history_bytes(locked=False).decode(errors="replace"), history_location())


def append_history(records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """Append the records whose ``key`` is not in the history yet; return, for each record, the one stored.

    A directory root appends under an exclusive lock; an object store rewrites ``history.jsonl``
    by compare-and-swap on its ETag, retrying against the new content when another host won.
    """
    store = _store()
    if store is None:
        return _append_local(records, key)
    from tasks.stores.cas import update_object

    stored: dict[tuple, dict] = {}

    def appended(data: bytes | None) -> bytes | None:
        text = (data or b"").decode(errors="replace")
        existing = {key(r): r for r in parse_history(text)}
        stored.clear()
        stored.update(existing)
        new = [r for r in records if key(r) not in existing]
        if not new:
            return None
        if text and not text.endswith("\n"):
            text += "\n"
        return (text + "".join(json.dumps(r, sort_keys=True) + "\n" for r in new)).encode()

    update_object(store, HISTORY, appended)
    return [stored.get(key(r), r) for r in records]


def _append_local(records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    path = _root() / HISTORY
    with storage.exclusive_lock(_root() / "history.lock"):
        existing = {key(r): r for r in read_history()}
        new = [r for r in records if key(r) not in existing]
        if new:
            with open(path, "a+b") as fh:  # writes append, whatever was read
                if fh.tell():
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")  # a line cut short by a crash stays alone on its line
                for record in new:
                    fh.write((json.dumps(record, sort_keys=True) + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())
    return [existing.get(key(r), r) for r in records]


# Champions ----------------------------------------------------------------------------------------

def champion_key(family: str) -> str:
    return f"champions/{family}.json"


def read_champion(family: str) -> dict | None:
    """The champion of ``family``, or None."""
    store = _store()
    if store is None:
        path = _root() / champion_key(family)
        return json.loads(path.read_text()) if path.exists() else None
    from tasks.stores.cas import read_json

    return read_json(store, champion_key(family))[0]


def update_champion(family: str, decide: Callable[[dict | None], dict | None]) -> dict | None:
    """Set the champion to ``decide(current)`` (None = keep it) atomically; return the champion now stored.

    ``decide`` must be a pure function of the champion it gets: on an object store it is
    called again with the newer champion when another host promoted in between, so two
    retrains that both read champion A cannot both promote.
    """
    store = _store()
    if store is None:
        path = _root() / champion_key(family)
        with storage.exclusive_lock(_root() / "champions.lock"):
            current = json.loads(path.read_text()) if path.exists() else None
            new = decide(current)
            if new is None:
                return current
            storage.atomic_write_bytes(path, json.dumps(new, indent=2).encode())
            return new
    from tasks.stores.cas import update_json

    def update(current):
        new = decide(current)
        return current if new is None else new

    return update_json(store, champion_key(family), update)
