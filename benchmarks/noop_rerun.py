"""How long a rerun takes when every artifact is present (run from the project root after a full run).

Times, as separate processes and interleaved: ``python -c "import luigi"`` (the floor),
``python -m tasks status`` and ``luigi --module tasks FullReport``. Prints a table and
one JSON line. Refuses to measure when something would actually run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from datetime import datetime, timezone

from results_file import timed_run  # benchmarks/, beside this script

COMMANDS = {
    "import luigi": [sys.executable, "-c", "import luigi"],
    "python -m tasks status": [sys.executable, "-m", "tasks", "status"],
    "luigi --module tasks FullReport": [sys.executable, "-m", "luigi", "--module", "tasks", "FullReport"],
}


def _run(cmd: list[str]) -> tuple[float, str]:
    return timed_run(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    _, status = _run(COMMANDS["python -m tasks status"])
    if "will run" in status:
        raise SystemExit("some stages are not cached; run `luigi --module tasks FullReport` first:\n" + status)

    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            elapsed, output = _run(cmd)
            if name.startswith("luigi") and "Did not run any tasks" not in output:
                raise SystemExit("the no-op run ran a task:\n" + output[-2000:])
            times[name].append(elapsed)

    print(f"{'command':<34} {'median s':>9} {'min s':>7}   ({args.repeats} runs each, interleaved)")
    for name, values in times.items():
        print(f"{name:<34} {statistics.median(values):>9.3f} {min(values):>7.3f}")
    print(
        json.dumps(
            {
                "benchmark": "noop_rerun",
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "repeats": args.repeats,
                **{name: round(statistics.median(values), 4) for name, values in times.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
