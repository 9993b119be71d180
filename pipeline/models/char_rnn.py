"""Character-level vanilla RNN language model, unrolled with ``scan`` as in the seed.

``h_t = tanh(x_t W_xh + b_h + h_{t-1} W_hh)``, ``y_t = softmax(h_t W_hy + b_y)``, trained with
truncated backpropagation through time over fixed-length chunks of ``batch_size``
parallel streams of the text, carrying the hidden state from one chunk to the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from pipeline.compile.backend import compile_function
from pipeline.models.layers import FLOATX, init_weights, restore, shared_params, snapshot
from pipeline.models.optim import OPTIMIZERS, clip_by_global_norm
from pipeline.training import mean_loss, run_epochs

log = logging.getLogger(__name__)
PARAM_ORDER = ("W_xh", "b_h", "W_hh", "W_hy", "b_y")


def init_char_rnn(seed: int, vocab_size: int, hidden: int) -> dict[str, np.ndarray]:
    """Weights ``randn * 0.01`` and zero biases."""
    rng = np.random.default_rng(seed)
    return {
        "W_xh": init_weights(rng, (vocab_size, hidden)),
        "b_h": np.zeros(hidden, dtype=np.float32),
        "W_hh": init_weights(rng, (hidden, hidden)),
        "W_hy": init_weights(rng, (hidden, vocab_size)),
        "b_y": np.zeros(vocab_size, dtype=np.float32),
    }


def step(xw_t, h_tm1, b_h, W_hh, W_hy, b_y):
    """One time step from the input's projection ``xw_t = x_t W_xh``: new hidden state and output logits."""
    h_t = pt.tanh(xw_t + b_h + pt.dot(h_tm1, W_hh))
    y_t = pt.dot(h_t, W_hy) + b_y
    return h_t, y_t


def sequence_loss(ids, h0, params: dict, vocab_size: int):
    """Mean next-character cross-entropy (nats) over ids of shape (S+1, B), and the last hidden state.

    ``x_t W_xh`` for a one-hot ``x_t`` is row ``ids[t]`` of ``W_xh``, so the input
    projections of every step are looked up before the loop (one gather, whose gradient
    is one scatter-add) instead of multiplying a one-hot matrix inside it: the same
    numbers, and the JAX backend's training step took 6-14% less time (see README).
    """
    xw = params["W_xh"][ids[:-1]]  # (S, B, H): x_t W_xh for every step
    h, logits = pytensor.scan(
        step,
        sequences=xw,
        outputs_info=[h0, None],
        non_sequences=[params[k] for k in PARAM_ORDER[1:]],
        return_updates=False,
    )
    # Scan forgets static shapes; JAX needs them back for the reshapes in the gradient.
    S, B = ids.type.shape[0] - 1, ids.type.shape[1]
    h = pt.specify_shape(h, (S, B, params["W_hh"].get_value().shape[0]))
    logits = pt.specify_shape(logits, (S, B, vocab_size))
    targets = pt.cast(pt.eq(ids[1:, :, None], np.arange(vocab_size, dtype=np.int32)), FLOATX)  # one-hot (S, B, V)
    nll = -pt.sum(targets * pt.special.log_softmax(logits, axis=-1), axis=-1)  # (S, B)
    return pt.mean(nll), h[-1]


