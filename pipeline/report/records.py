"""The retrain history file's records (``history.jsonl``): parsed without plotting or deciding anything."""

from __future__ import annotations

import json


def parse_history(text: str) -> tuple[list[dict], list[int]]:
    """The JSON records of ``history.jsonl``'s text in file order, and the numbers of lines that are not one
    (a line cut short by a crash)."""
    records, bad = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(number)
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad.append(number)
    return records, bad
