"""The route the speed issue proposed for the char-RNN, measured: the recurrence as one custom PyTensor Op.

    python benchmarks/rnn_recurrence_op.py --data DIR [--steps 60] [--repeats 3] [--output FILE]

The Op's forward and backward loops run numpy per time step (one BLAS product and a
vectorised ``tanh`` each way, the weight gradient as one product at the end), as the
classic Theano RNN ops did; its gradient is a second Op. Under the JAX backend both run
through ``jax.pure_callback``. The benchmark builds the pipeline's char-RNN twice, once
with the seed's ``scan`` and once with the Op in its place (same weights, inputs and
optimiser), checks that they compute the same losses, and times training steps of the
pipeline's ``StreamTrainer`` for each, interleaved. Not used by the pipeline: on the
development machine the Op was slower than ``scan`` (see README, "Training speed").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from results_file import append_results  # benchmarks/, beside this script

from pipeline.data.text import build_vocab, encode
from pipeline.models import char_rnn, char_rnn_training
from pipeline.models.layers import FLOATX


def recurrence_forward(xw: np.ndarray, h0: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``hs[t] = tanh(xw[t] + hs[t-1] @ W)`` with ``hs[-1] = h0``; ``xw`` is (S, B, H)."""
    hs = np.empty(xw.shape, dtype=xw.dtype)
    h = h0
    for t in range(xw.shape[0]):
        a = h @ W
        a += xw[t]
        np.tanh(a, out=hs[t])
        h = hs[t]
    return hs


def recurrence_backward(h0: np.ndarray, W: np.ndarray, hs: np.ndarray, g: np.ndarray):
    """Gradients of ``sum(g * hs)`` with respect to ``xw``, ``h0`` and ``W``."""
    S, B, H = hs.shape
    dr = np.empty_like(hs)
    dh = np.zeros((B, H), dtype=hs.dtype)
    Wt = np.ascontiguousarray(W.T)
    for t in range(S - 1, -1, -1):
        dh += g[t]
        np.multiply(dh, 1 - hs[t] * hs[t], out=dr[t])
        dh = dr[t] @ Wt
    h_prev = np.concatenate([h0[None], hs[:-1]]).reshape(S * B, H)
    return dr, dh, h_prev.T @ dr.reshape(S * B, H)


class Recurrence(Op):
    """``hs = Recurrence()(xw, h0, W)``, computed by :func:`recurrence_forward`."""

    __props__ = ()

    def make_node(self, xw, h0, W):
        xw, h0, W = map(pt.as_tensor_variable, (xw, h0, W))
        return Apply(self, [xw, h0, W], [xw.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = recurrence_forward(*inputs)

    def grad(self, inputs, output_grads):
        xw, h0, W = inputs
        return list(RecurrenceGrad()(h0, W, self(xw, h0, W), output_grads[0]))


class RecurrenceGrad(Op):
    """``(d_xw, d_h0, d_W) = RecurrenceGrad()(h0, W, hs, g)``, computed by :func:`recurrence_backward`."""

    __props__ = ()

    def make_node(self, h0, W, hs, g):
        h0, W, hs, g = map(pt.as_tensor_variable, (h0, W, hs, g))
        return Apply(self, [h0, W, hs, g], [hs.type(), h0.type(), W.type()])

    def perform(self, node, inputs, outputs):
        for out, value in zip(outputs, recurrence_backward(*inputs)):
            out[0] = value


def register_jax() -> None:
    """Let the JAX backend run both Ops, through ``jax.pure_callback``."""
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    def shapes(node):
        return tuple(jax.ShapeDtypeStruct(o.type.shape, o.type.dtype) for o in node.outputs)

    @jax_funcify.register(Recurrence)
    def _forward(op, node, **kwargs):
        (shape,) = shapes(node)
        return lambda *args: jax.pure_callback(lambda *a: recurrence_forward(*map(np.asarray, a)), shape, *args)

    @jax_funcify.register(RecurrenceGrad)
    def _backward(op, node, **kwargs):
        out = shapes(node)
        return lambda *args: jax.pure_callback(lambda *a: recurrence_backward(*map(np.asarray, a)), out, *args)


def sequence_loss_with_op(ids, h0, params: dict, vocab_size: int):
    """The pipeline's ``char_rnn.sequence_loss`` with :class:`Recurrence` in place of ``scan``."""
    hs = Recurrence()(params["W_xh"][ids[:-1]] + params["b_h"], h0, params["W_hh"])  # the same input lookup
    logits = pt.dot(hs, params["W_hy"]) + params["b_y"]
    targets = pt.cast(pt.eq(ids[1:, :, None], np.arange(vocab_size, dtype=np.int32)), FLOATX)
    nll = -pt.sum(targets * pt.special.log_softmax(logits, axis=-1), axis=-1)
    return pt.mean(nll), hs[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a directory holding tinyshakespeare.txt")
    parser.add_argument("--steps", type=int, default=60, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, help="append the JSON line to this file")
    args = parser.parse_args()

    text = (args.data / "tinyshakespeare.txt").read_text()
    vocab = build_vocab(text)
    streams = char_rnn.as_streams(encode(text, vocab), 32, 64)
    trainers = {}
    scan_loss = char_rnn.sequence_loss
    for name in ("scan", "op"):
        if name == "op":
            register_jax()
            char_rnn.sequence_loss = sequence_loss_with_op
        rnn = char_rnn.build_char_rnn(
            char_rnn.init_char_rnn(0, len(vocab), 256),
            seq_len=64,
            batch_size=32,
            optimizer="adam",
            lr=0.003,
            clip=5.0,
            backend="jax",
        )
        trainers[name] = char_rnn_training.StreamTrainer(rnn, streams, lr=0.003)
    char_rnn.sequence_loss = scan_loss
    first = {name: [trainer.train(1, 1) for _ in range(3)] for name, trainer in trainers.items()}
    np.testing.assert_allclose(first["op"], first["scan"], rtol=1e-5)  # the same computation

    times = {name: [] for name in trainers}
    for _ in range(args.repeats):
        for name, trainer in trainers.items():
            t0 = time.perf_counter()
            trainer.train(1, args.steps)
            times[name].append((time.perf_counter() - t0) / args.steps)
    row = {
        "benchmark": "rnn_recurrence_op",
        "unit": "s_per_step",
        **{name: statistics.median(t) for name, t in times.items()},
        "first_losses": first["scan"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(row))
    append_results(args.output, [row])
    print(
        f"scan {row['scan'] * 1e3:.2f} ms/step, custom Op {row['op'] * 1e3:.2f} ms/step "
        f"(Op ÷ scan {row['op'] / row['scan']:.2f})"
    )


if __name__ == "__main__":
    main()
