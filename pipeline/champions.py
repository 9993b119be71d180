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


RECORD_FIELDS = ("date", "model", "fingerprint", "metric", "value", "data_version", "promoted", "reason",
                 "recorded", "outcome")


def judge(*, family: str, date: str, value: float, fingerprint: str, champion: dict | None, tolerance: float,
          data_version: dict, recorded: str, artifacts: dict | None = None) -> tuple[dict, dict | None]:
    """``(history record, new champion record or None)`` for one family's challenger against ``champion``.

    A champion that this very challenger became on this same ``date`` is that day's decision
    (a retrain of the day run again, or a second host retraining the same day at once): its
    record is returned again, so every run of the day records the one promotion.
    """
    if champion is not None and champion.get("date") == date and champion.get("fingerprint") == fingerprint:
        return {k: champion[k] for k in RECORD_FIELDS if k in champion}, None
    metric, _ = METRICS[family]
    value = float(value)
    promote, reason = decide(family, value, fingerprint, champion, tolerance)
    record = {
        "date": date, "model": family, "fingerprint": fingerprint, "metric": metric, "value": value,
        "data_version": data_version, "promoted": promote, "reason": reason, "recorded": recorded,
        "outcome": PROMOTED if promote else KEPT if math.isfinite(value) else FAILED,
    }
    return record, ({**record, **(artifacts or {})} if promote else None)


def challenge(*, date: str, evaluations: dict[str, dict], fingerprints: dict[str, str],
              champions: dict[str, dict | None], tolerance: float, data_version: dict, recorded: str,
              artifacts: dict[str, dict] | None = None) -> tuple[list[dict], dict[str, dict]]:
    """Judge every family of ``METRICS`` against its champion (:func:`judge`).

    ``evaluations[family]`` holds the metric, ``fingerprints[family]`` the challenger's
    training fingerprint, ``champions[family]`` the current champion record (or None),
    ``artifacts[family]`` what a new champion record should also name (its files).
    Returns one history record per family, in ``METRICS`` order, and the new champion
    record of each family that was promoted.
    """
    records, promoted = [], {}
    for family, (metric, _) in METRICS.items():
        record, champion = judge(
            family=family, date=date, value=evaluations[family][metric], fingerprint=fingerprints[family],
            champion=champions.get(family), tolerance=tolerance, data_version=data_version, recorded=recorded,
            artifacts=(artifacts or {}).get(family))
        if champion is not None:
            promoted[family] = champion
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
