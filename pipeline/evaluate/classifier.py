"""Evaluation of a trained MNIST classifier: its accuracy on the validation split (for choosing) and its full
report on the test split (for publishing)."""

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
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> dict:
    """Compile the model's clean prediction graph ``clean_proba(X, params)`` over ``weights``, predict
    ``X_test`` and return :func:`~pipeline.evaluate.classification_report` (keeping ``n_misclassified`` mistakes),
    with ``val_accuracy`` on ``X_val`` (NaN without a validation split)."""
    if n_misclassified < 0:
        raise ValueError(f"n_misclassified must be >= 0, got {n_misclassified}")
    predict = compile_predictor(weights, clean_proba, backend=backend)
    report = classification_report(predict(X_test), y_test, X_test, n_misclassified)
    has_val = X_val is not None and y_val is not None and len(X_val) > 0
    val = float(np.mean(np.argmax(predict(X_val), axis=1) == y_val)) if has_val else float("nan")
    return {"val_accuracy": val, **report}
