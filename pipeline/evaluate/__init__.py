"""Evaluation: metrics over predictions (here), and one function per evaluation stage in the submodules
(:mod:`pipeline.evaluate.classifier`, :mod:`pipeline.evaluate.char_rnn`), kept apart so that each
stage's fingerprint covers only the model code it runs.

Metrics: accuracy, per-class accuracy, confusion matrix, language-model losses.
"""

from __future__ import annotations

import math

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(proba: np.ndarray, y_true: np.ndarray, images: np.ndarray, n_examples: int = 25) -> dict:
    """Accuracy, per-class accuracy, confusion matrix and the first ``n_examples`` mistakes."""
    y_true = np.asarray(y_true)
    y_pred = np.argmax(proba, axis=1)
    n_classes = proba.shape[1]
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    per_class = np.divide(np.diag(cm), support, out=np.full(n_classes, np.nan), where=support > 0)
    wrong = np.flatnonzero(y_pred != y_true)[:n_examples]
    return {
        "test_accuracy": float(np.mean(y_pred == y_true)),
        "per_class_accuracy": per_class,
        "confusion_matrix": cm,
        "misclassified": {"index": wrong, "true": y_true[wrong], "pred": y_pred[wrong], "images": images[wrong]},
    }


def language_model_report(val_nats: float, unigram_nats: float) -> dict:
    """Validation loss in nats and bits per character, perplexity, and the unigram baseline."""
    return {
        "val_loss": float(val_nats),
        "bits_per_char": float(val_nats / math.log(2)),
        "perplexity": float(math.exp(val_nats)),
        "unigram_val_loss": float(unigram_nats),
        "unigram_bits_per_char": float(unigram_nats / math.log(2)),
    }
