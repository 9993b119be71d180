import copy

import numpy as np
import pytensor.tensor as pt
import pytest

from pipeline.data.text import build_vocab, encode, split_train_val
from pipeline.models.char_rnn import (
    PARAM_ORDER,
    as_streams,
    build_char_rnn,
    chunk,
    compile_loss,
    init_char_rnn,
    n_chunks,
    sequence_loss,
    validation_loss,
)
from pipeline.models.char_rnn_training import StreamTrainer, WindowTrainer, train_char_rnn
from pipeline.models.generate import sample_text
from tests.conftest import TINY_TEXT
from tests.pipeline.models.helpers import check_grad

V, H, S, B = 7, 5, 6, 3
RNG = np.random.default_rng(0)
IDS = RNG.integers(0, V, size=(S + 1, B)).astype(np.int32)
H0 = RNG.standard_normal((B, H)) * 0.5


def np_loss(w, ids=IDS, h0=H0):
    """Reference: the seed's recurrence, unrolled in a Python loop."""
    h, total = h0, 0.0
    for t in range(ids.shape[0] - 1):
        h = np.tanh(w["W_xh"][ids[t]] + w["b_h"] + h @ w["W_hh"])
        logits = h @ w["W_hy"] + w["b_y"]
        logp = logits - logits.max(1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
        total += -logp[np.arange(ids.shape[1]), ids[t + 1]].mean()
    return total / (ids.shape[0] - 1), h


def random_weights(scale=0.5):
    w = init_char_rnn(1, V, H)
    return {k: (RNG.standard_normal(v.shape) * scale).astype(np.float32) for k, v in w.items()}


def test_init_shapes():
    w = init_char_rnn(0, V, H)
    assert set(w) == set(PARAM_ORDER)
    assert w["W_xh"].shape == (V, H) and w["W_hh"].shape == (H, H) and w["W_hy"].shape == (H, V)
    assert not w["b_h"].any() and not w["b_y"].any()
    assert 0.005 < w["W_hh"].std() < 0.015  # randn * 0.01


def test_uniform_init_is_pytorchs_range_for_every_weight_and_bias():
    w = init_char_rnn(0, V, 400, "uniform")
    assert set(w) == set(PARAM_ORDER)
    for name, a in w.items():
        assert a.dtype == np.float32 and np.abs(a).max() <= 1 / 20, name  # 1/sqrt(400)
    assert np.abs(w["W_hh"]).max() > 0.049 and abs(w["W_hh"].mean()) < 1e-3  # fills the range, centred
    np.testing.assert_array_equal(w["b_h"], init_char_rnn(0, V, 400, "uniform")["b_h"])  # seeded
    with pytest.raises(ValueError, match="init must be one of seed, uniform"):
        init_char_rnn(0, V, H, "xavier")


def test_compiled_loss_matches_numpy():
    w = random_weights()
    rnn = compile_loss(w, seq_len=S, batch_size=B, backend="jax")
    loss, h_last = rnn.loss(IDS, H0.astype(np.float32))
    ref_loss, ref_h = np_loss({k: v.astype(np.float64) for k, v in w.items()})
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(h_last), ref_h, rtol=1e-4, atol=1e-6)


def test_gradient_through_scan():
    w = {k: v.astype(np.float64) for k, v in random_weights().items()}
    check_grad(
        lambda p: sequence_loss(pt.as_tensor(IDS), pt.as_tensor(H0), p, V)[0], lambda w: np_loss(w)[0], w, n_entries=5
    )


def test_streams_and_chunks():
    ids = np.arange(100, dtype=np.int32)
    streams = as_streams(ids, 4, 5)
    assert streams.shape == (25, 4)
    np.testing.assert_array_equal(streams[:, 1], np.arange(25, 50))
    assert n_chunks(streams, 5) == 4
    c = chunk(streams, 1, 5)
    np.testing.assert_array_equal(c[:, 0], np.arange(5, 11))  # overlaps the next chunk by one row
    with pytest.raises(ValueError, match="too short"):
        as_streams(ids, 20, 5)


