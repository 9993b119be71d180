"""What the benchmark scripts share: appending their JSON lines to a results file."""
from __future__ import annotations

import json
from pathlib import Path


def append_results(path: Path | None, rows: list[dict]) -> None:
    """Append one JSON line per row to ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    with open(path, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
