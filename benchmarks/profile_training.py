"""Where a training epoch (MNIST nets) or step (char-RNN) spends its time on the default JAX backend.

    python benchmarks/profile_training.py --data DIR [--repeats 5] [--output FILE]

Each component is measured by subtraction between variants of the same work, timed
interleaved in one process (medians of ``--repeats``), so that a share is "what removing
this would save" on this machine at this moment:

deep net and simple net, per epoch of 468 batches of real MNIST:

- ``epoch``: ``classifier.train_one_epoch`` exactly as the pipeline runs it;
- ``fixed_inputs``: the same compiled step fed prepared batches: ``epoch - fixed_inputs``
  is slicing the batches out of the training set;
- ``host_noise`` (deep net): the step as it was until the dropout masks moved into the
  graph: uniform float32 noise drawn by numpy for each batch and fed in;
  ``host_noise_draw``: drawing that noise alone;
- ``no_dropout``: the same graph compiled without dropout: ``fixed_inputs - no_dropout``
  is drawing the masks in the graph and applying them;
- ``sgd``: without dropout and with SGD instead of RMSprop: ``no_dropout - sgd`` is
  the optimiser's share (deep net only; the simple net is SGD already);
- ``xla_gemms``: the step's matrix products alone, one ``jax.jit`` call per batch;
- ``call_overhead``: a compiled PyTensor function with the step's inputs that computes
  next to nothing, called 468 times: Python and JAX's
  dispatch per call plus the inputs' host-to-device copies;
- ``jax_reference`` (deep net): the step without dropout written by hand in JAX, to
  compare with ``no_dropout`` (what PyTensor's graph costs over the same work);
- ``host_copies``: ``jax.device_put`` of each batch's inputs alone.

char-RNN (hidden 256, seq 64, batch 32, Adam, clip 5), per step: the pipeline's step,
the forward loss alone, the call overhead, and the recurrent products alone in XLA.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
from results_file import append_results  # benchmarks/, beside this script
from train_speed import BATCHES_PER_EPOCH, GEMM_SHAPES, load_mnist

from pipeline.compile.backend import compile_function
from pipeline.data.text import build_vocab, encode
from pipeline.models import char_rnn, char_rnn_training, classifier, deep_mlp, mlp
from pipeline.models.layers import categorical_crossentropy, shared_params
from pipeline.models.optim import rmsprop, sgd

B = 128


def interleaved(runs: dict, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median and fastest seconds of each run, the runs interleaved ``repeats`` times (one warm-up each first).

    On a shared machine the fastest pass is the better estimate of what the work itself costs."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return ({name: statistics.median(ts) for name, ts in times.items()}, {name: min(ts) for name, ts in times.items()})


def xla_gemms(shapes, n_calls: int):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    mats = [
        (jnp.asarray(rng.random((m, k), dtype=np.float32)), jnp.asarray(rng.random((k, n), dtype=np.float32)))
        for m, k, n in shapes
    ]
    products = jax.jit(lambda ms: [a @ b for a, b in ms])
    return lambda: jax.block_until_ready([products(mats) for _ in range(n_calls)])


def block(out):
    import jax

    return jax.block_until_ready(out)


def mnist_runs(model: str, data) -> dict:
    X, Y = data["X_train"], data["Y_train"]
    batches = [(np.array(X[i * B : (i + 1) * B]), np.array(Y[i * B : (i + 1) * B])) for i in range(BATCHES_PER_EPOCH)]
    runs = {}
    if model == "deep_mlp":
        clf = deep_mlp.build_deep_mlp(
            deep_mlp.init_deep_mlp(0),
            p_drop_input=0.2,
            p_drop_hidden=0.5,
            lr=0.001,
            rho=0.9,
            eps=1e-6,
            batch_size=B,
            seed=1,
            backend="jax",
        )
    else:
        clf = mlp.build_mlp(mlp.init_mlp(0), lr=0.05, batch_size=B, backend="jax")
    runs["epoch"] = lambda: classifier.train_one_epoch(clf, X, Y, epoch=1, name=model, lr=0.0)
    step = clf.compiled_step
    runs["fixed_inputs"] = lambda: block([step(x, y) for x, y in batches])
    if model == "deep_mlp":  # the seeds' way: uniform noise drawn on the host, fed in per batch
        runs["host_noise"] = host_noise_epoch(batches)
        rng = np.random.default_rng(0)
        runs["host_noise_draw"] = lambda: [
            rng.random((B, 784 + 625 + 625), dtype=np.float32) for _ in range(BATCHES_PER_EPOCH)
        ]

    def variant(optimizer):
        weights = deep_mlp.init_deep_mlp(0) if model == "deep_mlp" else mlp.init_mlp(0)
        params = shared_params(weights)
        w = list(params.values())
        Xs = pt.tensor("X", dtype="float32", shape=(B, 784))
        Ys = pt.tensor("Y", dtype="float32", shape=(B, 10))
        logits = deep_mlp.model(Xs, *w, 0.0, 0.0) if model == "deep_mlp" else mlp.model(Xs, *w)
        cost = categorical_crossentropy(logits, Ys)
        grads = pt.grad(cost, w)
        updates = rmsprop(w, grads)[0] if optimizer == "rmsprop" else sgd(w, grads, 0.001)[0]
        f = compile_function([Xs, Ys], cost, updates=updates, backend="jax", name=f"{model}_{optimizer}")
        return lambda: block([f(x, y) for x, y in batches])

    if model == "deep_mlp":
        runs["no_dropout"] = variant("rmsprop")
        runs["sgd"] = variant("sgd")
    runs["xla_gemms"] = xla_gemms(GEMM_SHAPES[model], BATCHES_PER_EPOCH)

    # A function with the step's inputs that computes next to nothing.
    ins = [pt.tensor("X", dtype="float32", shape=(B, 784)), pt.tensor("Y", dtype="float32", shape=(B, 10))]
    trivial = compile_function(ins, ins[0][0, 0] + ins[1][0, 0], backend="jax", name="trivial")
    runs["call_overhead"] = lambda: block([trivial(x, y) for x, y in batches])
    if model == "deep_mlp":
        runs["jax_reference"] = jax_reference_epoch(batches)
    import jax

    runs["host_copies"] = lambda: block([jax.device_put(a) for a in batches])
    return runs


def jax_reference_epoch(batches):
    """The deep net's step without dropout written directly in JAX (``jax.value_and_grad``, RMSprop), for comparison
    with the PyTensor graph of the same step (``no_dropout``)."""
    import jax
    import jax.numpy as jnp

    def loss(ws, x, y):
        h = jax.nn.relu(x @ ws[0])
        h2 = jax.nn.relu(h @ ws[1])
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(h2 @ ws[2]), axis=-1))

    @jax.jit
    def step(ws, acc, x, y):
        cost, g = jax.value_and_grad(loss)(ws, x, y)
        acc = [np.float32(0.9) * a + np.float32(0.1) * gi**2 for a, gi in zip(acc, g)]
        ws = [w - np.float32(0.001) * gi / jnp.sqrt(a + np.float32(1e-6)) for w, gi, a in zip(ws, g, acc)]
        return cost, ws, acc

    state = {"ws": [jnp.asarray(w) for w in deep_mlp.init_deep_mlp(0).values()]}
    state["acc"] = [jnp.zeros_like(w) for w in state["ws"]]

    def epoch():
        costs = []
        for x, y in batches:
            cost, state["ws"], state["acc"] = step(state["ws"], state["acc"], x, y)
            costs.append(cost)
        return block(costs)

    return epoch


def host_noise_epoch(batches):
    """The deep net's step as it was before the masks moved into the graph: uniform noise drawn by numpy
    per batch and fed in, a mask where the noise is below the keep probability."""
    params = shared_params(deep_mlp.init_deep_mlp(0))
    w = list(params.values())
    Xs = pt.tensor("X", dtype="float32", shape=(B, 784))
    Ys = pt.tensor("Y", dtype="float32", shape=(B, 10))
    u = pt.tensor("noise", dtype="float32", shape=(B, 784 + 625 + 625))
    masks = [
        pt.cast(pt.lt(u[:, a:b], np.float32(keep)), "float32") / np.float32(keep)
        for a, b, keep in ((0, 784, 0.8), (784, 1409, 0.5), (1409, 2034, 0.5))
    ]
    cost = categorical_crossentropy(deep_mlp.model(Xs, *w, 0.2, 0.5, masks), Ys)
    f = compile_function(
        [Xs, Ys, u], cost, updates=rmsprop(w, pt.grad(cost, w))[0], backend="jax", name="deep_mlp_host_noise"
    )
    rng = np.random.default_rng(1)
    return lambda: block([f(x, y, rng.random((B, 2034), dtype=np.float32)) for x, y in batches])


def char_rnn_runs(text_ids, vocab_size: int, steps: int) -> dict:
    import jax
    import jax.numpy as jnp

    rnn = char_rnn.build_char_rnn(
        char_rnn.init_char_rnn(0, vocab_size, 256),
        seq_len=64,
        batch_size=32,
        optimizer="adam",
        lr=0.003,
        clip=5.0,
        backend="jax",
    )
    streams = char_rnn.as_streams(text_ids, 32, 64)
    trainer = char_rnn_training.StreamTrainer(rnn, streams, lr=0.003)
    chunks = [np.array(char_rnn.chunk(streams, k, 64)) for k in range(steps)]
    h0 = np.zeros((32, 256), dtype=np.float32)
    runs = {
        "step": lambda: trainer.train(1, steps),
        "forward_loss": lambda: block([rnn.loss(c, h0) for c in chunks]),
    }
    ids = pt.tensor("ids", dtype="int32", shape=(65, 32))
    params = shared_params(char_rnn.init_char_rnn(0, vocab_size, 256))
    out = ids[0, 0] + sum(p.flatten()[0] for p in params.values())
    trivial = compile_function([ids], out, updates=[(p, p) for p in params.values()], backend="jax", name="trivial")
    runs["call_overhead"] = lambda: block([trivial(c) for c in chunks])
    rng = np.random.default_rng(0)
    W = jnp.asarray(rng.standard_normal((256, 256), dtype=np.float32) * 0.01)
    xw = jnp.asarray(rng.standard_normal((64, 32, 256), dtype=np.float32))

    def recurrence(xw, W):  # forward and the two products per step of the backward pass
        def fwd(h, x):
            h = jnp.tanh(x + h @ W)
            return h, h

        _, hs = jax.lax.scan(fwd, jnp.zeros((32, 256), jnp.float32), xw)

        def bwd(carry, h):
            dh, dW = carry
            da = dh * (1 - h * h)
            return (da @ W.T, dW + h.T @ da), None

        (dh, dW), _ = jax.lax.scan(bwd, (jnp.ones((32, 256), jnp.float32), jnp.zeros_like(W)), hs, reverse=True)
        return dh, dW

    rec = jax.jit(recurrence)
    runs["xla_recurrence"] = lambda: block([rec(xw, W) for _ in range(steps)])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", default="deep_mlp,mlp,char_rnn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="char-RNN steps per measurement")
    parser.add_argument("--only", help="comma-separated components to time (default: all)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = []
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for model in args.models.split(","):
        if model == "char_rnn":
            text = (args.data / "tinyshakespeare.txt").read_text()
            vocab = build_vocab(text)
            runs, per = char_rnn_runs(encode(text, vocab), len(vocab), args.steps), args.steps
        else:
            runs, per = mnist_runs(model, load_mnist(args.data / "mnist")), 1
        if args.only:
            runs = {k: v for k, v in runs.items() if k in args.only.split(",")}
        medians, fastest = interleaved(runs, args.repeats)
        row = {
            "benchmark": "profile_training",
            "model": model,
            "unit": "s_per_step" if per > 1 else "s_per_epoch",
            "median": {k: v / per for k, v in medians.items()},
            "fastest": {k: v / per for k, v in fastest.items()},
            "repeats": args.repeats,
            "date": date,
            "load_average": os.getloadavg()[0],
        }
        rows.append(row)
        print(json.dumps(row))
        first = next(iter(medians))
        print(f"  {model:<9} {'':<16} {'median':>9} {'share':>6}  {'fastest':>9} {'share':>6}")
        for k in medians:
            m, f = row["median"][k], row["fastest"][k]
            print(
                f"  {model:<9} {k:<16} {m:9.4f} {m / row['median'][first]:6.1%}  {f:9.4f} "
                f"{f / row['fastest'][first]:6.1%}"
            )
    append_results(args.output, rows)


if __name__ == "__main__":
    main()
