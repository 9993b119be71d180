"""Train one model with the default configuration's recipe on the real data; print each epoch's result.

    python benchmarks/train_accuracy.py --data DIR --model deep_mlp|mlp|char_rnn [--epochs 5] [--seed 0]
        [--init uniform|seed] [--batching windows|streams] [--output FILE]

What ``TrainDeepMLP`` / ``TrainMLP`` / ``TrainCharRNN`` run (same functions, same
hyperparameters as ``luigi.cfg``; the char-RNN's validation text is the last 10%),
without luigi: for checking that a change to the training step keeps the accuracy
targets, and what each epoch costs.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from results_file import append_results  # benchmarks/, beside this script
from train_speed import load_mnist

from pipeline.data.text import build_vocab, encode, split_train_val
from pipeline.models import char_rnn, char_rnn_training, deep_mlp, mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", choices=["deep_mlp", "mlp", "char_rnn"], default="deep_mlp")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", choices=char_rnn.INITS, default="uniform", help="char-RNN only")
    parser.add_argument("--batching", choices=char_rnn_training.BATCHINGS, default="windows", help="char-RNN only")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    metric = "val_loss" if args.model == "char_rnn" else "test_accuracy"
    t0 = time.perf_counter()

    def show(record):
        print(
            f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4f}  {metric} {record[metric]:.4f}"
            f"  {record['epoch_seconds']:.2f} s",
            flush=True,
        )

    if args.model == "char_rnn":
        text = (args.data / "tinyshakespeare.txt").read_text()
        vocab = build_vocab(text)
        train_ids, val_ids = split_train_val(encode(text, vocab), 0.1)
        out = char_rnn_training.train_char_rnn(
            train_ids,
            val_ids,
            len(vocab),
            epochs=args.epochs,
            steps_per_epoch=0,
            hidden=256,
            seq_len=64,
            batch_size=32,
            optimizer="adam",
            lr=0.003,
            clip=5.0,
            seed=args.seed,
            init=args.init,
            batching=args.batching,
            backend="jax",
            keep_best=True,
            on_epoch=show,
        )
    elif args.model == "deep_mlp":
        data = load_mnist(args.data / "mnist")
        out = deep_mlp.train_deep_mlp(
            data,
            epochs=args.epochs,
            hidden=(625, 625),
            p_drop_input=0.2,
            p_drop_hidden=0.5,
            lr=0.001,
            rho=0.9,
            eps=1e-6,
            batch_size=128,
            seed=args.seed,
            backend="jax",
            on_epoch=show,
        )
    else:
        data = load_mnist(args.data / "mnist")
        out = mlp.train_mlp(
            data, epochs=args.epochs, hidden=625, lr=0.2, batch_size=128, seed=args.seed, backend="jax", on_epoch=show
        )
    h = out["history"]
    row = {
        "benchmark": "train_accuracy",
        "model": args.model,
        "seed": args.seed,
        "epochs": args.epochs,
        metric: h[metric],
        **({"kept": out["kept"]} if "kept" in out else {}),
        "epoch_seconds": h["epoch_seconds"],
        "total_s": time.perf_counter() - t0,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(row))
    append_results(args.output, [row])


if __name__ == "__main__":
    main()
