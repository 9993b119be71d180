"""The arithmetic Square runs (and so hashes); nothing else imports it."""

import numpy as np


class Diverged(RuntimeError):
    """A result that would overflow: the same configuration would fail the same way again."""

    def __init__(self, epoch: int, loss: float):
        super().__init__(f"loss {loss} at epoch {epoch}")
        self.epoch, self.loss = epoch, loss


#: Calls of :func:`powers` in this process (tests count them).
CALLS: list[int] = []


def powers(values, power: int) -> np.ndarray:
    """Each value raised to ``power``; :class:`Diverged` above 8 (int64 would overflow)."""
    CALLS.append(power)
    if power > 8:
        raise Diverged(1, float("inf"))
    return np.asarray(values, dtype=np.int64) ** power
