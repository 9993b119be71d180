"""The arithmetic Square runs (and so hashes); nothing else imports it."""


class Diverged(RuntimeError):
    """A result that would overflow: the same configuration would fail the same way again."""

    def __init__(self, epoch: int, loss: float):
        super().__init__(f"loss {loss} at epoch {epoch}")
        self.epoch, self.loss = epoch, loss


#: Calls of :func:`powers` in this process (tests count them).
CALLS: list[int] = []


def powers(values, power: int) -> list[int]:
    """Each value raised to ``power``; :class:`Diverged` above 8 (a 64-bit integer would overflow)."""
    CALLS.append(power)
    if power > 8:
        raise Diverged(1, float("inf"))
    return [int(value) ** power for value in values]
