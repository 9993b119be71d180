"""Champion/challenger, one scheduled day at a time, and what the retrain history says.

``history.jsonl`` is the record of every decision: one line per (day, model), appended once and
never rewritten. A day is decided once, in date order, against the champion as it stood at the end
of the previous day, which is read from the history itself (:func:`champions_before`); a re-decision
of a day is a new line that says so (``redecision``) and, from then on, stands for that day
(:func:`effective`). Everything here is pure: the caller reads and appends the file.

A record's ``model`` is the caller's name for the model (the stage that trained it); ``models``
(``{name: model key}``, see :mod:`pipeline.report.references`) says which model each name is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pipeline.report.references import names

# The metric each model is judged by (by its key in pipeline.report.references.MODELS), and whether higher is better.
METRICS = {
    "logreg": ("val_accuracy", True),
    "mlp": ("val_accuracy", True),
    "deep_mlp": ("val_accuracy", True),
    "char_rnn": ("val_loss", False),
}
PROMOTED, KEPT, UNCHANGED, FAILED = "promoted", "kept", "unchanged", "failed"
OUTCOMES = (PROMOTED, KEPT, UNCHANGED, FAILED)
# Written by older versions into every record of the champion: fields of a record that a champion document
# also carries (the document adds its artifacts' references).
RECORD_FIELDS = (
    "date",
    "model",
    "fingerprint",
    "metric",
    "value",
    "data_version",
    "promoted",
    "reason",
    "recorded",
    "outcome",
)


class OutOfOrder(RuntimeError):
    """A day cannot be decided truthfully: a later day was decided already."""


def decide(
    name: str, model: str, value: float, fingerprint: str, champion: dict | None, tolerance: float
) -> tuple[bool, str]:
    """``(promote, reason)`` for a challenger of the model ``model`` (a key of ``METRICS``), named ``name``, with
    metric ``value`` against the current ``champion``.

    The challenger wins when it is at least as good as the champion, allowing ``tolerance``
    (accuracy may be lower, or loss higher, by at most that much). A model never replaces itself,
    and a challenger whose metric is NaN or infinite never wins. A champion judged by another metric
    (the MNIST models were judged by test accuracy before they had a validation split) is replaced.
    """
    metric, higher_is_better = METRICS[model]
    if not math.isfinite(value):
        return False, f"{metric} is {value}: the challenger failed"
    if champion is None:
        return True, f"first {name} model: {metric} {value:.4f}"
    if champion["fingerprint"] == fingerprint:
        since = f" since {champion['date']}" if champion.get("date") else ""
        return False, f"already the champion{since} ({metric} {value:.4f})"
    if champion.get("metric", metric) != metric:
        return True, (
            f"{metric} {value:.4f}: the champion was judged by {champion['metric']}, which no longer decides "
            f"(selection moved to held-out data)"
        )
    best = champion["value"]
    good_enough = value >= best - tolerance if higher_is_better else value <= best + tolerance
    relation = "at least as good as" if good_enough else "worse than"
    return good_enough, f"{metric} {value:.4f} is {relation} the champion's {best:.4f} (tolerance {tolerance})"


def judge(
    *,
    name: str,
    model: str,
    date: str,
    value: float,
    fingerprint: str,
    champion: dict | None,
    tolerance: float,
    data_version: dict,
    recorded: str,
    artifacts: dict | None = None,
    run: dict | None = None,
) -> dict:
    """The history record of the challenger of the model ``model`` named ``name`` on ``date`` against
    ``champion`` (the champion at the end of the previous day, or None).

    ``run`` is what the decision ran with (``config``: the configuration's fingerprint,
    ``code_version``), ``artifacts`` the references of the challenger's files (what a champion
    document, and gc, name).
    """
    metric, _ = METRICS[model]
    value = float(value)
    promote, reason = decide(name, model, value, fingerprint, champion, tolerance)
    if promote:
        result = PROMOTED
    elif not math.isfinite(value):
        result = FAILED
    elif champion is not None and champion["fingerprint"] == fingerprint:
        result = UNCHANGED
    else:
        result = KEPT
    return {
        "date": date,
        "model": name,
        "fingerprint": fingerprint,
        "metric": metric,
        "value": value,
        "data_version": data_version,
        "promoted": promote,
        "reason": reason,
        "recorded": recorded,
        "outcome": result,
        "tolerance": tolerance,
        **(run or {}),
        "artifacts": dict(artifacts or {}),
        "champion": None if champion is None else {k: champion.get(k) for k in ("date", "fingerprint", "value")},
    }


def challenge(
    *,
    date: str,
    evaluations: dict[str, dict],
    fingerprints: dict[str, str],
    champions: dict[str, dict | None],
    tolerance: float,
    data_version: dict,
    recorded: str,
    artifacts: dict[str, dict] | None = None,
    run: dict | None = None,
    models: Mapping[str, str],
) -> tuple[list[dict], dict[str, dict]]:
    """Judge every model of ``METRICS`` against its champion (:func:`judge`); the arguments hold each model
    by its name, ``models`` says which model each name is.

    Returns one history record per model, in ``METRICS`` order, and the champion document of
    each model that was promoted (:func:`champion_document`), by name.
    """
    records, promoted = [], {}
    name_of = names(models)
    for model, (metric, _) in METRICS.items():
        name = name_of[model]
        record = judge(
            name=name,
            model=model,
            date=date,
            value=evaluations[name][metric],
            fingerprint=fingerprints[name],
            champion=champions.get(name),
            tolerance=tolerance,
            data_version=data_version,
            recorded=recorded,
            artifacts=(artifacts or {}).get(name),
            run=run,
        )
        if record["promoted"]:
            promoted[name] = champion_document(record)
        records.append(record)
    return records, promoted


def champion_document(record: dict) -> dict:
    """What ``champions/<name>.json`` holds for a promoted record: the record (its ``date`` is the day the
    champion took effect) and its artifacts' references (``artifact``, ``evaluation``)."""
    return {**record, **(record.get("artifacts") or {})}


