"""Champion/challenger: whether a newly evaluated model replaces the best one kept so far."""
from __future__ import annotations

# The metric each model family is judged by, and whether higher is better.
METRICS = {
    "TrainLogReg": ("test_accuracy", True),
    "TrainMLP": ("test_accuracy", True),
    "TrainDeepMLP": ("test_accuracy", True),
    "TrainCharRNN": ("val_loss", False),
}


def decide(family: str, value: float, fingerprint: str, champion: dict | None, tolerance: float) -> tuple[bool, str]:
    """``(promote, reason)`` for a challenger with metric ``value`` against the current ``champion``.

    The challenger wins when it is at least as good as the champion, allowing ``tolerance``
    (accuracy may be lower, or loss higher, by at most that much). A model never replaces itself.
    """
    metric, higher_is_better = METRICS[family]
    if champion is None:
        return True, f"first {family} model: {metric} {value:.4f}"
    if champion["fingerprint"] == fingerprint:
        return False, f"already the champion ({metric} {value:.4f})"
    best = champion["value"]
    good_enough = value >= best - tolerance if higher_is_better else value <= best + tolerance
    relation = "at least as good as" if good_enough else "worse than"
    return good_enough, f"{metric} {value:.4f} is {relation} the champion's {best:.4f} (tolerance {tolerance})"
