"""Training the char-RNN: truncated BPTT over chunks of the text, cut as random windows (each from a
zero hidden state) or along contiguous streams (carrying it), with checkpoints and the best epoch kept."""

from __future__ import annotations

import logging

import numpy as np

from pipeline.models.char_rnn import CharRNN, as_streams, build_char_rnn, chunk, init_char_rnn, n_chunks, stream_loss
from pipeline.models.layers import FLOATX, restore, snapshot
from pipeline.training import mean_loss, run_epochs

log = logging.getLogger(__name__)
BATCHINGS = ("windows", "streams")
WINDOW_STREAM = 1  # the windows' generator is seeded with (seed, WINDOW_STREAM): apart from the weights' draws


class _Trainer:
    """Truncated BPTT, one chunk of ``seq_len + 1`` rows by ``batch_size`` columns per update; its
    state (weights, optimiser, where the batches are, and the best weights so far) can be saved."""

    total: int  # updates in one pass over the text

    def __init__(self, rnn: CharRNN, lr: float):
        self.rnn, self.lr = rnn, lr
        self.epoch = 0
        self.best: dict = {"epoch": None, "val_loss": float("inf"), "weights": None}

    def next_chunk(self) -> np.ndarray:
        raise NotImplementedError

    def train(self, epoch: int, steps: int, name: str = "char_rnn") -> float:
        """``steps`` updates; the mean loss.

        The losses are read back after the last step, so the backend is never made to
        wait for Python in between; a NaN or infinite loss still names its step (and
        ``name``, the model's).
        """
        self.epoch = epoch
        losses = [self.rnn.train_step(self.next_chunk()) for _ in range(steps)]
        return mean_loss(losses, model=name, epoch=epoch, unit="step", lr=self.lr)

    def observe(self, val_loss: float) -> float:
        """Remember the current weights when ``val_loss`` is the lowest so far (the first of equals); return it."""
        if val_loss < self.best["val_loss"]:
            self.best = {"epoch": self.epoch, "val_loss": val_loss, "weights": self.rnn.weights()}
        return val_loss

    def get_state(self) -> dict:
        return {**snapshot(self.rnn.params, self.rnn.optimizer_state), "best": self.best}

    def set_state(self, state: dict) -> None:
        restore(self.rnn.params, self.rnn.optimizer_state, state)
        self.best = state.get("best", self.best)


class StreamTrainer(_Trainer):
    """Chunks along ``batch_size`` contiguous streams of the text, carrying the hidden state; past
    the end the streams start afresh from a zero state."""

    def __init__(self, rnn: CharRNN, streams: np.ndarray, lr: float):
        if rnn.hidden is None:
            raise ValueError("contiguous streams need a model built with carry_hidden=True")
        super().__init__(rnn, lr)
        self.streams = streams
        self.total = n_chunks(streams, rnn.seq_len)
        self.cursor = 0
        rnn.reset_hidden()

    def next_chunk(self) -> np.ndarray:
        if self.cursor >= self.total:  # wrapped around the text: start the streams afresh
            self.cursor = 0
            self.rnn.reset_hidden()
        self.cursor += 1
        return chunk(self.streams, self.cursor - 1, self.rnn.seq_len)

    def get_state(self) -> dict:
        return {**super().get_state(), "cursor": self.cursor, "h": np.array(self.rnn.hidden.get_value())}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.cursor = state["cursor"]
        self.rnn.hidden.set_value(np.array(state["h"], dtype=FLOATX))


class WindowTrainer(_Trainer):
    """Chunks of ``batch_size`` windows of ``seq_len + 1`` characters at offsets drawn uniformly
    from the whole text by a generator seeded with ``seed``, each window from a zero hidden state;
    one pass counts as many updates as the contiguous streams would take."""

    def __init__(self, rnn: CharRNN, ids: np.ndarray, lr: float, seed: int):
        if rnn.hidden is not None:
            raise ValueError("windows start from zeros: build the model with carry_hidden=False")
        super().__init__(rnn, lr)
        self.ids = np.asarray(ids, dtype=np.int32)
        self.total = n_chunks(as_streams(self.ids, rnn.batch_size, rnn.seq_len), rnn.seq_len)
        self.offsets = np.arange(rnn.seq_len + 1)
        self.rng = np.random.default_rng([seed, WINDOW_STREAM])

    def next_chunk(self) -> np.ndarray:
        starts = self.rng.integers(0, len(self.ids) - self.rnn.seq_len, size=self.rnn.batch_size)
        return np.ascontiguousarray(self.ids[starts[:, None] + self.offsets].T)

    def get_state(self) -> dict:
        return {**super().get_state(), "windows_rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.rng.bit_generator.state = state["windows_rng"]


def check_batching(batching: str) -> None:
    """ValueError naming the choices unless ``batching`` is one of :data:`BATCHINGS`."""
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {', '.join(BATCHINGS)}, got {batching!r}")


def make_trainer(rnn: CharRNN, train_ids: np.ndarray, *, batching: str, lr: float, seed: int) -> _Trainer:
    """The trainer for ``batching`` (``windows`` or ``streams``) over ``train_ids``."""
    check_batching(batching)
    if batching == "windows":
        return WindowTrainer(rnn, train_ids, lr, seed)
    return StreamTrainer(rnn, as_streams(train_ids, rnn.batch_size, rnn.seq_len), lr)


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
    init: str,
    batching: str,
    backend: str,
    keep_best: bool = True,
    on_epoch=None,
    checkpointer=None,
    name: str = "char_rnn",
):
    """Train on ``train_ids``, tracking validation loss; return ``{"weights", "history", "kept"}``.

    ``init`` names the initial weights (``init_char_rnn``), ``batching`` how chunks are cut
    (``make_trainer``); the validation loss always runs ``val_ids`` as contiguous streams.
    ``steps_per_epoch == 0`` makes an epoch as many updates as one pass over the training
    text; otherwise each epoch takes that many chunks, continuing where the last one stopped.
    With ``keep_best`` the returned weights are those of the epoch with the lowest
    validation loss (the first such epoch), else the last epoch's; ``kept`` names the
    epoch and its validation loss, and ``last`` the last epoch's. ``name`` names the model in the log and in
    errors.
    """
    check_batching(batching)  # before compiling anything
    rnn = build_char_rnn(
        init_char_rnn(seed, vocab_size, hidden, init),
        seq_len=seq_len,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        clip=clip,
        backend=backend,
        carry_hidden=batching == "streams",
    )
    trainer = make_trainer(rnn, train_ids, batching=batching, lr=lr, seed=seed)
    val_streams = as_streams(val_ids, batch_size, seq_len)
    steps = steps_per_epoch or trainer.total
    log.info(
        "%s: %d steps of %dx%d characters (%s) per epoch (%d chunks in the text), %d epochs",
        name,
        steps,
        seq_len,
        batch_size,
        batching,
        trainer.total,
        epochs,
    )
    history = run_epochs(
        model=name,
        epochs=epochs,
        train_epoch=lambda e: trainer.train(e, steps, name),
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
            "%s: keeping the weights of epoch %d (validation loss %.4f; last epoch %.4f)",
            name,
            kept["epoch"],
            kept["val_loss"],
            last["val_loss"],
        )
    else:
        kept, weights = last, rnn.weights()
    return {"weights": weights, "history": history, "kept": kept, "last": last}
