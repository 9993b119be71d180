"""What the benchmark scripts share: timing a command, and appending their JSON lines to a results file."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path


def append_results(path: Path | None, rows: list[dict]) -> None:
    """Append one JSON line per row to ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    with open(path, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def timed_run(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None) -> tuple[float, str]:
    """Run ``cmd`` to its end; return its wall-clock seconds and its output (exit with its error if it fails)."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        where = f"{Path(cwd).name}: " if cwd is not None else ""
        raise SystemExit(f"{where}{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return elapsed, out.stdout + out.stderr
