"""Champion choice, one day at a time from the history, and the retrain summary line, on records made up here."""

import math

import pytest

from pipeline.champions import (
    OutOfOrder,
    challenge,
    champions_before,
    decide,
    decide_day,
    effective,
    latest_champions,
    summary_line,
)
from tests.pipeline.names import MODELS

EVALS = {
    "TrainLogReg": {"val_accuracy": 0.92, "test_accuracy": 0.5},
    "TrainMLP": {"val_accuracy": 0.97, "test_accuracy": 0.5},
    "TrainDeepMLP": {"val_accuracy": 0.985, "test_accuracy": 0.5},
    "TrainCharRNN": {"val_loss": 1.70},
}
METRIC = {
    "TrainLogReg": "val_accuracy",
    "TrainMLP": "val_accuracy",
    "TrainDeepMLP": "val_accuracy",
    "TrainCharRNN": "val_loss",
}
FPS = {f: f.lower() * 4 for f in EVALS}


def run(champions, evaluations=EVALS, tolerance=0.0):
    return challenge(
        date="2026-12-01",
        evaluations=evaluations,
        fingerprints=FPS,
        champions=champions,
        tolerance=tolerance,
        data_version={"DownloadMNIST": "abc"},
        recorded="2026-12-01T03:00:00+00:00",
        artifacts={f: {"artifact": f"/a/{f}.joblib"} for f in EVALS},
        models=MODELS,
    )


def test_first_models_are_promoted_and_named_as_champions():
    records, promoted = run({})
    assert [r["model"] for r in records] == list(EVALS) and all(r["outcome"] == "promoted" for r in records)
    assert promoted["TrainMLP"]["artifact"] == "/a/TrainMLP.joblib" and promoted["TrainMLP"]["value"] == 0.97
    assert promoted["TrainMLP"]["date"] == "2026-12-01"  # the day it took effect
    assert summary_line("Retrain 2026-12-01", records) == (
        "Retrain 2026-12-01: TrainLogReg promoted, TrainMLP promoted, TrainDeepMLP promoted, "
        "TrainCharRNN promoted (4 promoted)"
    )


def test_better_worse_same_and_failed_challengers():
    champions = {
        "TrainLogReg": {"fingerprint": FPS["TrainLogReg"], "value": 0.92, "date": "2026-11-28"},  # itself
        "TrainMLP": {"fingerprint": "old", "value": 0.98},  # better than the challenger
        "TrainDeepMLP": {"fingerprint": "old", "value": 0.98},  # worse than the challenger
        "TrainCharRNN": {"fingerprint": "old", "value": 1.8},
    }
    evaluations = {**EVALS, "TrainCharRNN": {"val_loss": math.nan}}  # diverged
    records, promoted = run(champions, evaluations)
    assert {r["model"]: r["outcome"] for r in records} == {
        "TrainLogReg": "unchanged",
        "TrainMLP": "kept",
        "TrainDeepMLP": "promoted",
        "TrainCharRNN": "failed",
    }
    assert set(promoted) == {"TrainDeepMLP"}
    assert "already the champion since 2026-11-28" in records[0]["reason"] and "worse than" in records[1]["reason"]
    assert summary_line("Retrain 2026-12-01", records) == (
        "Retrain 2026-12-01: TrainLogReg unchanged since 2026-11-28, TrainMLP kept, TrainDeepMLP promoted, "
        "TrainCharRNN failed (1 promoted, 1 kept, 1 unchanged, 1 failed)"
    )
    # within the tolerance a slightly worse challenger is promoted; the loss metric is lower-is-better
    assert decide("TrainMLP", "mlp", 0.975, "new", champions["TrainMLP"], tolerance=0.01)[0]
    assert decide("TrainCharRNN", "char_rnn", 1.79, "new", champions["TrainCharRNN"], tolerance=0.0)[0]
    assert not decide("TrainCharRNN", "char_rnn", 1.81, "new", champions["TrainCharRNN"], tolerance=0.0)[0]


def test_summary_line_of_records_written_before_outcomes_existed():
    old = [
        {"model": "TrainLogReg", "promoted": False, "value": 0.9},
        {"model": "TrainMLP", "promoted": True, "value": 0.97},
    ]
    assert (
        summary_line("Retrain 2026-01-30", old)
        == "Retrain 2026-01-30: TrainLogReg kept, TrainMLP promoted (1 promoted, 1 kept)"
    )


def challengers(fingerprint="a", value=0.9):
    return {
        f: {
            "value": value if METRIC[f] == "val_accuracy" else 2 - value,
            "fingerprint": f"{f}-{fingerprint}",
            "artifacts": {"artifact": f"{f}/{fingerprint}"},
        }
        for f in EVALS
    }


def day(history, date, fingerprint="a", value=0.9, redecide=None, documents=None):
    new, decisions = decide_day(
        history,
        date=date,
        challengers=challengers(fingerprint, value),
        tolerance=0.0,
        recorded=f"{date}T06:00:00+00:00",
        data_version={},
        run={"config": fingerprint},
        redecide=redecide,
        documents=documents,
        models=MODELS,
    )
    history.extend(new)
    return new, decisions


