"""Train one MNIST model with the default configuration's recipe on the real data; print each epoch's accuracy.

    python benchmarks/train_accuracy.py --data DIR --model deep_mlp [--epochs 5] [--seed 0] [--output FILE]

What ``TrainDeepMLP`` / ``TrainMLP`` run (same functions, same hyperparameters as
``luigi.cfg``), without luigi: for checking that a change to the training step keeps
the accuracy targets, and what each epoch costs.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from pipeline.models import deep_mlp, mlp
from results_file import append_results  # benchmarks/, beside this script
from train_speed import load_mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", choices=["deep_mlp", "mlp"], default="deep_mlp")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    data = load_mnist(args.data / "mnist")
    t0 = time.perf_counter()

    def show(record):
        print(f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4f}  test accuracy {record['test_accuracy']:.4f}"
              f"  {record['epoch_seconds']:.2f} s", flush=True)

    if args.model == "deep_mlp":
        out = deep_mlp.train_deep_mlp(data, epochs=args.epochs, hidden=(625, 625), p_drop_input=0.2, p_drop_hidden=0.5,
                                      lr=0.001, rho=0.9, eps=1e-6, batch_size=128, seed=args.seed, backend="jax",
                                      on_epoch=show)
    else:
        out = mlp.train_mlp(data, epochs=args.epochs, hidden=625, lr=0.2, batch_size=128, seed=args.seed,
                            backend="jax", on_epoch=show)
    h = out["history"]
    row = {"benchmark": "train_accuracy", "model": args.model, "seed": args.seed, "epochs": args.epochs,
           "test_accuracy": h["test_accuracy"], "epoch_seconds": h["epoch_seconds"],
           "total_s": time.perf_counter() - t0, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print(json.dumps(row))
    append_results(args.output, [row])


if __name__ == "__main__":
    main()
