"""What this pipeline publishes beside its artifacts: ``report/``, ``champions/<Family>.json`` and
``history.jsonl``, on whatever root is configured (the root decides how: a lock on a directory,
compare-and-swap on an object store; see :mod:`stagecache.storage.roots`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from stagecache.storage.roots import configured_root
from stagecache.storage.roots.base import jsonl_lines

log = logging.getLogger(__name__)
HISTORY = "history.jsonl"
REPORT = "report"
REPORTS = "reports"
CHAMPIONS = "champions"
PROVENANCE = "provenance.json"


def report_link(name: str = "index.html", directory: str = REPORT) -> str:
    """A link to a published file: ``file:///.../report/index.html`` or ``s3://bucket/prefix/report/index.html``."""
    return configured_root().link(f"{directory}/{name}")


def report_location(directory: str = REPORT) -> str:
    """Where the report is published (a local directory or ``s3://bucket/prefix/report/``), for messages."""
    return configured_root().link(directory) + "/"


def own_report_directory(fingerprint: str) -> str:
    """``reports/<fingerprint16>``: where one configuration's report is published, whatever runs after it."""
    return f"{REPORTS}/{fingerprint[:16]}"


def publish_directory(files: dict[str, bytes], directory: str = REPORT, last: str = PROVENANCE, lease=None) -> None:
    """Publish ``files`` as ``<root>/<directory>/``, replacing what was there (``last`` written last)."""
    configured_root().publish_directory(directory, files, last=last, lease=lease)


def read_published(name: str, directory: str = REPORT) -> bytes | None:
    """The bytes of a published file (``report/provenance.json``), or None when it is not there."""
    return configured_root().read_file(f"{directory}/{name}")


# History ------------------------------------------------------------------------------------------


def parse_history(text: str, where: str = HISTORY) -> list[dict]:
    """The records of a history.jsonl text, oldest first (a line cut short by a crash is skipped, with a warning)."""
    from pipeline.report.records import parse_history as parse

    records, bad = parse(text)
    for number in bad:
        log.warning("%s line %d is not a JSON record (cut short by a crash?); skipped", where, number)
    return records


def history_bytes() -> bytes:
    """The bytes of ``history.jsonl`` (none when there is none yet), never read half-appended."""
    return configured_root().read_log(HISTORY)


def history_location() -> str:
    """Where ``history.jsonl`` is, for messages."""
    return configured_root().link(HISTORY)


def read_history() -> list[dict]:
    """Every retrain record, oldest first (a line that is not a JSON record is skipped with a warning)."""
    return parse_history(history_bytes().decode(errors="replace"), history_location())


def append_history(records: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """Append the records whose ``key`` is not in the history yet; return, for each record, the one stored."""
    existing: dict[tuple, dict] = {}

    def lines(current: bytes) -> bytes:
        existing.clear()
        existing.update({key(r): r for r in parse_history(current.decode(errors="replace"), history_location())})
        return jsonl_lines([r for r in records if key(r) not in existing])

    configured_root().append_file(HISTORY, lines)
    return [existing.get(key(r), r) for r in records]


def update_document(name: str, decide: Callable[[dict | None], dict | None]) -> dict | None:
    """Set the published JSON document ``name`` to ``decide(current)`` atomically (None = keep it)."""
    return configured_root().update_json(name, decide)


def append_decided(decide: Callable[[list[dict]], list[dict]]) -> None:
    """Append ``decide(records in the history now)`` to the history atomically: under a lock on a directory
    root, by compare-and-swap on an object store, where ``decide`` is called again with the newer history
    when another host appended first (so it must be a pure function of the records it gets)."""

    def lines(current: bytes) -> bytes:
        return jsonl_lines(decide(parse_history(current.decode(errors="replace"), history_location())))

    configured_root().append_file(HISTORY, lines)


# Champions ----------------------------------------------------------------------------------------


def champion_key(family: str) -> str:
    return f"{CHAMPIONS}/{family}.json"


def read_champion(family: str) -> dict | None:
    """The champion of ``family``, or None."""
    return configured_root().read_json(champion_key(family))


def update_champion(family: str, decide: Callable[[dict | None], dict | None]) -> dict | None:
    """Set the champion to ``decide(current)`` (None = keep it) atomically; return the champion now stored.

    ``decide`` must be a pure function of the champion it gets: on an object store it is
    called again with the newer champion when another host promoted in between, so two
    retrains that both read champion A cannot both promote.
    """
    return configured_root().update_json(champion_key(family), decide)


def sync_champions(documents: dict[str, dict], position: int) -> None:
    """Set ``champions/<Family>.json`` to ``documents[family]``, the champions after the first ``position``
    records of the history; a document already written from a longer history (another host, later) stays."""
    for family, document in documents.items():
        new = {**document, "history_records": position}

        def decide(current, new=new):
            if current is not None and current.get("history_records", 0) > position:
                return None
            same = current is not None and {k: v for k, v in current.items() if k != "history_records"} == {
                k: v for k, v in new.items() if k != "history_records"
            }
            return None if same else new

        update_champion(family, decide)


def champions() -> dict[str, dict]:
    """Every champion, by family (an unreadable one raises ValueError naming it)."""
    root = configured_root()
    found = {}
    for name in root.list_files(CHAMPIONS, ".json"):
        try:
            found[name.rsplit("/", 1)[1][:-5]] = json.loads(root.read_file(name) or b"null")
        except ValueError as exc:
            raise ValueError(f"{root.link(name)} cannot be read ({exc})") from None
    return found
