"""Training speed of the pipeline's own training loop against PyTorch, on the same CPU threads.

    python benchmarks/train_speed.py --data DIR [--batches 100] [--repeats 5]

Times what the pipeline runs when it trains: whole epochs of
``pipeline.models.classifier.train_one_epoch`` (468 batches of real MNIST) for the
three classifiers, and ``--batches`` steps of the char-RNN's default trainer (random windows) over
Tiny Shakespeare; in the same run and interleaved, PyTorch equivalents of the same
work with the same shapes and thread count (``pip install -e '.[bench]'`` first;
without PyTorch only our side is timed). Also measures the float32 GEMM rate at each
MNIST model's layer shapes, which gives a lower bound per epoch (the fastest library's;
``÷xla`` divides by XLA's own products at those shapes, the floor for the JAX backend).
Prints a table and one JSON line per model; ``--output`` appends the JSON lines to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from results_file import append_results  # benchmarks/, beside this script

from pipeline.data.mnist import prepare_mnist
from pipeline.data.text import build_vocab, encode
from pipeline.models import char_rnn, char_rnn_training, classifier, deep_mlp, logreg, mlp

BATCHES_PER_EPOCH = 468
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_mnist(directory: Path) -> dict:
    files = {}
    for name in MNIST_FILES:
        path = directory / f"{name}.gz" if (directory / f"{name}.gz").exists() else directory / name
        files[name] = path.read_bytes()
    return prepare_mnist(files)


# The matrix products of one training step of each MNIST model, as (m, k, n): the forward
# pass and the backward products the gradient needs (no gradient for the input itself).
B = 128
GEMM_SHAPES = {
    "deep_mlp": [
        (B, 784, 625),
        (B, 625, 625),
        (B, 625, 10),  # forward
        (784, B, 625),
        (B, 625, 625),
        (625, B, 625),  # backward: dW1, dX2, dW2
        (B, 10, 625),
        (625, B, 10),
    ],  # backward: dX3, dW3
    "mlp": [
        (B, 784, 625),
        (B, 625, 10),  # forward
        (784, B, 625),
        (B, 10, 625),
        (625, B, 10),
    ],  # backward: dW1, dX2, dW2
    "log_reg": [(B, 784, 10), (784, B, 10)],  # forward, dW
}


def fastest_products(shapes, repeats: int, libraries=("numpy", "jax", "torch")) -> dict[str, float]:
    """``{library: seconds}``: the fastest of ``repeats`` passes over the float32 products ``shapes``
    (``(m, k, n)`` each), for each of ``libraries`` that is installed (a bound: the fastest pass, not one
    hit by a noisy neighbour)."""
    rng = np.random.default_rng(0)
    mats = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)) for m, k, n in shapes]
    runners = {"numpy": lambda: [a @ b for a, b in mats]} if "numpy" in libraries else {}
    try:
        if "jax" in libraries:
            import jax
            import jax.numpy as jnp

            jmats = [(jnp.asarray(a), jnp.asarray(b)) for a, b in mats]
            products = jax.jit(lambda ms: [a @ b for a, b in ms])
            runners["jax"] = lambda: jax.block_until_ready(products(jmats))
    except ImportError:
        pass
    try:
        if "torch" in libraries:
            import torch

            tmats = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in mats]
            runners["torch"] = lambda: [a @ b for a, b in tmats]
    except ImportError:
        pass
    best = {}
    for name, run in runners.items():
        run()
        best[name] = min(time_runs(run, repeats))
    return best


def gemm_seconds_per_epoch(shapes, repeats: int = 50) -> tuple[float, float, str, dict[str, float]]:
    """GEMM lower bound for one epoch: (seconds, sgemm GFLOP/s, which library was fastest, seconds per library).

    The products of one training step (``shapes``) are timed ``repeats`` times with numpy,
    JAX and PyTorch where installed; the fastest pass of the fastest library counts.
    JAX's own figure is the floor for the JAX backend, whose products are XLA's.
    """
    flops = sum(2 * m * k * n for m, k, n in shapes)
    best = fastest_products(shapes, repeats)
    fastest = min(best, key=best.get)
    per_library = {name: seconds * BATCHES_PER_EPOCH for name, seconds in best.items()}
    return best[fastest] * BATCHES_PER_EPOCH, flops / best[fastest] / 1e9, fastest, per_library


def time_runs(run, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``run()``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def ours(model: str, data, text_ids, vocab_size, backend: str, n: int):
    """(run one measured unit, units it covers, seconds to build and run the first step).

    The unit is what the pipeline itself runs: for the MNIST models one epoch of
    ``classifier.train_one_epoch`` (468 batches), for the char-RNN ``n`` steps of its
    default trainer (random windows from a zero state).
    """
    t0 = time.perf_counter()
    if model == "char_rnn":
        w = char_rnn.init_char_rnn(0, vocab_size, 256, "uniform")
        rnn = char_rnn.build_char_rnn(
            w, seq_len=64, batch_size=32, optimizer="adam", lr=0.003, clip=5.0, backend=backend, carry_hidden=False
        )
        trainer = char_rnn_training.make_trainer(rnn, text_ids, batching="windows", lr=0.003, seed=0)
        trainer.train(1, 1)
        return (lambda: trainer.train(1, n)), n, time.perf_counter() - t0
    if model == "deep_mlp":
        clf = deep_mlp.build_deep_mlp(
            deep_mlp.init_deep_mlp(0),
            p_drop_input=0.2,
            p_drop_hidden=0.5,
            lr=0.001,
            rho=0.9,
            eps=1e-6,
            batch_size=128,
            seed=1,
            backend=backend,
        )
    elif model == "mlp":
        clf = mlp.build_mlp(mlp.init_mlp(0), lr=0.05, batch_size=128, backend=backend)
    else:
        clf = logreg.build_log_reg(logreg.init_log_reg(0), lr=0.05, batch_size=128, backend=backend)
    X, Y = data["X_train"], data["Y_train"]
    clf.train_step(X[:128], Y[:128])
    compile_s = time.perf_counter() - t0
    return (lambda: classifier.train_one_epoch(clf, X, Y, epoch=1, name=model, lr=0.0)), 1, compile_s


def torch_equivalent(model: str, data, text_ids, vocab_size, n: int):
    """The same model, loss and optimiser in PyTorch, the same unit of work; (run one unit, units it covers)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    if model == "char_rnn":
        rnn, head = nn.RNN(vocab_size, 256, nonlinearity="tanh"), nn.Linear(256, vocab_size)
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=0.003)
        streams = torch.from_numpy(char_rnn.as_streams(text_ids, 32, 64).astype(np.int64))
        eye = torch.eye(vocab_size)

        def step(ids, h0):
            opt.zero_grad()
            out, h = rnn(eye[ids[:-1]], h0)
            loss = nn.functional.cross_entropy(head(out).reshape(-1, vocab_size), ids[1:].reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            return loss.item()

        h0 = torch.zeros(1, 32, 256)
        chunks = [streams[k * 64 : k * 64 + 65] for k in range(n)]
        return (lambda: [step(c, h0) for c in chunks]), n
    if model == "deep_mlp":
        net = nn.Sequential(
            nn.Dropout(0.2),
            nn.Linear(784, 625, bias=False),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(625, 625, bias=False),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(625, 10, bias=False),
        )
        opt = torch.optim.RMSprop(net.parameters(), lr=0.001, alpha=0.9, eps=1e-6)
        loss_fn = nn.functional.cross_entropy
    elif model == "mlp":
        net = nn.Sequential(nn.Linear(784, 625, bias=False), nn.Sigmoid(), nn.Linear(625, 10, bias=False))
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        loss_fn = nn.functional.cross_entropy
    else:
        net = nn.Linear(784, 10, bias=False)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)

        def loss_fn(z, y):
            return nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum") / len(z)

    X, Y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["Y_train"])
    labels = Y.argmax(1)

    def step(xb, target):
        opt.zero_grad()
        loss = loss_fn(net(xb), target)
        loss.backward()
        opt.step()
        return loss.item()

    targets = Y if model == "log_reg" else labels
    batches = [(X[i * 128 : (i + 1) * 128], targets[i * 128 : (i + 1) * 128]) for i in range(BATCHES_PER_EPOCH)]
    return (lambda: [step(xb, yb) for xb, yb in batches]), 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="a directory holding mnist/ (the four IDX files, gzipped) and tinyshakespeare.txt",
    )
    parser.add_argument("--models", default="deep_mlp,mlp,log_reg,char_rnn")
    parser.add_argument("--backend", default="jax")
    parser.add_argument(
        "--batches", type=int, default=100, help="char-RNN steps per measurement (MNIST models: one epoch)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved measurements; the median is reported")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", type=Path, help="append the JSON lines to this file")
    args = parser.parse_args()

    try:
        import torch

        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    data = load_mnist(args.data / "mnist")
    text = (args.data / "tinyshakespeare.txt").read_text()
    vocab = build_vocab(text)
    text_ids = encode(text, vocab)

    rows = []
    for model in args.models.split(","):
        gemm_epoch_s, gflops, gemm_library, gemm_by_library = (
            gemm_seconds_per_epoch(GEMM_SHAPES[model], repeats=max(20, 5 * args.repeats))
            if model in GEMM_SHAPES
            else (None, None, None, {})
        )
        run, units, compile_s = ours(model, data, text_ids, len(vocab), args.backend, args.batches)
        if torch_version:
            t_run, t_units = torch_equivalent(model, data, text_ids, len(vocab), args.batches)
            t_run()  # warm-up
        mine, theirs = [], []
        for _ in range(args.repeats):  # interleaved
            mine += time_runs(run, 1)
            if torch_version:
                theirs += time_runs(t_run, 1)
        per_unit = statistics.median(mine) / units
        torch_per_unit = statistics.median(theirs) / t_units if theirs else None
        row = {
            "benchmark": "train_speed",
            "model": model,
            "backend": args.backend,
            "threads": args.threads,
            "unit": "s_per_step" if model == "char_rnn" else "s_per_epoch",
            "ours": per_unit,
            "torch": torch_per_unit,
            "ratio": per_unit / torch_per_unit if torch_per_unit else None,
            "gemm_bound_s": gemm_epoch_s,
            "sgemm_gflops": round(gflops, 1) if gflops else None,
            "sgemm_library": gemm_library,
            "gemm_s_by_library": gemm_by_library,
            "compile_and_first_step_s": round(compile_s, 2),
            "load_average": os.getloadavg()[0],
            "torch_version": torch_version,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        }
        rows.append(row)
        print(json.dumps(row))
    print(
        f"\n{'model':<10} {'unit':<12} {'ours':>9} {'torch':>9} {'ratio':>6} {'÷gemm':>6} {'÷xla':>6} {'compile s':>9}"
    )
    for r in rows:
        torch_s = f"{r['torch']:.4f}" if r["torch"] else "—"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "—"
        gemm = f"{r['ours'] / r['gemm_bound_s']:.2f}" if r["gemm_bound_s"] else "—"
        xla = f"{r['ours'] / r['gemm_s_by_library']['jax']:.2f}" if "jax" in r["gemm_s_by_library"] else "—"
        print(
            f"{r['model']:<10} {r['unit']:<12} {r['ours']:>9.4f} {torch_s:>9} {ratio:>6} {gemm:>6} {xla:>6} "
            f"{r['compile_and_first_step_s']:>9.2f}"
        )
    for r in rows:
        if r["gemm_bound_s"]:
            print(
                f"{r['model']}: sgemm at its layer shapes {r['sgemm_gflops']:.1f} GFLOP/s ({r['sgemm_library']}, "
                f"the fastest measured), GEMM bound {r['gemm_bound_s']:.3f} s per epoch; by library: "
                + ", ".join(f"{k} {v:.3f} s" for k, v in r["gemm_s_by_library"].items())
            )
    append_results(args.output, rows)


if __name__ == "__main__":
    main()
