"""Champion/challenger: whether a newly evaluated model replaces the best one kept so far."""
from __future__ import annotations

import math

# The metric each model family is judged by, and whether higher is better.
METRICS = {
    "TrainLogReg": ("test_accuracy", True),
    "TrainMLP": ("test_accuracy", True),
    "TrainDeepMLP": ("test_accuracy", True),
    "TrainCharRNN": ("val_loss", False),
}
PROMOTED, KEPT, FAILED = "promoted", "kept", "failed"


def decide(family: str, value: float, fingerprint: str, champion: dict | None, tolerance: float) -> tuple[bool, str]:
    """``(promote, reason)`` for a challenger with metric ``value`` against the current ``champion``.

    The challenger wins when it is at least as good as the champion, allowing ``tolerance``
    (accuracy may be lower, or loss higher, by at most that much). A model never replaces itself,
    and a challenger whose metric is NaN or infinite never wins.
    """
    metric, higher_is_better = METRICS[family]
    if not math.isfinite(value):
        return False, f"{metric} is {value}: the challenger failed"
    if champion is None:
        return True, f"first {family} model: {metric} {value:.4f}"
    if champion["fingerprint"] == fingerprint:
        return False, f"already the champion ({metric} {value:.4f})"
    best = champion["value"]
    good_enough = value >= best - tolerance if higher_is_better else value <= best + tolerance
    relation = "at least as good as" if good_enough else "worse than"
    return good_enough, f"{metric} {value:.4f} is {relation} the champion's {best:.4f} (tolerance {tolerance})"


def challenge(*, date: str, evaluations: dict[str, dict], fingerprints: dict[str, str],
              champions: dict[str, dict | None], tolerance: float, data_version: dict, recorded: str,
              artifacts: dict[str, dict] | None = None) -> tuple[list[dict], dict[str, dict]]:
    """Judge every family of ``METRICS`` against its champion.

    ``evaluations[family]`` holds the metric, ``fingerprints[family]`` the challenger's
    training fingerprint, ``champions[family]`` the current champion record (or None),
    ``artifacts[family]`` what a new champion record should also name (its files).
    Returns one history record per family, in ``METRICS`` order, and the new champion
    record of each family that was promoted.
    """
    records, promoted = [], {}
    for family, (metric, _) in METRICS.items():
        value = float(evaluations[family][metric])
        promote, reason = decide(family, value, fingerprints[family], champions.get(family), tolerance)
        record = {
            "date": date, "model": family, "fingerprint": fingerprints[family], "metric": metric, "value": value,
            "data_version": data_version, "promoted": promote, "reason": reason, "recorded": recorded,
            "outcome": PROMOTED if promote else KEPT if math.isfinite(value) else FAILED,
        }
        if promote:
            promoted[family] = {**record, **(artifacts or {}).get(family, {})}
        records.append(record)
    return records, promoted


def outcome(record: dict) -> str:
    """``promoted``, ``kept`` or ``failed`` for a history record (older records carry no ``outcome``)."""
    if "outcome" in record:
        return record["outcome"]
    return PROMOTED if record["promoted"] else KEPT if math.isfinite(record["value"]) else FAILED


def summary_line(date: str, records: list[dict]) -> str:
    """One line for cron's mail or the log: ``Retrain <date>: TrainLogReg kept, TrainMLP promoted, ... (1 promoted, 3 kept)``."""
    parts = ", ".join(f"{r['model']} {outcome(r)}" for r in records)
    counts = [f"{n} {o}" for o in (PROMOTED, KEPT, FAILED) if (n := sum(outcome(r) == o for r in records))]
    return f"Retrain {date}: {parts or 'no models'} ({', '.join(counts) or 'nothing decided'})"
