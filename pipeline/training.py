"""The epoch loop shared by every model: timing, history, divergence check, progress."""
from __future__ import annotations

import logging
import math
import time
from typing import Callable

log = logging.getLogger(__name__)


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, model: str, epoch: int, loss: float, detail: str = ""):
        self.model, self.epoch, self.loss = model, epoch, loss
        super().__init__(f"{model}: training loss is {loss} in epoch {epoch}{detail}; no model was saved")


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def run_epochs(
    *,
    model: str,
    epochs: int,
    train_epoch: Callable[[int], float],
    evaluate: Callable[[], float],
    metric: str,
    on_epoch: Callable[[dict], None] | None = None,
    divergence_detail: Callable[[], str] = lambda: "",
) -> dict[str, list]:
    """Run ``epochs`` epochs; return the history ``{epoch, train_loss, <metric>, epoch_seconds, eval_seconds}``.

    ``train_epoch(epoch)`` trains one epoch and returns its mean loss; ``evaluate()``
    returns the evaluation metric. ``epoch_seconds`` counts training only.
    ``on_epoch`` receives each epoch's record (plus ``epochs``) as it completes.
    """
    if epochs < 1:
        raise ValueError(f"{model}: epochs must be at least 1, got {epochs}")
    history: dict[str, list] = {"epoch": [], "train_loss": [], metric: [], "epoch_seconds": [], "eval_seconds": []}
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        loss = float(train_epoch(epoch))
        t1 = time.perf_counter()
        if not math.isfinite(loss):
            raise TrainingDivergedError(model, epoch, loss, divergence_detail())
        value = float(evaluate())
        t2 = time.perf_counter()
        record = {"epoch": epoch, "train_loss": loss, metric: value, "epoch_seconds": t1 - t0, "eval_seconds": t2 - t1}
        for key, v in record.items():
            history[key].append(v)
        eta = (time.perf_counter() - started) / epoch * (epochs - epoch)
        log.info(
            "%s epoch %d/%d  loss %.4f  %s %.4f  %.1fs  ETA %s",
            model, epoch, epochs, loss, metric, value, t2 - t0, _eta(eta),
        )
        if on_epoch is not None:
            on_epoch({**record, "epochs": epochs})
    return history
