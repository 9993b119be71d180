"""The deep net's search against a grid of as many configurations trained to full length, side by side in one run.

Three runs, each a ``luigi --module tasks`` process on its own empty artifacts root and compile cache, on the real
MNIST (validation split: the last 10000 training digits):

- **grid**: a sweep of 3 learning rates × 2 hidden widths × 2 hidden dropout rates (12 configurations), every one
  trained to ``--max-epochs`` and evaluated;
- **search**: ``Search`` over the same three parameters (lr log-uniform, width a choice, dropout uniform), TPE,
  ``--trials`` trials (default 12, as many as the grid has points), rungs from ``--min-epochs`` by η = 3 up to
  ``--max-epochs``, promotions continuing the cached trainings;
- **search, restarting**: the same search with ``promotion = restart`` (each promotion trains from scratch): the
  same trials and weights, at the price continuation saves.

Prints each run's best validation accuracy (what every run chooses on), the training seconds and epochs it cost
(from the training manifests), the ratios, and appends one JSON line to ``--results``.

    python benchmarks/search_vs_grid.py --data ../shared/data --results benchmarks/results/search_vs_grid-DATE.jsonl
    python benchmarks/search_vs_grid.py --data ../shared/data --train-limit 10000 --max-epochs 9   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from results_file import append_results, timed_run  # benchmarks/, beside this script

REPO = Path(__file__).resolve().parents[1]
GRID = """[sweep]
name = bench-grid
stage = EvaluateDeepMLP
mode = grid

[TrainDeepMLP]
epochs = {max_epochs}
lr = [0.0005, 0.001, 0.002]
hidden = [[256, 256], [625, 625]]
p_drop_hidden = [0.3, 0.5]
"""
SEARCH = """[search]
name = bench-search
stage = EvaluateDeepMLP
objective = val_accuracy
seed = {seed}
trials = {trials}
batch = {batch}
promotion = {promotion}

[fidelity]
parameter = TrainDeepMLP.epochs
min = {min_epochs}
max = {max_epochs}
reduction = 3

[space]
TrainDeepMLP.lr = loguniform(0.0003, 0.003)
TrainDeepMLP.hidden = choice([256, 256], [625, 625])
TrainDeepMLP.p_drop_hidden = uniform(0.2, 0.6)
"""


def costs(root: Path) -> dict:
    """Training seconds and epochs trained, over every TrainDeepMLP manifest under ``root``."""
    seconds = epochs = builds = 0
    for path in (root / "TrainDeepMLP").glob("*.json"):
        manifest = json.loads(path.read_text())
        seconds += manifest["duration_s"]
        epochs += int(manifest["significant_params"]["epochs"]) - int(
            (manifest.get("continued_from") or {}).get("epochs", 0)
        )
        builds += 1
    return {"train_seconds": round(seconds, 1), "epochs_trained": epochs, "trainings": builds}


def run(work: Path, name: str, args: argparse.Namespace, definition: str, task: str) -> dict:
    root = work / name
    root.mkdir()
    (root / "def.cfg").write_text(definition)
    cfg = root / "bench.cfg"
    cfg.write_text(
        f"[artifacts]\nroot = {root / 'artifacts'}\n[OneHotMNIST]\ntrain_limit = {args.train_limit}\n"
        f"[DownloadMNIST]\nmirrors = {json.dumps([str(Path(args.data).resolve() / 'mnist')])}\n"
    )
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg)}
    wall, _ = timed_run(
        [sys.executable, "-m", "luigi", "--module", "tasks", task, "--file", str(root / "def.cfg"), "--local-scheduler"]
        + ["--workers", str(args.workers)],
        cwd=REPO,
        env=env,
    )
    result = {"wall_s": round(wall, 1), **costs(root / "artifacts")}
    artifacts = sorted((root / "artifacts" / task).glob("*.joblib"))
    import joblib

    built = joblib.load(artifacts[-1])
    if task == "Sweep":
        values = [p["metrics"]["TrainDeepMLP val_accuracy"] for p in built["points"]]
        result["best_val_accuracy"] = max(values)
        best = built["points"][values.index(max(values))]
        result["best"] = best["label"]
        result["best_test_accuracy_reported"] = best["metrics"]["TrainDeepMLP test_accuracy"]
    else:
        result["best_val_accuracy"] = built["best"]["value"]
        result["best"] = built["best"]["values"]
        result["best_test_accuracy_reported"] = built["best"]["reported"]["TrainDeepMLP test_accuracy"]
        result["trials"] = len(built["trials"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a directory holding mnist/ (the four IDX files)")
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--min-epochs", type=int, default=6)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int, default=0, help="training digits kept (0: all 50000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    fill = {**vars(args), "max_epochs": args.max_epochs, "min_epochs": args.min_epochs}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows["grid"] = run(work, "grid", args, GRID.format(**fill), "Sweep")
        rows["search"] = run(work, "search", args, SEARCH.format(**fill, promotion="continue"), "Search")
        rows["search_restart"] = run(work, "restart", args, SEARCH.format(**fill, promotion="restart"), "Search")
    for name, row in rows.items():
        print(
            f"{name:15s} best val_accuracy {row['best_val_accuracy']:.4f}  training {row['train_seconds']:8.1f} s  "
            f"{row['epochs_trained']:4d} epochs  wall {row['wall_s']:7.1f} s  best {row['best']}"
        )
    grid, search, restart = rows["grid"], rows["search"], rows["search_restart"]
    print(
        f"search/grid training seconds {search['train_seconds'] / grid['train_seconds']:.3f}; "
        f"val_accuracy difference {100 * (search['best_val_accuracy'] - grid['best_val_accuracy']):+.2f} points; "
        f"restarting/continuing training seconds {restart['train_seconds'] / search['train_seconds']:.2f}"
    )
    append_results(
        args.results,
        [
            {
                "benchmark": "search_vs_grid",
                **{k: v for k, v in vars(args).items() if k not in ("data", "results")},
                **rows,
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_average_after": os.getloadavg()[0],
            }
        ],
    )


if __name__ == "__main__":
    main()