# The history ------------------------------------------------------------------------------------------


def effective(history: list[dict]) -> list[dict]:
    """One record per (day, model): the last one appended (a re-decision stands for its day), ordered by day,
    then as appended. Records of older versions, which could hold several for one day, read the same way."""
    last: dict[tuple, int] = {}
    for position, record in enumerate(history):
        last[(record.get("date"), record.get("model"))] = position
    kept = sorted(last.values())
    return sorted((history[p] for p in kept), key=lambda r: str(r.get("date")))


def decided_days(history: list[dict]) -> set[str]:
    """The days the history holds a decision for."""
    return {r["date"] for r in history if isinstance(r.get("date"), str)}


def redecided(history: list[dict], date: str, reason: str) -> bool:
    """Whether ``date`` was re-decided for ``reason`` already."""
    return any(r.get("date") == date and (r.get("redecision") or {}).get("reason") == reason for r in history)


def champions_before(history: list[dict], date: str, documents: dict[str, dict] | None = None) -> dict[str, dict]:
    """Each model's champion, by name, as it stood at the end of the day before ``date``: its last promotion
    before ``date`` (the effective record of each day). ``documents`` (``champions/<name>.json``) stand in only
    for a model the history holds nothing of (a history kept elsewhere, or lost), and only if they took effect
    before ``date``: a day is never judged against a champion of a later day."""
    found: dict[str, dict] = {}
    seen = set()
    for record in effective(history):
        seen.add(record.get("model"))
        if record.get("date", "") < date and record.get("promoted"):
            found[record["model"]] = champion_document(record)
    for name, document in (documents or {}).items():
        if name not in seen and document and str(document.get("date", "")) < date:
            found[name] = document
    return found


def latest_champions(history: list[dict]) -> dict[str, dict]:
    """Each model's champion, by name, after every day of the history (what ``champions/`` should hold)."""
    return champions_before(history, "\uffff")


