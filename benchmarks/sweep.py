"""A six-point sweep's wall time against the sum of its points run one by one, each from an empty root.

At the smoke run's scale (configs/smoke.cfg: 20000 training digits, 3 epochs): the simple net's ``lr``
(3 values) by ``hidden`` (2 values), each point evaluated. The points alone: six ``luigi --module tasks
EvaluateMLP --TrainMLP-lr ... --TrainMLP-hidden ...`` processes, each on an empty artifacts root (so each
downloads, prepares and compiles again, as a separate experiment would). The sweep: one ``luigi --module
tasks Sweep --file ...`` process on an empty root, with ``--workers 1`` and ``--workers 2``. Every run
gets its own empty compile cache. Prints seconds and ratios and appends one JSON line to ``--results``.

    python benchmarks/sweep.py --data /path/with/mnist --results benchmarks/results/sweep-DATE.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from results_file import append_results, timed_run  # benchmarks/, beside this script

REPO = Path(__file__).resolve().parents[1]
LRS, HIDDEN = ("0.05", "0.1", "0.2"), ("100", "625")
SWEEP = f"""[sweep]
name = bench-mlp
stage = EvaluateMLP

[TrainMLP]
lr = [{", ".join(LRS)}]
hidden = [{", ".join(HIDDEN)}]
"""


def run(work: Path, name: str, data: Path, *args: str) -> float:
    """One luigi process in its own empty root (``work/name``); its wall-clock seconds."""
    root = work / name
    root.mkdir()
    cfg = root / "bench.cfg"  # luigi.cfg, then smoke.cfg's scale with this run's own root
    cfg.write_text(
        (REPO / "configs" / "smoke.cfg").read_text().replace("root = artifacts-smoke", f"root = {root / 'artifacts'}")
    )
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg)}
    seconds, _ = timed_run(
        [
            sys.executable,
            "-m",
            "luigi",
            "--module",
            "tasks",
            *args,
            "--local-scheduler",
            "--DownloadMNIST-mirrors",
            json.dumps([str(data / "mnist")]),
        ],
        cwd=REPO,
        env=env,
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a directory holding mnist/ (the four IDX files)")
    parser.add_argument("--results", type=Path, help="append the JSON line to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweep_file = work / "bench-mlp.cfg"
        sweep_file.write_text(SWEEP)
        alone = [
            run(
                work, f"point-{lr}-{hidden}", args.data, "EvaluateMLP", "--TrainMLP-lr", lr, "--TrainMLP-hidden", hidden
            )
            for lr, hidden in itertools.product(LRS, HIDDEN)
        ]
        sweep1 = run(work, "sweep-1", args.data, "Sweep", "--file", str(sweep_file), "--workers", "1")
        sweep2 = run(work, "sweep-2", args.data, "Sweep", "--file", str(sweep_file), "--workers", "2")
    row = {
        "benchmark": "sweep",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "points": len(alone),
        "points_alone_s": [round(s, 2) for s in alone],
        "sum_alone_s": round(sum(alone), 2),
        "sweep_workers1_s": round(sweep1, 2),
        "sweep_workers2_s": round(sweep2, 2),
    }
    print(
        f"six points one by one, each from an empty root: {sum(alone):7.1f} s  ({', '.join(f'{s:.1f}' for s in alone)})"
    )
    print(f"the sweep, --workers 1:                         {sweep1:7.1f} s  ({sweep1 / sum(alone):.2f} of the sum)")
    print(f"the sweep, --workers 2:                         {sweep2:7.1f} s  ({sweep2 / sum(alone):.2f} of the sum)")
    print(json.dumps(row))
    append_results(args.results, [row])


if __name__ == "__main__":
    main()