@dataclass
class CharRNN:
    """Compiled ``train_step(ids) -> loss`` and ``loss(ids, h0) -> (loss, h)`` over shared weights.

    The training step carries the hidden state from one chunk to the next in the shared
    variable ``hidden`` (updated with the weights), so that nothing has to come back to
    Python between steps and the JAX backend can run ahead of it.
    """

    params: dict
    train_step: Callable | None
    loss: Callable
    seq_len: int
    batch_size: int
    optimizer_state: list = field(default_factory=list)
    hidden: Any = None

    def reset_hidden(self) -> None:
        """Start the training streams afresh: a zero hidden state."""
        self.hidden.set_value(np.zeros_like(self.hidden.get_value()))

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as numpy arrays."""
        return {k: np.asarray(v.get_value()) for k, v in self.params.items()}


def _loss_graph(params: dict, seq_len: int, batch_size: int, h0=None):
    """Input ids (static shape), initial state (a new input unless given), mean loss and last state."""
    V, H = params["W_xh"].get_value().shape
    ids = pt.tensor("ids", dtype="int32", shape=(seq_len + 1, batch_size))
    if h0 is None:
        h0 = pt.tensor("h0", dtype=FLOATX, shape=(batch_size, H))
    cost, h_last = sequence_loss(ids, h0, params, V)
    return ids, h0, cost, h_last


def compile_loss(weights, *, seq_len: int, batch_size: int, backend: str) -> CharRNN:
    """An evaluation-only model (``train_step`` is None) over stored weights."""
    params = shared_params(weights)
    ids, h0, cost, h_last = _loss_graph(params, seq_len, batch_size)
    loss = compile_function([ids, h0], [cost, h_last], backend=backend, name="char_rnn_loss")
    return CharRNN(params, None, loss, seq_len, batch_size)


def build_char_rnn(
    weights, *, seq_len: int, batch_size: int, optimizer: str, lr: float, clip: float, backend: str
) -> CharRNN:
    """Compile the training step (BPTT, clipping, optimiser update) and the evaluation loss."""
    if optimizer not in ("rmsprop", "adam"):
        raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {optimizer!r}")
    params = shared_params(weights)
    H = weights["W_hh"].shape[0]
    hidden = pytensor.shared(np.zeros((batch_size, H), dtype=FLOATX), name="hidden", shape=(batch_size, H))
    ids, _, cost, h_last = _loss_graph(params, seq_len, batch_size, h0=hidden)
    plist = [params[k] for k in PARAM_ORDER]
    grads = clip_by_global_norm(pt.grad(cost, plist), clip)
    updates, state = OPTIMIZERS[optimizer](plist, grads, lr=lr)
    train = compile_function([ids], cost, updates=[*updates, (hidden, h_last)], backend=backend, name="char_rnn_train")
    eval_ids, h0, eval_cost, eval_h_last = _loss_graph(params, seq_len, batch_size)
    evaluate = compile_function([eval_ids, h0], [eval_cost, eval_h_last], backend=backend, name="char_rnn_loss")
    return CharRNN(params, train, evaluate, seq_len, batch_size, state, hidden)


def as_streams(ids: np.ndarray, batch_size: int, seq_len: int) -> np.ndarray:
    """Cut ``ids`` into ``batch_size`` contiguous streams, as columns of an (n, batch_size) array."""
    n = len(ids) // batch_size
    if n < seq_len + 1:
        raise ValueError(f"{len(ids)} characters is too short for {batch_size} streams of at least {seq_len + 1}")
    return np.ascontiguousarray(ids[: n * batch_size].reshape(batch_size, n).T, dtype=np.int32)


def n_chunks(streams: np.ndarray, seq_len: int) -> int:
    """How many (seq_len+1)-row chunks, overlapping by one row, fit in ``streams``."""
    return (len(streams) - 1) // seq_len


def chunk(streams: np.ndarray, k: int, seq_len: int) -> np.ndarray:
    """The k-th chunk: rows ``k*seq_len .. k*seq_len + seq_len`` (inputs and shifted targets)."""
    return streams[k * seq_len : k * seq_len + seq_len + 1]


def validation_loss(weights, ids: np.ndarray, *, seq_len: int, batch_size: int, backend: str) -> float:
    """Mean nats per character of ``ids`` under stored weights."""
    rnn = compile_loss(weights, seq_len=seq_len, batch_size=batch_size, backend=backend)
    return stream_loss(rnn, as_streams(ids, batch_size, seq_len))


def stream_loss(rnn: CharRNN, streams: np.ndarray) -> float:
    """Mean nats per character over every chunk of ``streams``, carrying the hidden state."""
    h = np.zeros((rnn.batch_size, rnn.params["W_hh"].get_value().shape[0]), dtype=np.float32)
    losses = []
    for k in range(n_chunks(streams, rnn.seq_len)):
        loss, h = rnn.loss(chunk(streams, k, rnn.seq_len), h)
        losses.append(float(loss))
    return float(np.mean(losses))


class StreamTrainer:
    """Truncated BPTT over the training streams; its state (weights, optimiser, position, hidden, and the
    best weights so far) can be saved."""

    def __init__(self, rnn: CharRNN, streams: np.ndarray, lr: float):
        self.rnn, self.streams, self.lr = rnn, streams, lr
        self.total = n_chunks(streams, rnn.seq_len)
        self.cursor = 0
        self.epoch = 0
        self.best: dict = {"epoch": None, "val_loss": float("inf"), "weights": None}
        rnn.reset_hidden()

    def train(self, epoch: int, steps: int) -> float:
        """``steps`` updates, continuing along the streams; the mean loss.

        The losses are read back after the last step, so the backend is never made to
        wait for Python in between; a NaN or infinite loss still names its step.
        """
        self.epoch = epoch
        losses = []
        for _ in range(steps):
            if self.cursor >= self.total:  # wrapped around the text: start the streams afresh
                self.cursor = 0
                self.rnn.reset_hidden()
            losses.append(self.rnn.train_step(chunk(self.streams, self.cursor, self.rnn.seq_len)))
            self.cursor += 1
        return mean_loss(losses, model="TrainCharRNN", epoch=epoch, unit="step", lr=self.lr)

    def observe(self, val_loss: float) -> float:
        """Remember the current weights when ``val_loss`` is the lowest so far (the first of equals); return it."""
        if val_loss < self.best["val_loss"]:
            self.best = {"epoch": self.epoch, "val_loss": val_loss, "weights": self.rnn.weights()}
        return val_loss

    def get_state(self) -> dict:
        return {
            **snapshot(self.rnn.params, self.rnn.optimizer_state),
            "cursor": self.cursor,
            "h": np.array(self.rnn.hidden.get_value()),
            "best": self.best,
        }

    def set_state(self, state: dict) -> None:
        restore(self.rnn.params, self.rnn.optimizer_state, state)
        self.cursor = state["cursor"]
        self.rnn.hidden.set_value(np.array(state["h"], dtype=FLOATX))
        self.best = state.get("best", self.best)


def train_char_rnn(
    train_ids,
    val_ids,
    vocab_size: int,
    *,
    epochs: int,
    steps_per_epoch: int,
    hidden: int,
    seq_len: int,
    batch_size: int,
    optimizer: str,
    lr: float,
    clip: float,
    seed: int,
    backend: str,
    keep_best: bool = True,
    on_epoch=None,
    checkpointer=None,
):
    """Train on ``train_ids``, tracking validation loss; return ``{"weights", "history", "kept"}``.

    ``steps_per_epoch == 0`` makes an epoch one pass over the training text; otherwise
    each epoch takes that many chunks, continuing where the last epoch stopped.
    With ``keep_best`` the returned weights are those of the epoch with the lowest
    validation loss (the first such epoch), else the last epoch's; ``kept`` names the
    epoch and its validation loss, and ``last`` the last epoch's.
    """
    rnn = build_char_rnn(
        init_char_rnn(seed, vocab_size, hidden),
        seq_len=seq_len,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        clip=clip,
        backend=backend,
    )
    trainer = StreamTrainer(rnn, as_streams(train_ids, batch_size, seq_len), lr)
    val_streams = as_streams(val_ids, batch_size, seq_len)
    steps = steps_per_epoch or trainer.total
    log.info(
        "TrainCharRNN: %d steps of %dx%d characters per epoch (%d chunks in the text), %d epochs",
        steps,
        seq_len,
        batch_size,
        trainer.total,
        epochs,
    )
    history = run_epochs(
        model="TrainCharRNN",
        epochs=epochs,
        train_epoch=lambda e: trainer.train(e, steps),
        evaluate=lambda: trainer.observe(stream_loss(rnn, val_streams)),
        metric="val_loss",
        on_epoch=on_epoch,
        resumable=trainer,
        checkpointer=checkpointer,
    )
    last = {"epoch": history["epoch"][-1], "val_loss": history["val_loss"][-1]}
    if keep_best and trainer.best["weights"] is not None:
        kept, weights = {"epoch": trainer.best["epoch"], "val_loss": trainer.best["val_loss"]}, trainer.best["weights"]
        log.info(
            "TrainCharRNN: keeping the weights of epoch %d (validation loss %.4f; last epoch %.4f)",
            kept["epoch"],
            kept["val_loss"],
            last["val_loss"],
        )
    else:
        kept, weights = last, rnn.weights()
    return {"weights": weights, "history": history, "kept": kept, "last": last}