def decide_day(
    history: list[dict],
    *,
    date: str,
    challengers: dict[str, dict],
    models: Mapping[str, str],
    tolerance: float,
    recorded: str,
    data_version: dict,
    run: dict | None = None,
    redecide: str | None = None,
    documents: dict[str, dict] | None = None,
) -> tuple[list[dict], list[dict]]:
    """``(records to append, the day's decisions)`` for ``date`` given the ``history`` as it is now.

    ``challengers[name]`` holds ``value``, ``fingerprint`` and ``artifacts`` of every model of ``METRICS``
    by its name (``models``: ``{name: model key}``). A day already
    decided is not decided again: nothing to append, and the decisions are those recorded
    (so is a re-decision already taken for the same ``redecide`` reason). A day before a day
    already decided cannot be decided (:class:`OutOfOrder`), except as a re-decision, which
    is judged like the day itself was (against the champion at the end of the previous day)
    and records why, when and what it replaces; later days stand as they were decided.
    """
    current = effective(history)
    day = [r for r in current if r.get("date") == date]
    if day and (redecide is None or redecided(history, date, redecide)):
        return [], day
    if redecide is None:
        later = sorted(d for d in decided_days(history) if d > date)
        if later:
            raise OutOfOrder(
                f"{date} cannot be decided: {later[0]} was decided already, and days are decided in date order "
                f"(each against the champion at the end of the day before). A day before the first one the "
                f"history holds was never scheduled; to take a decided day's decision again, re-decide it "
                f"(--redecide --reason ...)"
            )
    champions = champions_before(history, date, documents)
    replaced = {r["model"]: r for r in day}
    records = []
    name_of = names(models)
    for model in METRICS:
        name = name_of[model]
        challenger = challengers[name]
        record = judge(
            name=name,
            model=model,
            date=date,
            value=challenger["value"],
            fingerprint=challenger["fingerprint"],
            champion=champions.get(name),
            tolerance=tolerance,
            data_version=data_version,
            recorded=recorded,
            artifacts=challenger.get("artifacts"),
            run=run,
        )
        if redecide is not None and name in replaced:
            old = replaced[name]
            record["redecision"] = {"reason": redecide, "replaces": old.get("recorded"), "was": outcome(old)}
        records.append(record)
    return records, records


# Reading records ----------------------------------------------------------------------------------------


def outcome(record: dict) -> str:
    """``promoted``, ``kept``, ``unchanged`` or ``failed`` for a history record (older records carry no
    ``outcome``; theirs is promoted, kept or failed)."""
    if "outcome" in record:
        return record["outcome"]
    return PROMOTED if record["promoted"] else KEPT if math.isfinite(record["value"]) else FAILED


def describe(record: dict) -> str:
    """One model's part of the summary line: ``<name> promoted``, ``<name> unchanged since 2026-12-01``."""
    result = outcome(record)
    since = (record.get("champion") or {}).get("date")
    if result == UNCHANGED and since:
        return f"{record['model']} unchanged since {since}"
    return f"{record['model']} {result}"


def summary_line(title: str, records: list[dict], decided_now: bool = True, redecision: str | None = None) -> str:
    """One line for cron's mail or the log, starting with ``title`` (the day's run: ``<stage> <date>``).

    A day decided by this run: ``<title>: <name> promoted, <name> unchanged since 2026-12-01, <name> kept, ...
    (1 promoted, 1 kept, 2 unchanged)``; a re-decision says so and why. A day this run found decided already
    (by an earlier run, or another host at the same time) says that, and when, and counts nothing:
    ``<title>: already decided at <recorded> (<name> promoted, ...); nothing judged again``.
    """
    parts = ", ".join(describe(r) for r in records) or "no models"
    if not decided_now:
        when = max((str(r.get("recorded", "")) for r in records), default="")
        at = f" at {when}" if when else ""
        return f"{title}: already decided{at} ({parts}); nothing judged again"
    counts = [f"{n} {o}" for o in OUTCOMES if (n := sum(outcome(r) == o for r in records))]
    head = title + (f" re-decided ({redecision})" if redecision else "")
    return f"{head}: {parts} ({', '.join(counts) or 'nothing decided'})"