def test_training_reduces_loss_on_a_short_text():
    vocab = build_vocab(TINY_TEXT)
    train, val = split_train_val(encode(TINY_TEXT, vocab), 0.2)
    records = []
    out = train_char_rnn(
        train,
        val,
        len(vocab),
        epochs=3,
        steps_per_epoch=0,
        hidden=32,
        seq_len=16,
        batch_size=4,
        optimizer="adam",
        lr=0.01,
        clip=5.0,
        seed=0,
        init="uniform",
        batching="windows",
        backend="jax",
        on_epoch=records.append,
    )
    h = out["history"]
    assert h["epoch"] == [1, 2, 3] and [r["epoch"] for r in records] == [1, 2, 3]
    assert h["train_loss"][-1] < h["train_loss"][0] < np.log(len(vocab)) + 0.1
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert all(s > 0 for s in h["epoch_seconds"])
    assert out["weights"]["W_hh"].shape == (32, 32)


def test_sampling_is_seeded_and_validated():
    vocab = list("abcdefg")
    w = random_weights(1.0)
    a = sample_text(w, vocab, prompt="abc", length=50, temperature=1.0, seed=3)
    assert len(a) == 50 and set(a) <= set(vocab)
    assert a == sample_text(w, vocab, prompt="abc", length=50, temperature=1.0, seed=3)
    assert a != sample_text(w, vocab, prompt="abc", length=50, temperature=1.0, seed=4)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        sample_text(w, vocab, prompt="xyz", length=5, temperature=1.0, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        sample_text(w, vocab, prompt="a", length=5, temperature=0.0, seed=0)


def test_trainer_carries_the_hidden_state_across_chunks_and_resets_it_on_wrap_around():
    w = random_weights()
    rnn = build_char_rnn(w, seq_len=S, batch_size=B, optimizer="adam", lr=1e-3, clip=5.0, backend="jax")
    ids = RNG.integers(0, V, size=S * B * 2 + B).astype(np.int32)
    streams = as_streams(ids, B, S)
    trainer = StreamTrainer(rnn, streams, lr=1e-3)
    assert trainer.total == 2

    # the first step's loss and carried state are the forward pass before any update, from h = 0
    ref_loss, ref_h = np_loss({k: v.astype(np.float64) for k, v in w.items()}, chunk(streams, 0, S), np.zeros((B, H)))
    loss = trainer.train(epoch=1, steps=1)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(rnn.hidden.get_value(), ref_h, rtol=1e-4, atol=1e-6)

    # the second chunk starts from that state: same as the loss function given it explicitly
    expected, _ = compile_loss(rnn.weights(), seq_len=S, batch_size=B, backend="jax").loss(
        chunk(streams, 1, S), rnn.hidden.get_value()
    )
    saved = trainer.get_state()
    np.testing.assert_allclose(trainer.train(epoch=1, steps=1), float(expected), rtol=1e-5)

    # restoring the state restores the hidden state too; past the end the streams start again from zero
    trainer.set_state(saved)
    np.testing.assert_allclose(trainer.train(epoch=1, steps=1), float(expected), rtol=1e-5)
    before = rnn.weights()
    wrapped = trainer.train(epoch=1, steps=1)  # past the last chunk: back to chunk 0 with h = 0
    assert trainer.cursor == 1
    first_again, _ = compile_loss(before, seq_len=S, batch_size=B, backend="jax").loss(
        chunk(streams, 0, S), np.zeros((B, H), np.float32)
    )
    np.testing.assert_allclose(wrapped, float(first_again), rtol=1e-5)


def test_window_trainer_draws_seeded_windows_each_from_a_zero_state_and_resumes_its_draws():
    w = random_weights()
    ids = RNG.integers(0, V, size=200).astype(np.int32)
    rnn = build_char_rnn(
        w, seq_len=S, batch_size=B, optimizer="adam", lr=1e-3, clip=5.0, backend="jax", carry_hidden=False
    )
    assert rnn.hidden is None
    trainer = WindowTrainer(rnn, ids, lr=1e-3, seed=0)
    assert trainer.total == n_chunks(as_streams(ids, B, S), S)  # as many updates as a pass of the streams
    first = trainer.next_chunk()
    assert first.shape == (S + 1, B) and first.dtype == np.int32 and first.flags.c_contiguous
    for col in first.T:  # each column is S+1 consecutive characters of the text
        assert any((ids[s : s + S + 1] == col).all() for s in range(len(ids) - S))
    assert not (first == WindowTrainer(rnn, ids, lr=1e-3, seed=1).next_chunk()).all()
    np.testing.assert_array_equal(first, WindowTrainer(rnn, ids, lr=1e-3, seed=0).next_chunk())

    # an update's loss is the forward pass from h = 0 on the window drawn for it
    trainer = WindowTrainer(rnn, ids, lr=1e-3, seed=0)
    ref_loss, _ = np_loss({k: v.astype(np.float64) for k, v in w.items()}, first, np.zeros((B, H)))
    np.testing.assert_allclose(trainer.train(epoch=1, steps=1), ref_loss, rtol=1e-5)

    # the saved state holds the generator: a restored trainer draws, and computes, what the original does next
    saved = trainer.get_state()
    expected = [trainer.train(epoch=1, steps=1) for _ in range(2)]
    trainer.set_state(saved)
    assert [trainer.train(epoch=1, steps=1) for _ in range(2)] == expected
    with pytest.raises(ValueError, match="batching must be one of windows, streams"):
        train_char_rnn(
            ids,
            ids,
            V,
            epochs=1,
            steps_per_epoch=1,
            hidden=H,
            seq_len=S,
            batch_size=B,
            optimizer="adam",
            lr=1e-3,
            clip=5.0,
            seed=0,
            init="seed",
            batching="shuffled",
            backend="jax",
        )
    with pytest.raises(ValueError, match="carry_hidden=False"):
        WindowTrainer(
            build_char_rnn(w, seq_len=S, batch_size=B, optimizer="adam", lr=1e-3, clip=5.0, backend="jax"),
            ids,
            lr=1e-3,
            seed=0,
        )


class _MemoryCheckpointer:
    def __init__(self):
        self.saved = None

    def load_latest(self):
        return self.saved

    def save(self, epoch, checkpoint):
        self.saved = copy.deepcopy(checkpoint)


def test_keep_best_keeps_the_weights_with_the_lowest_validation_loss_also_across_a_resume():
    train = np.tile(np.arange(4, dtype=np.int32), 100)  # a strict cycle ...
    val = np.repeat(np.tile(np.arange(4, dtype=np.int32), 10), 2)  # ... that misleads on doubled characters
    kwargs = dict(
        steps_per_epoch=5, hidden=8, seq_len=8, batch_size=4, optimizer="adam", lr=0.05, clip=5.0, seed=0, backend="jax"
    )
    kwargs.update(init="seed", batching="streams")
    checkpoints = _MemoryCheckpointer()
    train_char_rnn(train, val, 4, epochs=2, checkpointer=checkpoints, **kwargs)
    after_two = copy.deepcopy(checkpoints.saved)
    resumed = train_char_rnn(train, val, 4, epochs=3, checkpointer=checkpoints, **kwargs)  # epoch 3 only
    losses = resumed["history"]["val_loss"]
    assert resumed["history"]["epoch"] == [1, 2, 3] and losses[0] < losses[1] < losses[2]  # it only gets worse
    assert resumed["kept"] == {"epoch": 1, "val_loss": losses[0]} and resumed["last"] == {
        "epoch": 3,
        "val_loss": losses[2],
    }
    assert validation_loss(resumed["weights"], val, seq_len=8, batch_size=4, backend="jax") == pytest.approx(losses[0])

    checkpoints.saved = after_two  # replay epoch 3 without keep_best: the last weights
    last = train_char_rnn(train, val, 4, epochs=3, keep_best=False, checkpointer=checkpoints, **kwargs)
    assert last["kept"] == last["last"] == {"epoch": 3, "val_loss": losses[2]}
    assert validation_loss(last["weights"], val, seq_len=8, batch_size=4, backend="jax") == pytest.approx(losses[2])
