import math

import numpy as np
import pytest

from pipeline.evaluate import classification_report, confusion_matrix, language_model_report
from pipeline.training import TrainingDivergedError, run_epochs


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_classification_report():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    images = np.arange(8).reshape(4, 2)
    r = classification_report(proba, y, images, n_examples=5)
    assert r["test_accuracy"] == 0.75
    np.testing.assert_allclose(r["per_class_accuracy"], [1.0, 2 / 3])
    np.testing.assert_array_equal(r["misclassified"]["index"], [2])
    np.testing.assert_array_equal(r["misclassified"]["images"], [[4, 5]])
    assert r["misclassified"]["pred"].tolist() == [0]


def test_language_model_report_units():
    r = language_model_report(math.log(4), math.log(8))
    assert r["bits_per_char"] == pytest.approx(2.0)
    assert r["perplexity"] == pytest.approx(4.0)
    assert r["unigram_bits_per_char"] == pytest.approx(3.0)


def test_run_epochs_records_history_and_calls_back():
    seen = []
    h = run_epochs(
        model="m", epochs=3, train_epoch=lambda e: 1.0 / e, evaluate=lambda: 0.5, metric="acc", on_epoch=seen.append
    )
    assert h["epoch"] == [1, 2, 3]
    assert h["train_loss"] == [1.0, 0.5, 1 / 3]
    assert h["acc"] == [0.5] * 3 and len(h["epoch_seconds"]) == 3
    assert [r["epochs"] for r in seen] == [3, 3, 3]


def test_nan_loss_stops_training_with_a_clear_error():
    with pytest.raises(TrainingDivergedError, match="m: training loss is nan in epoch 2"):
        run_epochs(
            model="m",
            epochs=5,
            train_epoch=lambda e: float("nan") if e == 2 else 1.0,
            evaluate=lambda: 0.0,
            metric="acc",
        )


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_evaluate_classifier_matches_a_numpy_forward_pass():
    from pipeline.evaluate.classifier import evaluate_classifier
    from pipeline.models import mlp

    rng = np.random.default_rng(0)
    weights = {"w_h": rng.normal(size=(12, 7)).astype(np.float32), "w_o": rng.normal(size=(7, 4)).astype(np.float32)}
    X = rng.random((50, 12), dtype=np.float32)
    y = rng.integers(0, 4, size=50)
    proba = _softmax((1 / (1 + np.exp(-X.astype(np.float64) @ weights["w_h"]))) @ weights["w_o"])
    expected = classification_report(proba, y, X, n_examples=3)

    r = evaluate_classifier(weights, mlp.clean_proba, X, y, backend="jax", n_misclassified=3)
    assert 0 < r["test_accuracy"] < 1 and r["test_accuracy"] == expected["test_accuracy"]
    np.testing.assert_array_equal(r["confusion_matrix"], expected["confusion_matrix"])
    np.testing.assert_array_equal(r["misclassified"]["index"], expected["misclassified"]["index"])
    np.testing.assert_array_equal(r["misclassified"]["images"], X[expected["misclassified"]["index"]])
    with pytest.raises(ValueError, match="n_misclassified must be >= 0"):
        evaluate_classifier(weights, mlp.clean_proba, X, y, backend="jax", n_misclassified=-1)


def _numpy_stream_loss(w, ids, seq_len, batch_size):
    """Mean next-character cross-entropy over ``batch_size`` contiguous streams, chunk by chunk, the
    hidden state carried across chunks: the char-RNN's validation loss, written out in numpy."""
    n = len(ids) // batch_size
    streams = ids[: n * batch_size].reshape(batch_size, n).T
    h = np.zeros((batch_size, w["W_hh"].shape[0]))
    chunk_losses = []
    for k in range((n - 1) // seq_len):
        part = streams[k * seq_len : k * seq_len + seq_len + 1]
        nll = []
        for t in range(seq_len):
            h = np.tanh(w["W_xh"][part[t]] + w["b_h"] + h @ w["W_hh"])
            p = _softmax(h @ w["W_hy"] + w["b_y"])
            nll.append(-np.log(p[np.arange(batch_size), part[t + 1]]))
        chunk_losses.append(np.mean(nll))
    return float(np.mean(chunk_losses))


def test_evaluate_char_rnn_matches_a_numpy_reference():
    from pipeline.evaluate.char_rnn import evaluate_char_rnn
    from pipeline.models.char_rnn import init_char_rnn
    from pipeline.models.generate import sample_text

    vocab = list("abcde")
    rng = np.random.default_rng(1)
    weights = {
        k: (v + rng.normal(scale=0.5, size=v.shape)).astype(np.float32)
        for k, v in init_char_rnn(0, len(vocab), 6).items()
    }
    val_ids = rng.integers(0, len(vocab), size=83).astype(np.int32)
    r = evaluate_char_rnn(
        weights,
        vocab,
        val_ids,
        math.log(5),
        seq_len=4,
        batch_size=3,
        backend="jax",
        prompt="ab",
        temperatures=(0.5, 1),
        sample_length=12,
        sample_seed=3,
    )

    expected = _numpy_stream_loss({k: v.astype(np.float64) for k, v in weights.items()}, val_ids, 4, 3)
    assert r["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert r["bits_per_char"] == pytest.approx(expected / math.log(2), rel=1e-5)
    assert r["unigram_val_loss"] == pytest.approx(math.log(5))
    assert list(r["samples"]) == [0.5, 1.0] and r["prompt"] == "ab"
    assert r["samples"][1.0] == sample_text(weights, vocab, prompt="ab", length=12, temperature=1.0, seed=3)
    assert all(len(s) == 12 and set(s) <= set(vocab) for s in r["samples"].values())
