"""Champion choice and the retrain summary line, on records made up here."""
import math

from pipeline.champions import challenge, decide, summary_line

EVALS = {"TrainLogReg": {"test_accuracy": 0.92}, "TrainMLP": {"test_accuracy": 0.97},
         "TrainDeepMLP": {"test_accuracy": 0.985}, "TrainCharRNN": {"val_loss": 1.70}}
FPS = {f: f.lower() * 4 for f in EVALS}


def run(champions, evaluations=EVALS, tolerance=0.0):
    return challenge(date="2026-12-01", evaluations=evaluations, fingerprints=FPS, champions=champions,
                     tolerance=tolerance, data_version={"DownloadMNIST": "abc"}, recorded="2026-12-01T03:00:00+00:00",
                     artifacts={f: {"artifact": f"/a/{f}.joblib"} for f in EVALS})


def test_first_models_are_promoted_and_named_as_champions():
    records, promoted = run({})
    assert [r["model"] for r in records] == list(EVALS) and all(r["outcome"] == "promoted" for r in records)
    assert promoted["TrainMLP"]["artifact"] == "/a/TrainMLP.joblib" and promoted["TrainMLP"]["value"] == 0.97
    assert summary_line("2026-12-01", records) == (
        "Retrain 2026-12-01: TrainLogReg promoted, TrainMLP promoted, TrainDeepMLP promoted, "
        "TrainCharRNN promoted (4 promoted)")


def test_better_worse_same_and_failed_challengers():
    champions = {
        "TrainLogReg": {"fingerprint": FPS["TrainLogReg"], "value": 0.92},  # itself
        "TrainMLP": {"fingerprint": "old", "value": 0.98},  # better than the challenger
        "TrainDeepMLP": {"fingerprint": "old", "value": 0.98},  # worse than the challenger
        "TrainCharRNN": {"fingerprint": "old", "value": 1.8},
    }
    evaluations = {**EVALS, "TrainCharRNN": {"val_loss": math.nan}}  # diverged
    records, promoted = run(champions, evaluations)
    assert {r["model"]: r["outcome"] for r in records} == {
        "TrainLogReg": "kept", "TrainMLP": "kept", "TrainDeepMLP": "promoted", "TrainCharRNN": "failed"}
    assert set(promoted) == {"TrainDeepMLP"}
    assert "already the champion" in records[0]["reason"] and "worse than" in records[1]["reason"]
    assert summary_line("2026-12-01", records) == (
        "Retrain 2026-12-01: TrainLogReg kept, TrainMLP kept, TrainDeepMLP promoted, TrainCharRNN failed "
        "(1 promoted, 2 kept, 1 failed)")
    # within the tolerance a slightly worse challenger is promoted; the loss metric is lower-is-better
    assert decide("TrainMLP", 0.975, "new", champions["TrainMLP"], tolerance=0.01)[0]
    assert decide("TrainCharRNN", 1.79, "new", champions["TrainCharRNN"], tolerance=0.0)[0]
    assert not decide("TrainCharRNN", 1.81, "new", champions["TrainCharRNN"], tolerance=0.0)[0]


def test_summary_line_of_records_written_before_outcomes_existed():
    old = [{"model": "TrainLogReg", "promoted": False, "value": 0.9}, {"model": "TrainMLP", "promoted": True,
                                                                       "value": 0.97}]
    assert summary_line("2026-01-30", old) == "Retrain 2026-01-30: TrainLogReg kept, TrainMLP promoted (1 promoted, 1 kept)"


def test_a_champion_this_challenger_became_today_is_today_s_decision_again():
    """A second retrain of the day (run again, or racing on another host) records the day's promotion, not
    "already the champion"; on another day the same model is kept as itself."""
    records, promoted = run({})
    today = dict(promoted)
    again, promoted_again = run(today)
    assert again == records and promoted_again == {}
    tomorrow, _ = challenge(date="2026-12-02", evaluations=EVALS, fingerprints=FPS, champions=today, tolerance=0.0,
                            data_version={}, recorded="2026-12-02T03:00:00+00:00")
    assert all(r["outcome"] == "kept" and "already the champion" in r["reason"] for r in tomorrow)
