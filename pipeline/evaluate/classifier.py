"""Test-set evaluation of a trained MNIST classifier."""

from __future__ import annotations

import numpy as np

from pipeline.evaluate import classification_report
from pipeline.models.classifier import compile_predictor


def evaluate_classifier(
    weights: dict[str, np.ndarray],
    clean_proba,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    backend: str,
    n_misclassified: int,
) -> dict:
    """Compile the model's clean prediction graph ``clean_proba(X, params)`` over ``weights``, predict
    ``X_test`` and return :func:`~pipeline.evaluate.classification_report` (keeping ``n_misclassified`` mistakes)."""
    if n_misclassified < 0:
        raise ValueError(f"n_misclassified must be >= 0, got {n_misclassified}")
    predict = compile_predictor(weights, clean_proba, backend=backend)
    return classification_report(predict(X_test), y_test, X_test, n_misclassified)
