"""Character-level vanilla RNN language model, unrolled with ``scan`` as in the seed.

``h_t = tanh(x_t W_xh + b_h + h_{t-1} W_hh)``, ``y_t = softmax(h_t W_hy + b_y)``: its weights,
the compiled training step and loss over fixed-length chunks of ``batch_size`` columns of
character ids, and the validation loss over contiguous streams of a text. How the training
chunks are cut, and the training loop: :mod:`pipeline.models.char_rnn_training`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from pipeline.compile.backend import compile_function
from pipeline.models.layers import FLOATX, init_weights, shared_params
from pipeline.models.optim import OPTIMIZERS, clip_by_global_norm

PARAM_ORDER = ("W_xh", "b_h", "W_hh", "W_hy", "b_y")
INITS = ("seed", "uniform")


def init_char_rnn(seed: int, vocab_size: int, hidden: int, init: str = "seed") -> dict[str, np.ndarray]:
    """Initial weights: ``seed``, the seeds' ``randn * 0.01`` and zero biases; ``uniform``, every
    weight and bias uniform in ``±1/sqrt(hidden)``, as PyTorch's ``nn.RNN`` and the ``nn.Linear``
    on top of it start."""
    rng = np.random.default_rng(seed)
    shapes = {
        "W_xh": (vocab_size, hidden),
        "b_h": (hidden,),
        "W_hh": (hidden, hidden),
        "W_hy": (hidden, vocab_size),
        "b_y": (vocab_size,),
    }
    if init == "seed":
        return {k: init_weights(rng, s) if k.startswith("W") else np.zeros(s, np.float32) for k, s in shapes.items()}
    if init == "uniform":
        bound = 1.0 / np.sqrt(hidden)
        return {k: rng.uniform(-bound, bound, s).astype(np.float32) for k, s in shapes.items()}
    raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")


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

    A training step that carries the hidden state from one chunk to the next keeps it in the
    shared variable ``hidden`` (updated with the weights), so that nothing has to come back to
    Python between steps and the JAX backend can run ahead of it; one that starts every chunk
    from zeros has no ``hidden``.
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
        if self.hidden is not None:
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
    weights,
    *,
    seq_len: int,
    batch_size: int,
    optimizer: str,
    lr: float,
    clip: float,
    backend: str,
    carry_hidden: bool = True,
) -> CharRNN:
    """Compile the training step (BPTT, clipping, optimiser update) and the evaluation loss.

    With ``carry_hidden`` each training chunk starts from the last one's final hidden state
    (contiguous streams); without, from zeros (independent windows).
    """
    if optimizer not in ("rmsprop", "adam"):
        raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {optimizer!r}")
    params = shared_params(weights)
    H = weights["W_hh"].shape[0]
    if carry_hidden:
        hidden = pytensor.shared(np.zeros((batch_size, H), dtype=FLOATX), name="hidden", shape=(batch_size, H))
        h0 = hidden
    else:
        hidden, h0 = None, pt.zeros((batch_size, H), dtype=FLOATX)
    ids, _, cost, h_last = _loss_graph(params, seq_len, batch_size, h0=h0)
    plist = [params[k] for k in PARAM_ORDER]
    grads = clip_by_global_norm(pt.grad(cost, plist), clip)
    updates, state = OPTIMIZERS[optimizer](plist, grads, lr=lr)
    carried = [(hidden, h_last)] if hidden is not None else []
    train = compile_function([ids], cost, updates=[*updates, *carried], backend=backend, name="char_rnn_train")
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
