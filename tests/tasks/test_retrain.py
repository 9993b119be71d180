"""Scheduled retraining: cache hits when nothing changed, new data flowing through, champions and history."""

import datetime
import hashlib
import json
import re

import pytest

import tasks
from tasks.retrain import read_history
from tests.conftest import write_mnist

DAY1, DAY2, DAY3 = datetime.date(2026, 1, 30), datetime.date(2026, 1, 31), datetime.date(2026, 2, 1)
MNIST_SIDE = {
    "DownloadMNIST",
    "OneHotMNIST",
    "TrainLogReg",
    "TrainMLP",
    "TrainDeepMLP",
    "EvaluateLogReg",
    "EvaluateMLP",
    "EvaluateDeepMLP",
    "FullReport",
}


def champion(pipeline, family):
    return json.loads((pipeline.root / "champions" / f"{family}.json").read_text())


def history_rows(report) -> list[tuple]:
    """(date, model, fingerprint prefix) of each row of the published page's history table."""
    page = (report / "index.html").read_text()
    assert page.count("History of scheduled retrains") == 1
    table = page.split("History of scheduled retrains", 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [tuple(re.findall(r"<td>(.*?)</td>", row)[:3]) for row in table.split("<tr>")[1:]]


def assert_history_published(pipeline):
    report = pipeline.root / "report"
    records = read_history()
    assert records and (report / "history.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(history_rows(report)) == sorted((r["date"], r["model"], r["fingerprint"][:16]) for r in records)
    published = json.loads((report / "provenance.json").read_text())
    assert published["fingerprint"] == tasks.FullReport().fingerprint()
    assert published["history"] == {
        "records": len(records),
        "sha256": hashlib.sha256((pipeline.root / "history.jsonl").read_bytes()).hexdigest(),
    }


def summary_lines(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tasks.retrain" and r.levelname == "INFO" and r.getMessage().startswith("Retrain ")
    ]


def test_retrain_twice_with_nothing_changed(built_pipeline, caplog):
    pipeline = built_pipeline  # the DAG built: the first retrain checks the sources and decides
    caplog.set_level("INFO", logger="tasks.retrain")
    assert pipeline.build(tasks.Retrain(date=DAY1)) == {"CheckSources", "Retrain"}
    first = read_history()
    assert len(first) == 4 and all(r["promoted"] for r in first)
    assert champion(pipeline, "TrainDeepMLP")["fingerprint"] == tasks.TrainDeepMLP().fingerprint()
    assert summary_lines(caplog) == [
        "Retrain 2026-01-30: TrainLogReg promoted, TrainMLP promoted, "
        "TrainDeepMLP promoted, TrainCharRNN promoted (4 promoted)"
    ]

    caplog.clear()
    assert pipeline.build(tasks.Retrain(date=DAY1)) == set()  # same day: nothing at all
    assert summary_lines(caplog) == []

    # every publish of the report carries the history: a rebuild after a configuration change ...
    assert_history_published(pipeline)
    pipeline.set("TrainLogReg", "epochs", "3")
    assert pipeline.build() == {"TrainLogReg", "EvaluateLogReg", "FullReport"}
    assert_history_published(pipeline)
    pipeline.set("TrainLogReg", "epochs", "2")  # ... the republish of a cached report ...
    assert pipeline.build() == {"FullReport"}
    assert_history_published(pipeline)
    (pipeline.root / "report").rename(pipeline.root / "report-lost")  # ... and of a lost one
    assert pipeline.build() == {"FullReport"}
    assert_history_published(pipeline)
    assert pipeline.build() == set()  # published from this fingerprint and this history: complete
    # next day: no model work; the report is republished with the new history (also when FullReport is
    # scheduled with it, as by a catch-up of several days)
    assert pipeline.build(tasks.FullReport(), tasks.Retrain(date=DAY2)) == {"CheckSources", "Retrain"}
    second = read_history()[4:]
    assert len(second) == 4 and not any(r["promoted"] for r in second)
    assert all("already the champion since 2026-01-30" in r["reason"] for r in second)
    assert summary_lines(caplog) == [
        "Retrain 2026-01-31: TrainLogReg unchanged since 2026-01-30, TrainMLP unchanged "
        "since 2026-01-30, TrainDeepMLP unchanged since 2026-01-30, TrainCharRNN "
        "unchanged since 2026-01-30 (4 unchanged)"
    ]

    assert_history_published(pipeline)
    dates = [row[0] for row in history_rows(pipeline.root / "report")]
    assert dates == [DAY2.isoformat()] * 4 + [DAY1.isoformat()] * 4  # newest first
    assert pipeline.build() == set()  # the republished report still counts as FullReport's


def test_new_data_release_reruns_the_data_stage_and_everything_downstream(built_pipeline, tmp_path, caplog):
    pipeline = built_pipeline
    mirror = tmp_path / "mirror"
    pipeline.set("DownloadMNIST", "mirrors", json.dumps([str(mirror)]))
    # the first release is the tests' data, which the DAG was built from: the same pins
    assert write_mnist(mirror) == json.loads(pipeline.get("DownloadMNIST", "sha256"))
    assert pipeline.build(tasks.Retrain(date=DAY1)) == {"CheckSources", "Retrain"}

    new_pins = write_mnist(mirror, release=1)  # the mirror now serves a new release
    assert pipeline.build(tasks.Retrain(date=DAY2)) == {"CheckSources", "Retrain"}  # pinned: still the old data
    assert any("changed since the last check" in r.message for r in caplog.records)

    pipeline.set("DownloadMNIST", "sha256", json.dumps(new_pins))  # adopt it
    assert pipeline.build(tasks.Retrain(date=DAY3)) == MNIST_SIDE | {"CheckSources", "Retrain"}
    versions = {r["date"]: r["data_version"]["DownloadMNIST"] for r in read_history() if r["model"] == "TrainMLP"}
    assert versions[DAY1.isoformat()] == versions[DAY2.isoformat()] != versions[DAY3.isoformat()]


def test_worse_challenger_is_kept_out_and_better_one_promoted(built_pipeline, caplog):
    pipeline = built_pipeline  # built with TrainLogReg's lr 0.1
    caplog.set_level("INFO", logger="tasks.retrain")
    assert pipeline.get("TrainLogReg", "lr") == "0.1"
    pipeline.build(tasks.Retrain(date=DAY1))
    good = champion(pipeline, "TrainLogReg")

    pipeline.set("TrainLogReg", "lr", "1e-7")  # barely trains: a worse challenger
    pipeline.build(tasks.Retrain(date=DAY2))
    assert champion(pipeline, "TrainLogReg") == good

    pipeline.set("TrainLogReg", "lr", "0.1")
    pipeline.set("TrainLogReg", "epochs", "6")  # trains longer: at least as good
    pipeline.build(tasks.Retrain(date=DAY3))
    better = champion(pipeline, "TrainLogReg")
    assert better["fingerprint"] == tasks.TrainLogReg().fingerprint() != good["fingerprint"]
    assert better["value"] >= good["value"]

    logreg = [r for r in read_history() if r["model"] == "TrainLogReg"]
    assert [r["promoted"] for r in logreg] == [True, False, True]
    assert "worse than the champion's" in logreg[1]["reason"]
    assert (pipeline.root / "history.jsonl").exists()
    lines = summary_lines(caplog)
    assert len(lines) == 3
    assert lines[1].startswith("Retrain 2026-01-31: TrainLogReg kept, TrainMLP unchanged since 2026-01-30,")
    assert lines[1].endswith("(1 kept, 3 unchanged)")
    assert lines[2].startswith("Retrain 2026-02-01: TrainLogReg promoted, TrainMLP unchanged since 2026-01-30,")
    assert lines[2].endswith("(1 promoted, 3 unchanged)")


def test_retrain_killed_after_writing_its_history_counts_its_day_as_decided(built_pipeline, caplog):
    pipeline = built_pipeline
    pipeline.build(tasks.Retrain(date=DAY1))
    # a retrain killed after writing its history and before saving its artifact, and a later append cut mid-line
    target = tasks.Retrain(date=DAY1).output()
    target.path.unlink()
    target.manifest_path.unlink()
    with open(pipeline.root / "history.jsonl", "a") as fh:
        fh.write('{"date": "2026-01-30", "model": "TrainL')
    assert pipeline.will_run() == {"FullReport"}  # the published report no longer shows history.jsonl as it is

    assert pipeline.build(tasks.Retrain(date=DAY1)) == set()  # the history holds the day: decided, once
    assert pipeline.build() == {"FullReport"}
    day1 = read_history()
    assert len(day1) == 4 and all(r["promoted"] for r in day1)  # the decisions taken the first time
    assert any("not a JSON record" in r.message for r in caplog.records)

    pipeline.build(tasks.Retrain(date=DAY2))  # the next day appends after the cut line, on a line of its own
    assert [r["date"] for r in read_history()] == [DAY1.isoformat()] * 4 + [DAY2.isoformat()] * 4


def day(n: int) -> datetime.date:
    return datetime.date(2026, 12, n)


def backfill(pipeline, start: int, stop: int) -> set[str]:
    """``luigi --module tasks RangeDaily --of Retrain --start 2026-12-<start> --stop 2026-12-<stop>``, run on 12-08."""
    from luigi.tools.range import RangeDaily

    now = int(datetime.datetime(2026, 12, 8, 6, tzinfo=datetime.timezone.utc).timestamp())
    return pipeline.build(RangeDaily(of=tasks.Retrain, start=day(start), stop=day(stop), now=now))


def decisions(records) -> list[tuple]:
    """(date, model, outcome) of each record, in file order."""
    return [(r["date"], r["model"], r["outcome"]) for r in records]


FAMILIES = ("TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN")


def test_backfill_decides_each_day_once_in_date_order_and_a_change_rewrites_no_past_day(built_pipeline, caplog):
    pipeline = built_pipeline  # the DAG built, no day decided yet
    caplog.set_level("INFO", logger="tasks.retrain")
    # 1. a backfill on an empty history decides the days oldest first, each against the day before
    assert backfill(pipeline, 4, 7) == {"CheckSources", "Retrain"}
    history = read_history()
    assert decisions(history) == [("2026-12-04", f, "promoted") for f in FAMILIES] + [
        (f"2026-12-0{d}", f, "unchanged") for d in (5, 6) for f in FAMILIES
    ]
    assert [r["recorded"] for r in history] == sorted(r["recorded"] for r in history)
    assert all(r["champion"]["date"] == "2026-12-04" for r in history[4:])
    assert summary_lines(caplog) == [
        (
            "Retrain 2026-12-04: TrainLogReg promoted, TrainMLP promoted, TrainDeepMLP promoted, TrainCharRNN promoted "
            "(4 promoted)"
        )
    ] + [
        f"Retrain 2026-12-0{d}: " + ", ".join(f"{f} unchanged since 2026-12-04" for f in FAMILIES) + " (4 unchanged)"
        for d in (5, 6)
    ]
    assert {champion(pipeline, f)["date"] for f in FAMILIES} == {"2026-12-04"}  # when each took effect

    # the same three days run one per day give the same history, record for record
    backfilled = history
    for name in ("history.jsonl", "champions", "Retrain", "CheckSources"):
        (pipeline.root / name).rename(pipeline.root / f"{name}-backfill")
    for n in (4, 5, 6):  # (the report is republished first, for the history it no longer finds)
        assert pipeline.build(tasks.Retrain(date=day(n))) - {"FullReport"} == {"CheckSources", "Retrain"}
    daily = read_history()
    without_time = [{k: v for k, v in r.items() if k != "recorded"} for r in backfilled]
    assert [{k: v for k, v in r.items() if k != "recorded"} for r in daily] == without_time
    history_file = (pipeline.root / "history.jsonl").read_bytes()

    # 2. a configuration change, then the same backfill: no past day runs again, nothing is appended
    pipeline.set("TrainLogReg", "epochs", "3")
    caplog.clear()
    assert backfill(pipeline, 4, 7) == set()
    assert (pipeline.root / "history.jsonl").read_bytes() == history_file and summary_lines(caplog) == []
    assert pipeline.will_run(tasks.Retrain(date=day(5))) == set()  # status agrees: the day is decided

    # the next day runs with today's configuration, against the champion at the end of the 6th; a second
    # retrain of the day in the same run (another tolerance) decided nothing, and says so (3.)
    assert pipeline.build(tasks.Retrain(date=day(7)), tasks.Retrain(date=day(7), tolerance=0.5)) == {
        "TrainLogReg",
        "EvaluateLogReg",
        "FullReport",
        "CheckSources",
        "Retrain",
    }
    history = read_history()
    seventh = history[12:]
    assert [(r["date"], r["model"]) for r in seventh] == [("2026-12-07", f) for f in FAMILIES]
    assert (
        seventh[0]["outcome"] in ("promoted", "kept") and seventh[0]["fingerprint"] == tasks.TrainLogReg().fingerprint()
    )
    assert seventh[0]["config"] != history[0]["config"] and {r["config"] for r in history[:12]} == {
        history[0]["config"]
    }
    assert all(r["code_version"] for r in history)
    assert [r["outcome"] for r in seventh[1:]] == ["unchanged"] * 3
    first, second = summary_lines(caplog)
    assert first.startswith(
        f"Retrain 2026-12-07: TrainLogReg {seventh[0]['outcome']}, TrainMLP unchanged since 2026-12-04"
    )
    assert second == (
        f"Retrain 2026-12-07: already decided at {seventh[0]['recorded']} (TrainLogReg "
        f"{seventh[0]['outcome']}, TrainMLP unchanged since 2026-12-04, TrainDeepMLP unchanged since "
        "2026-12-04, TrainCharRNN unchanged since 2026-12-04); nothing judged again"
    )
    assert len({(r["date"], r["model"]) for r in history}) == len(history) == 16  # each day once
    assert_history_published(pipeline)

    # a day whose predecessor never ran waits for it; a day before a decided day cannot be decided
    caplog.clear()
    assert pipeline.build(tasks.Retrain(date=day(9))) == {"CheckSources", "Retrain"}
    assert [r["date"] for r in read_history()[16:]] == ["2026-12-08"] * 4 + ["2026-12-09"] * 4
    assert [line[:18] for line in summary_lines(caplog)] == ["Retrain 2026-12-08", "Retrain 2026-12-09"]
    error = pipeline.build_failing(tasks.Retrain(date=day(1)))
    assert "2026-12-01 cannot be decided: 2026-12-04 was decided already" in str(error)
    assert len(read_history()) == 24


def test_a_re_decision_is_explicit_recorded_as_such_and_shown_once(built_pipeline, caplog):
    pipeline = built_pipeline
    caplog.set_level("INFO", logger="tasks.retrain")
    pipeline.build(tasks.Retrain(date=day(4)))
    pipeline.build(tasks.Retrain(date=day(5)))
    pipeline.set("TrainLogReg", "lr", "1e-7")  # barely trains: worse than the champion of the 4th
    redo = tasks.Retrain(date=day(5), redecide=True, reason="the 5th ran before the fix")
    assert not redo.complete() and tasks.Retrain(date=day(5)).complete()
    assert pipeline.build(redo) == {"TrainLogReg", "EvaluateLogReg", "FullReport", "Retrain"}
    history = read_history()
    assert len(history) == 12 and decisions(history[8:]) == [("2026-12-05", "TrainLogReg", "kept")] + [
        ("2026-12-05", f, "unchanged") for f in FAMILIES[1:]
    ]
    assert history[8]["redecision"] == {
        "reason": "the 5th ran before the fix",
        "replaces": history[4]["recorded"],
        "was": "unchanged",
    }
    assert history[8]["champion"]["date"] == "2026-12-04"
    assert summary_lines(caplog)[-1].startswith(
        "Retrain 2026-12-05 re-decided (the 5th ran before the fix): TrainLogReg kept, TrainMLP unchanged since"
    )
    assert pipeline.build(redo) == set()  # taken once
    rows = history_rows(pipeline.root / "report")
    assert len(rows) == 8 and sorted(rows) == sorted(
        {(r["date"], r["model"], r["fingerprint"][:16]) for r in history[:4] + history[8:]}
    )
    page = (pipeline.root / "report" / "index.html").read_text()
    assert page.count("re-decided") == 4 and "the 5th ran before the fix; was unchanged" in page


def test_a_backfill_with_two_workers_decides_every_day_once_in_date_order(built_pipeline, tmp_path):
    """Issue 33, item 3: ``RangeDaily --of Retrain --workers 2`` on an empty history. Each day of the range
    requires the day before it (a dependency, not a priority), so two workers decide 12-02 to 12-06 one
    after the other: none is refused as out of order, no ``Unfulfilled dependency at run time`` (a day
    starts once the day before has republished the report), and no traceback from the progress lines."""
    from luigi.tools.range import RangeDaily

    from tests.tasks.conftest import luigi_process

    pipeline = built_pipeline  # the DAG built, no day decided yet: the days' decisions are what runs
    now = int(datetime.datetime(2026, 12, 8, 6, tzinfo=datetime.timezone.utc).timestamp())
    # the dependency, as the scheduling process sees it once RangeDaily has asked which days are decided
    RangeDaily(of=tasks.Retrain, start=day(2), stop=day(7), now=now).requires()
    assert [
        tasks.Retrain(date=day(n)).requires().get("previous") == tasks.Retrain(date=day(n - 1)) for n in range(2, 7)
    ] == [False, True, True, True, True]

    def backfill_with_two_workers() -> str:
        args = ("RangeDaily", "--of", "Retrain", "--start", "2026-12-02", "--stop", "2026-12-07", "--now", str(now))
        proc = luigi_process(pipeline, tmp_path, *args, "--workers", "2")
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-4000:]
        return out

    out = backfill_with_two_workers()
    for problem in ("Traceback", "KeyError", "Unfulfilled dependency", "cannot be decided"):
        assert problem not in out, out[-4000:]
    history = read_history()
    assert decisions(history) == [("2026-12-02", f, "promoted") for f in FAMILIES] + [
        (f"2026-12-0{d}", f, "unchanged") for d in (3, 4, 5, 6) for f in FAMILIES
    ]
    assert [r["recorded"] for r in history] == sorted(r["recorded"] for r in history)
    assert_history_published(pipeline)
    history_file = (pipeline.root / "history.jsonl").read_bytes()
    out = backfill_with_two_workers()  # the rerun finds every day decided
    assert (pipeline.root / "history.jsonl").read_bytes() == history_file
    assert "Traceback" not in out


def test_a_date_far_ahead_of_the_history_is_refused_with_one_line(built_pipeline, tmp_path):
    pipeline = built_pipeline
    """Issue 33, item 8: a day waits for the days between it and the history's last day, at most
    ``MAX_CATCH_UP_DAYS`` of them; a date further ahead is refused before any work, in one line, exit 3
    (it used to recurse through every day in between, a RecursionError shown as a configuration error)."""
    from stagecache.configcheck import ConfigError, checked_task
    from tests.tasks.conftest import luigi_process

    pipeline.build(tasks.Retrain(date=day(4)))
    proc = luigi_process(pipeline, tmp_path, "Retrain", "--date", "2099-01-01")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 3, out
    assert "2099-01-01 is 26326 days after the last day decided" in out
    assert "Recursion" not in out and "Traceback" not in out

    last = tasks.Retrain.MAX_CATCH_UP_DAYS
    furthest = tasks.Retrain(date=day(4) + datetime.timedelta(days=last))
    assert furthest.requires()["previous"] == tasks.Retrain(date=furthest.date - datetime.timedelta(days=1))
    with pytest.raises(ConfigError) as refused, checked_task(["Retrain", "--date", "2099-01-01"]):
        pass
    (line,) = refused.value.problems
    assert "2099-01-01 is 26326 days after the last day decided in" in line and "(2026-12-04)" in line
    assert f"at most {last}" in line and "from 2026-12-05" in line
    too_far = (day(4) + datetime.timedelta(days=last + 1)).isoformat()
    with pytest.raises(ConfigError, match=f"is {last + 1} days after"), checked_task(["Retrain", "--date", too_far]):
        pass
    assert len(read_history()) == 4


def test_of_two_retrains_of_one_day_at_once_only_the_one_that_decides_logs_the_decision(built_pipeline, caplog):
    """Issue 33 item 10: the second of two simultaneous Retrains of one day waits for the first's artifact under
    its build guard, finds it, and ran after_save too, logging the first's decision line a second time; it now
    says ``already decided``, as a second host does on an object store. Here
    the second is what it runs once the first is done: Retrain's run() on a fresh instance, its day not yet in
    the history it read when luigi scheduled it."""
    from luigi.task_register import Register

    pipeline = built_pipeline
    caplog.set_level("INFO", logger="tasks.retrain")
    assert "Retrain" in pipeline.build(tasks.Retrain(date=DAY1))
    assert len(summary_lines(caplog)) == 1
    caplog.clear()
    Register.clear_instance_cache()  # another process: nothing of the first run's task objects
    second = tasks.Retrain(date=DAY1)
    second.run()
    lines = summary_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("Retrain 2026-01-30: already decided at "), lines
    assert len(read_history()) == 4  # decided once
