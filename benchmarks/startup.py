"""Cold compile and warm start of each training task, as luigi runs them (one process per run).

    python benchmarks/startup.py --data DIR [--output benchmarks/results/startup-DATE.jsonl]

For each training stage, runs ``luigi --module tasks <Task>`` twice in fresh processes
on the real data (one epoch; the char-RNN a few steps), with the project's luigi.cfg
plus an override file that puts artifacts and the compile cache in a temporary directory:

- cold: the compile cache is empty, so PyTensor rewrites and XLA compiles every function;
- warm: the same graphs with another seed, so the rewritten graphs and the executables
  come from the cache.

Reads from each training artifact what the task recorded: seconds from the task's start
to its first finished batch, and what compiling the training step cost (cache hit or miss).
Also reports the seconds from launching the process to its first batch (Python, luigi,
PyTensor and JAX imports included). Prints a table and one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from results_file import append_results  # benchmarks/, beside this script

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN")


def write_config(path: Path, artifacts: Path, data: Path) -> None:
    """Overrides layered on the project's luigi.cfg: local data, temporary artifacts, short runs."""
    path.write_text(
        "\n".join(
            [
                "[artifacts]",
                f"root = {artifacts}",
                "[DownloadMNIST]",
                f"mirrors = [{json.dumps(str(data / 'mnist'))}]",
                "[DownloadShakespeare]",
                'mirrors = ["package:tinyshakespeare"]',
                *[line for model in MODELS for line in (f"[{model}]", "epochs = 1")],
                "steps_per_epoch = 20",  # continues [TrainCharRNN], the last section above
                "",
            ]
        )
    )


def luigi(task: str, env: dict, *args: str) -> float:
    """Run one luigi task in a fresh process; return the unix time it was launched."""
    launched = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "tasks", task, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0 or "This progress looks :)" not in out.stdout + out.stderr:
        raise SystemExit(
            f"luigi {task} {' '.join(args)} failed ({out.returncode}):\n{(out.stdout + out.stderr)[-3000:]}"
        )
    return launched


def load_artifact(config: Path, task: str, seed: int) -> dict:
    """The training artifact of ``task`` with ``seed`` (read in a subprocess that sees ``config``)."""
    code = (
        "import json, sys, tasks; t = getattr(tasks, sys.argv[1])(seed=int(sys.argv[2])); a = t.output().load(); "
        "print(json.dumps(a['compile']))"
    )
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(config)}
    out = subprocess.run(
        [sys.executable, "-c", code, task, str(seed)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="a directory holding mnist/ (the four IDX files, gzipped) and tinyshakespeare.txt",
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--output", type=Path, help="append the JSON lines to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        tmp = Path(tmp)
        config = tmp / "override.cfg"
        write_config(config, tmp / "artifacts", args.data.resolve())
        env = {**os.environ, "LUIGI_CONFIG_PATH": str(config)}
        for upstream in ("OneHotMNIST", "BuildCharVocab"):  # inputs first, untimed
            luigi(upstream, env)
        cache = tmp / "artifacts" / "compile_cache"
        rows = []
        for model in args.models.split(","):
            for seed, state in ((101, "cold"), (102, "warm")):
                if state == "cold" and cache.exists():
                    shutil.rmtree(cache)  # XLA's executables and PyTensor's rewritten graphs
                launched = luigi(model, env, f"--{model}-seed", str(seed))
                summary = load_artifact(config, model, seed)
                train = next(f for f in summary["functions"] if f["name"].endswith("_train"))
                row = {
                    "benchmark": "startup",
                    "model": model,
                    "state": state,
                    "cache": train["cache"],
                    "graph_cache": train.get("graph_cache"),
                    "compile_train_step_s": train["seconds"],
                    "compile_all_s": round(sum(f["seconds"] for f in summary["functions"]), 3),
                    "task_start_to_first_batch_s": summary["seconds_to_first_batch"],
                    "process_launch_to_first_batch_s": round(summary["first_batch_unix"] - launched, 3),
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)

    print(
        f"\n{'model':<14} {'state':<5} {'XLA':<5} {'graph':<5} {'compile step s':>14} {'task→batch s':>12} "
        f"{'launch→batch s':>14}"
    )
    for r in rows:
        print(
            f"{r['model']:<14} {r['state']:<5} {r['cache']:<5} {r['graph_cache']:<5} {r['compile_train_step_s']:>14.2f} "
            f"{r['task_start_to_first_batch_s']:>12.2f} {r['process_launch_to_first_batch_s']:>14.2f}"
        )
    append_results(args.output, rows)


if __name__ == "__main__":
    main()
