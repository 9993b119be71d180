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
    h = run_epochs(model="m", epochs=3, train_epoch=lambda e: 1.0 / e, evaluate=lambda: 0.5, metric="acc",
                   on_epoch=seen.append)
    assert h["epoch"] == [1, 2, 3]
    assert h["train_loss"] == [1.0, 0.5, 1 / 3]
    assert h["acc"] == [0.5] * 3 and len(h["epoch_seconds"]) == 3
    assert [r["epochs"] for r in seen] == [3, 3, 3]


def test_nan_loss_stops_training_with_a_clear_error():
    with pytest.raises(TrainingDivergedError, match="m: training loss is nan in epoch 2"):
        run_epochs(model="m", epochs=5, train_epoch=lambda e: float("nan") if e == 2 else 1.0,
                   evaluate=lambda: 0.0, metric="acc")
