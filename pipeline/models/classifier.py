"""What the three MNIST classifiers share: static-shape inputs, compiled train/predict, the fit loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytensor.tensor as pt

from pipeline.compile.backend import compile_function
from pipeline.models.layers import FLOATX, restore, shared_params, snapshot
from pipeline.training import mean_loss, run_epochs

log = logging.getLogger(__name__)


@dataclass
class Classifier:
    """A compiled classifier: a (noisy) training step and a clean ``predict_proba`` over shared weights.

    Models with dropout draw their masks inside the training step from a seed and a step
    counter (:mod:`pipeline.models.noise`), held in the shared variables ``noise_state``
    and advanced by the step itself: the whole training state is then weights, optimiser
    memory and that counter, all of which :meth:`get_state` returns and :meth:`set_state`
    restores.
    """

    params: dict
    compiled_step: Callable
    predict_proba: Callable[[np.ndarray], np.ndarray]
    batch_size: int
    optimizer_state: list = field(default_factory=list)
    noise_state: list = field(default_factory=list)

    def train_step(self, X: np.ndarray, Y: np.ndarray) -> float:
        """One update on a batch; returns the batch cost."""
        return self.compiled_step(X, Y)

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as numpy arrays."""
        return {k: np.asarray(v.get_value()) for k, v in self.params.items()}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class per row of ``X``."""
        return np.argmax(self.predict_proba(X), axis=1)

    def get_state(self) -> dict:
        """Weights, optimiser memory and the dropout noise's seed and step (copies)."""
        return {
            **snapshot(self.params, self.optimizer_state),
            "noise": [int(np.asarray(s.get_value())) for s in self.noise_state],
        }

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned."""
        if self.noise_state and "noise" not in state:
            raise ValueError(
                "this checkpoint was written before dropout masks were drawn in the graph "
                "(it has no noise counter); delete it to train afresh"
            )
        restore(self.params, self.optimizer_state, state)
        for shared, value in zip(self.noise_state, state.get("noise", []), strict=True):
            shared.set_value(np.asarray(value, dtype=shared.dtype))


def symbolic_inputs(batch_size: int, n_in: int, n_out: int):
    """Training inputs with static shapes (as JAX wants) and a free-size evaluation input."""
    X = pt.tensor("X", dtype=FLOATX, shape=(batch_size, n_in))
    Y = pt.tensor("Y", dtype=FLOATX, shape=(batch_size, n_out))
    X_eval = pt.tensor("X_eval", dtype=FLOATX, shape=(None, n_in))
    return X, Y, X_eval


def compile_classifier(
    *,
    params,
    inputs,
    cost,
    updates,
    optimizer_state,
    X_eval,
    proba,
    batch_size: int,
    backend: str,
    name: str,
    noise_state=(),
) -> Classifier:
    """Compile the training step (returns the batch cost) and the clean prediction function."""
    train_step = compile_function(inputs, cost, updates=updates, backend=backend, name=f"{name}_train")
    predict = compile_function([X_eval], proba, backend=backend, name=f"{name}_predict")
    return Classifier(
        params, train_step, lambda A: np.asarray(predict(A)), batch_size, optimizer_state, list(noise_state)
    )


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


def train_one_epoch(clf: Classifier, X: np.ndarray, Y: np.ndarray, *, epoch: int, name: str, lr: float) -> float:
    """One pass over ``X, Y`` in order (the last partial batch skipped); the mean batch cost.

    The batch costs are read back only once the epoch has been dispatched, so that the
    JAX backend runs ahead of Python; a NaN or infinite cost then names its batch all the same.
    """
    B = clf.batch_size
    costs = [clf.train_step(X[i * B : (i + 1) * B], Y[i * B : (i + 1) * B]) for i in range(len(X) // B)]
    return mean_loss(costs, model=name, epoch=epoch, unit="batch", lr=lr)


def fit_classifier(
    clf: Classifier, data: dict[str, np.ndarray], *, epochs: int, name: str, lr: float, on_epoch=None, checkpointer=None
) -> dict[str, list]:
    """Train in the seeds' order (no shuffling, last partial batch skipped); track the accuracy on the validation
    split (``X_val``, where there is one: what epochs and configurations are chosen on) and on the test split
    (reported only) after every epoch."""
    X, Y = data["X_train"], data["Y_train"]
    B = clf.batch_size
    n_batches = len(X) // B
    if n_batches == 0:
        raise ValueError(f"{name}: {len(X)} training examples is fewer than one batch of {B}")
    log.info("%s: %d batches of %d per epoch, %d epochs", name, n_batches, B, epochs)
    return run_epochs(
        model=name,
        epochs=epochs,
        train_epoch=lambda epoch: train_one_epoch(clf, X, Y, epoch=epoch, name=name, lr=lr),
        evaluate=lambda: {
            split: accuracy(data[f"y_{name}"], clf.predict(data[f"X_{name}"]))
            for split, name in (("val_accuracy", "val"), ("test_accuracy", "test"))
            if len(data.get(f"X_{name}", ())) > 0
        },
        metric="val_accuracy" if len(data.get("X_val", ())) > 0 else "test_accuracy",
        on_epoch=on_epoch,
        resumable=clf,
        checkpointer=checkpointer,
    )
