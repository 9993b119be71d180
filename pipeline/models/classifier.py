"""What the three MNIST classifiers share: static-shape inputs, compiled train/predict, the fit loop."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytensor.tensor as pt

from pipeline.models.backend import compile_function
from pipeline.models.layers import FLOATX, shared_params
from pipeline.training import run_epochs

log = logging.getLogger(__name__)


@dataclass
class Classifier:
    """A compiled classifier: a noisy ``train_step`` and a clean ``predict_proba`` over shared weights."""

    params: dict
    train_step: Callable[[np.ndarray, np.ndarray], np.ndarray]
    predict_proba: Callable[[np.ndarray], np.ndarray]
    batch_size: int

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as numpy arrays."""
        return {k: np.asarray(v.get_value()) for k, v in self.params.items()}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class per row of ``X``."""
        return np.argmax(self.predict_proba(X), axis=1)


def symbolic_inputs(batch_size: int, n_in: int, n_out: int):
    """Training inputs with static shapes (as JAX wants) and a free-size evaluation input."""
    X = pt.tensor("X", dtype=FLOATX, shape=(batch_size, n_in))
    Y = pt.tensor("Y", dtype=FLOATX, shape=(batch_size, n_out))
    X_eval = pt.tensor("X_eval", dtype=FLOATX, shape=(None, n_in))
    return X, Y, X_eval


def compile_classifier(*, params, X, Y, X_eval, cost, updates, proba, batch_size: int, backend: str, name: str) -> Classifier:
    """Compile the training step (returns the batch cost) and the clean prediction function."""
    train_step = compile_function([X, Y], cost, updates=updates, backend=backend, name=f"{name}_train")
    predict = compile_function([X_eval], proba, backend=backend, name=f"{name}_predict")
    return Classifier(params, train_step, lambda A: np.asarray(predict(A)), batch_size)


def compile_predictor(weights: dict[str, np.ndarray], clean_proba, *, backend: str):
    """``X -> probabilities`` from stored weights and a model's ``clean_proba(X, params)`` graph."""
    params = shared_params(weights)
    n_in = next(iter(weights.values())).shape[0]
    X_eval = pt.tensor("X_eval", dtype=FLOATX, shape=(None, n_in))
    predict = compile_function([X_eval], clean_proba(X_eval, params), backend=backend, name="predict")
    return lambda A: np.asarray(predict(A))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of equal labels."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def fit_classifier(
    clf: Classifier, data: dict[str, np.ndarray], *, epochs: int, name: str, on_epoch=None
) -> dict[str, list]:
    """Train in the seeds' order (no shuffling, last partial batch skipped); track test accuracy."""
    X, Y = data["X_train"], data["Y_train"]
    B = clf.batch_size
    n_batches = len(X) // B
    if n_batches == 0:
        raise ValueError(f"{name}: {len(X)} training examples is fewer than one batch of {B}")
    log.info("%s: %d batches of %d per epoch, %d epochs", name, n_batches, B, epochs)

    def train_epoch(epoch: int) -> float:
        total = 0.0
        for i in range(n_batches):
            total += float(clf.train_step(X[i * B:(i + 1) * B], Y[i * B:(i + 1) * B]))
        return total / n_batches

    return run_epochs(
        model=name, epochs=epochs, train_epoch=train_epoch,
        evaluate=lambda: accuracy(data["y_test"], clf.predict(data["X_test"])),
        metric="test_accuracy", on_epoch=on_epoch,
    )
