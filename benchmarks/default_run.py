"""The default run from an empty artifacts root: each stage's seconds beside its GEMM bound.

    python benchmarks/default_run.py --data DIR [--workers N] [--threads N] [--output FILE]

Runs README's first command (``luigi --module tasks FullReport --workers 2``; ``--workers``
sets N) with the repository's ``luigi.cfg`` in a fresh process, into a new, empty artifacts root (so the compile cache is
empty too: every graph is compiled), reading MNIST from ``DIR/mnist`` and Tiny Shakespeare
from the copy in the package, so that nothing is downloaded. Then prints, for every stage
that ran, the seconds its manifest records beside the sum of the GEMM bounds of its
training and evaluation (the float32 matrix products it must compute, each timed at its
shapes with the fastest of numpy and PyTorch, fastest of many passes), the wall-clock time
of the whole command, and one JSON line; ``--output`` appends that line to a file.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import joblib
from results_file import append_results, timed_run  # benchmarks/, beside this script
from train_speed import fastest_products

REPO = Path(__file__).resolve().parent.parent
MNIST_TRAIN, MNIST_TEST, PIXELS, CLASSES = 60000, 10000, 784, 10


def products_bound(products: list[tuple[int, int, int, int]]) -> float:
    """Seconds for ``count`` products of each ``(count, m, k, n)``, at the fastest measured rate per shape."""
    seconds: dict[tuple[int, int, int], float] = {}
    total = 0.0
    for count, m, k, n in products:
        if count == 0:
            continue
        if (m, k, n) not in seconds:
            seconds[(m, k, n)] = min(fastest_products([(m, k, n)], 30, libraries=("numpy", "torch")).values())
        total += count * seconds[(m, k, n)]
    return total


def dense_products(sizes: list[int], batch: int, steps: int, eval_rows: int, epochs: int) -> list[tuple]:
    """A stack of dense layers (``sizes`` from input to output): forward and backward per step, forward per evaluation."""
    out = []
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        out.append((steps * epochs, batch, k, n))  # forward
        out.append((steps * epochs, k, batch, n))  # the weights' gradient
        if i > 0:
            out.append((steps * epochs, batch, n, k))  # the gradient for the layer's input
        out.append((epochs, eval_rows, k, n))  # evaluation after each epoch
    return out


def stage_bounds(cfg: configparser.ConfigParser, val_chars: int) -> dict[str, float]:
    """GEMM bound in seconds per training stage, from the configuration's epochs and sizes."""
    get = cfg.getint
    bounds = {}
    for stage, sizes in (
        ("TrainLogReg", [PIXELS, CLASSES]),
        ("TrainMLP", [PIXELS, get("TrainMLP", "hidden"), CLASSES]),
        ("TrainDeepMLP", [PIXELS, *json.loads(cfg.get("TrainDeepMLP", "hidden")), CLASSES]),
    ):
        batch = get(stage, "batch_size")
        train = MNIST_TRAIN if get("OneHotMNIST", "train_limit") == 0 else get("OneHotMNIST", "train_limit")
        bounds[stage] = products_bound(dense_products(sizes, batch, train // batch, MNIST_TEST, get(stage, "epochs")))
    hidden, seq, batch = (
        get("TrainCharRNN", "hidden"),
        get("TrainCharRNN", "seq_len"),
        get("TrainCharRNN", "batch_size"),
    )
    vocab = 65
    train_chars = val_chars * 18  # the 90/5/5 split of [BuildCharVocab] val_fraction = test_fraction = 0.05
    steps = get("TrainCharRNN", "steps_per_epoch") or train_chars // batch // seq
    val_steps = val_chars // batch // seq
    epochs = get("TrainCharRNN", "epochs")
    per_time_step = seq * epochs
    bounds["TrainCharRNN"] = products_bound(
        [
            (steps * per_time_step, batch, hidden, hidden),  # recurrence, forward
            (steps * per_time_step, batch, hidden, hidden),  # recurrence, backward (dh W_hhᵀ)
            (steps * per_time_step, hidden, batch, hidden),  # dW_hh
            (steps * per_time_step, batch, hidden, vocab),  # output layer, forward
            (steps * per_time_step, batch, vocab, hidden),  # output layer, backward
            (steps * per_time_step, hidden, batch, vocab),  # dW_hy
            (val_steps * per_time_step, batch, hidden, hidden),  # validation after each epoch
            (val_steps * per_time_step, batch, hidden, vocab),
        ]
    )
    return bounds


def stage_records(root: Path) -> dict[str, dict]:
    """Per stage family that built one artifact: its seconds, end time and final metrics, from the root."""
    records: dict[str, dict] = {}
    manifests = sorted(root.glob("*/*.json"))
    if not manifests:
        raise SystemExit(f"no manifests under {root}: did the run write anywhere else?")
    for path in manifests:
        manifest = json.loads(path.read_text())
        if "duration_s" not in manifest:
            continue
        end = datetime.fromisoformat(manifest["created"]).timestamp()
        record = {"seconds": manifest["duration_s"], "start": end - manifest["duration_s"], "end": end}
        artifact = joblib.load(path.with_suffix(".joblib"), mmap_mode="r")  # arrays mapped, not read
        history = artifact.get("history") if isinstance(artifact, dict) else None
        if isinstance(history, dict):
            for key, values in history.items():
                if key not in ("epoch", "train_loss", "epoch_seconds", "eval_seconds") and values:
                    record["result"] = f"{key} {values[-1]:.4f} after epoch {history['epoch'][-1]}"
        records[path.parent.name] = record
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a directory holding mnist/ (the four IDX files)")
    parser.add_argument("--workers", type=int, default=2, help="luigi's --workers (README's command: 2)")
    parser.add_argument("--threads", type=int, default=0, help="[threads] per_process (luigi.cfg: 0, all cores)")
    parser.add_argument("--output", type=Path, help="append the JSON line to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="default-run-") as tmp:
        root = Path(tmp) / "artifacts"
        override = Path(tmp) / "override.cfg"
        override.write_text(
            f"[artifacts]\nroot = {root}\n\n"
            f'[DownloadMNIST]\nmirrors = ["{(args.data / "mnist").resolve()}"]\n\n'
            '[DownloadShakespeare]\nmirrors = ["package:tinyshakespeare"]\n\n'
            f"[threads]\nper_process = {args.threads}\n"
        )
        # luigi reads the repository's luigi.cfg (the working directory), then this file over it
        env = {**os.environ, "LUIGI_CONFIG_PATH": str(override)}
        env.pop("XLA_FLAGS", None)
        load_before = os.getloadavg()[0]
        wall, _ = timed_run(
            [sys.executable, "-m", "luigi", "--module", "tasks", "FullReport", "--workers", str(args.workers)],
            cwd=REPO,
            env=env,
        )
        records = stage_records(root)
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "luigi.cfg")
    val_chars = (
        len((args.data / "tinyshakespeare.txt").read_text()) // 20
        if (args.data / "tinyshakespeare.txt").exists()
        else 55770
    )
    bounds = stage_bounds(cfg, val_chars)

    seconds = {family: r["seconds"] for family, r in records.items()}
    t0 = min(r["start"] for r in records.values())
    print(f"\n{'stage':<22} {'seconds':>8} {'GEMM bound':>11} {'÷ bound':>8} {'from':>6} {'to':>6}  result")
    for family, r in sorted(records.items(), key=lambda kv: kv[1]["start"]):
        bound = bounds.get(family)
        ratio = f"{bound:>11.1f} {r['seconds'] / bound:>8.2f}" if bound else f"{'—':>11} {'—':>8}"
        span = f"{r['start'] - t0:>6.0f} {r['end'] - t0:>6.0f}"
        print(f"{family:<22} {r['seconds']:>8.1f} {ratio} {span}  {r.get('result', '')}")
    stages, bound_sum = sum(seconds.values()), sum(bounds.values())
    print(f"{'all stages':<22} {stages:>8.1f} {bound_sum:>11.1f} {stages / bound_sum:>8.2f}")
    print(f"{'the whole command':<22} {wall:>8.1f}")
    row = {
        "benchmark": "default_run",
        "wall_s": round(wall, 1),
        "stage_s": {k: round(v, 2) for k, v in seconds.items()},
        "results": {k: r["result"] for k, r in records.items() if "result" in r},
        "gemm_bound_s": {k: round(v, 2) for k, v in bounds.items()},
        "workers": args.workers,
        "threads_per_process": args.threads,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(row))
    append_results(args.output, [row])


if __name__ == "__main__":
    main()
