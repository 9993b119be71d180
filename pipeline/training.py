"""The epoch loop shared by every model: timing, history, checkpoints, divergence check, progress."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, model: str, epoch: int, loss: float, detail: str = ""):
        self.model, self.epoch, self.loss = model, epoch, loss
        super().__init__(f"{model}: training loss is {loss} in epoch {epoch}{detail}; no model was saved")


def mean_loss(losses, *, model: str, epoch: int, unit: str, lr: float) -> float:
    """The mean of the per-update ``losses`` of one epoch, read back to Python only now.

    Raises :class:`TrainingDivergedError` naming the first NaN or infinite one, as
    ``<unit> i of n`` (a batch, a step), with the learning rate.
    """
    values = [float(loss) for loss in losses]
    for i, value in enumerate(values, 1):
        if not math.isfinite(value):
            raise TrainingDivergedError(model, epoch, value, f", {unit} {i} of {len(values)}, learning rate {lr}")
    return sum(values) / len(values)


class Checkpointer(Protocol):
    """Where a training run keeps its end-of-epoch state (implemented by the caller)."""

    def load_latest(self) -> dict | None:
        """The newest intact checkpoint, or None."""

    def save(self, epoch: int, checkpoint: dict) -> None:
        """Persist the state after ``epoch``."""


class Resumable(Protocol):
    """A model whose complete training state can be read and restored."""

    def get_state(self) -> dict: ...

    def set_state(self, state: dict) -> None: ...


LONG_EPOCH_SECONDS = 1.0
"""An epoch at least this long gets its own log line; shorter ones are logged every tenth of the run."""


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def eta_seconds(epoch_seconds: list[float], remaining: int) -> float | None:
    """Seconds left for ``remaining`` epochs, from the mean of this run's epochs after its first.

    The first epoch of a run includes compiling the graphs, so it is left out; with only
    that one epoch done there is no estimate yet (None).
    """
    later = epoch_seconds[1:]
    return None if not later else sum(later) / len(later) * remaining


def log_this_epoch(epoch: int, *, first: int, epochs: int, seconds: float) -> bool:
    """Whether to log ``epoch``: the first and last, every ``ceil(epochs / 10)``-th, and every long one."""
    every = math.ceil(epochs / 10)
    return epoch in (first, epochs) or epoch % every == 0 or seconds >= LONG_EPOCH_SECONDS


def run_epochs(
    *,
    model: str,
    epochs: int,
    train_epoch: Callable[[int], float],
    evaluate: Callable[[], float | dict[str, float]],
    metric: str,
    on_epoch: Callable[[dict], None] | None = None,
    resumable: Resumable | None = None,
    checkpointer: Checkpointer | None = None,
) -> dict[str, list]:
    """Run ``epochs`` epochs; return the history ``{epoch, train_loss, <metric>, epoch_seconds, eval_seconds}``.

    ``train_epoch(epoch)`` trains one epoch and returns its mean loss; ``evaluate()``
    returns the evaluation metric, or several as ``{name: value}`` (each then has its list in the
    history; ``metric`` names the one logged). ``epoch_seconds`` counts training only.
    ``on_epoch`` receives each epoch's record (plus ``epochs``) as it completes.
    With a ``checkpointer``, the state of ``resumable`` is saved after every epoch, and a
    run resumes after the newest intact checkpoint.
    """
    if epochs < 1:
        raise ValueError(f"{model}: epochs must be at least 1, got {epochs}")
    history: dict[str, list] = {"epoch": [], "train_loss": [], metric: [], "epoch_seconds": [], "eval_seconds": []}
    first = 1
    if checkpointer is not None and resumable is not None:
        saved = checkpointer.load_latest()
        if saved is not None and saved["epoch"] <= epochs:
            resumable.set_state(saved["state"])
            history = saved["history"]
            first = saved["epoch"] + 1
            log.info("%s: resuming after epoch %d from its checkpoint", model, saved["epoch"])
    run_seconds: list[float] = []  # train + evaluate, per epoch of this run (not of a resumed one)
    for epoch in range(first, epochs + 1):
        t0 = time.perf_counter()
        loss = float(train_epoch(epoch))
        t1 = time.perf_counter()
        if not math.isfinite(loss):
            raise TrainingDivergedError(model, epoch, loss)
        evaluated = evaluate()
        values = {k: float(v) for k, v in evaluated.items()} if isinstance(evaluated, dict) else {metric: evaluated}
        value = float(values[metric])
        t2 = time.perf_counter()
        record = {"epoch": epoch, "train_loss": loss, **values, "epoch_seconds": t1 - t0, "eval_seconds": t2 - t1}
        for key, v in record.items():
            history.setdefault(key, []).append(v)
        if checkpointer is not None and resumable is not None:
            checkpointer.save(epoch, {"epoch": epoch, "history": history, "state": resumable.get_state()})
        run_seconds.append(t2 - t0)
        if log_this_epoch(epoch, first=first, epochs=epochs, seconds=t2 - t0):
            eta = eta_seconds(run_seconds, epochs - epoch)
            log.info(
                "%s epoch %d/%d  loss %.4f  %s %.4f  %.1fs  %s",
                model,
                epoch,
                epochs,
                loss,
                metric,
                value,
                t2 - t0,
                "done"
                if epoch == epochs
                else f"ETA {_eta(eta)}"
                if eta is not None
                else "(includes compiling; ETA from the next epoch)",
            )
        if on_epoch is not None:
            on_epoch({**record, "epochs": epochs})
    return history