def test_a_day_is_decided_once_in_date_order_against_the_end_of_the_day_before():
    history = []
    new, _ = day(history, "2026-12-04")
    assert [r["outcome"] for r in new] == ["promoted"] * 4 and new[0]["champion"] is None
    new, _ = day(history, "2026-12-05")
    assert [r["outcome"] for r in new] == ["unchanged"] * 4 and new[0]["champion"]["date"] == "2026-12-04"
    assert summary_line("Retrain 2026-12-05", new).startswith(
        "Retrain 2026-12-05: TrainLogReg unchanged since 2026-12-04,"
    )

    # the same day again (another configuration, another host): nothing appended, the day's decisions returned
    new, decisions = day(history, "2026-12-05", fingerprint="b", value=0.95)
    assert new == [] and decisions == history[4:8]
    assert summary_line("Retrain 2026-12-05", decisions, decided_now=False) == (
        "Retrain 2026-12-05: already decided at 2026-12-05T06:00:00+00:00 (TrainLogReg unchanged since 2026-12-04, "
        "TrainMLP unchanged since 2026-12-04, TrainDeepMLP unchanged since 2026-12-04, TrainCharRNN unchanged "
        "since 2026-12-04); nothing judged again"
    )
    # a day before a decided one cannot be decided
    with pytest.raises(OutOfOrder, match="2026-12-03 cannot be decided: 2026-12-04 was decided already"):
        day(history, "2026-12-03")
    assert len(history) == 8


def test_a_day_never_sees_a_champion_of_a_later_day():
    history = []
    day(history, "2026-12-04", "a", 0.90)
    day(history, "2026-12-06", "c", 0.95)  # promoted on the 6th
    assert latest_champions(history)["TrainMLP"]["fingerprint"] == "TrainMLP-c"
    assert champions_before(history, "2026-12-06")["TrainMLP"]["fingerprint"] == "TrainMLP-a"
    # a re-decision of the 5th is judged against the champion at the end of the 4th, not the one of the 6th
    new, _ = day(history, "2026-12-05", "b", 0.80, redecide="late data")
    assert new and {r["champion"]["fingerprint"] for r in new} == {f"{f}-a" for f in EVALS}
    assert all(r["outcome"] == "kept" for r in new)
    # champion documents stand in only for a family the history holds nothing of, and only from earlier days
    documents = {"TrainNew": {"fingerprint": "x", "value": 1.0, "date": "2026-12-09"}}
    assert "TrainNew" not in champions_before(history, "2026-12-07", documents)
    assert champions_before(history, "2026-12-10", documents)["TrainNew"]["fingerprint"] == "x"
    documents = {"TrainMLP": {"fingerprint": "x", "value": 1.0, "date": "2026-12-01"}}
    assert champions_before(history, "2026-12-05", documents)["TrainMLP"]["fingerprint"] == "TrainMLP-a"


def test_a_re_decision_is_recorded_as_such_once_per_reason_and_stands_for_its_day():
    history = []
    day(history, "2026-12-04", "a", 0.90)
    first, _ = day(history, "2026-12-05", "b", 0.80)  # worse: kept
    new, decisions = day(history, "2026-12-05", "c", 0.95, redecide="the evaluation set was wrong")
    assert new == decisions and all(r["outcome"] == "promoted" for r in new)
    assert new[0]["redecision"] == {
        "reason": "the evaluation set was wrong",
        "replaces": first[0]["recorded"],
        "was": "kept",
    }
    assert summary_line("Retrain 2026-12-05", new, redecision="the evaluation set was wrong").startswith(
        "Retrain 2026-12-05 re-decided (the evaluation set was wrong): TrainLogReg promoted,"
    )
    again, decisions = day(history, "2026-12-05", "d", 0.99, redecide="the evaluation set was wrong")
    assert again == [] and decisions == new  # the same re-decision is not taken twice
    assert [r["fingerprint"] for r in effective(history) if r["model"] == "TrainMLP"] == ["TrainMLP-a", "TrainMLP-c"]
    assert latest_champions(history)["TrainMLP"]["fingerprint"] == "TrainMLP-c"
    assert len(history) == 12  # appended, never rewritten


def test_models_are_judged_on_validation_data_and_a_champion_judged_on_test_data_gives_way():
    """Issue 31: a challenger's test accuracy never decides; a champion recorded under test_accuracy (before the
    validation split) is replaced, saying why."""
    champion = {"fingerprint": "old", "value": 0.99, "metric": "test_accuracy", "date": "2026-11-30"}
    promote, reason = decide("TrainMLP", "mlp", 0.95, "new", champion, 0.0)
    assert promote and "judged by test_accuracy" in reason
    champion = {**champion, "metric": "val_accuracy"}
    assert decide("TrainMLP", "mlp", 0.95, "new", champion, 0.0)[0] is False
    worse_on_test = {**EVALS, "TrainMLP": {"val_accuracy": 0.98, "test_accuracy": 0.1}}
    assert run({}, worse_on_test)  # decides without error, on val_accuracy alone
