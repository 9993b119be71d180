"""What a run logs (the engine's progress lines): the plan, ``stage k/N`` lines, one final table, with luigi's
lines, timestamped; on the toy DAG through ``luigi --module toydag``, and on stand-in stages. (A training's epoch
lines and the per-epoch estimates: tests/tasks/test_progress.py.)"""

from __future__ import annotations

import logging
import re
import time

import pytest


def _messages(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


class _Stage:
    """Just what the progress tracker reads of a task."""

    def __init__(self, family, report_dir=None):
        self.task_id, self.family, self.report_dir = family, family, report_dir

    def get_task_family(self):
        return self.family

    def result_link(self):
        page = None if self.report_dir is None else self.report_dir / "index.html"
        return page.resolve().as_uri() if page is not None and page.is_file() else None


def test_a_failed_stage_ends_the_run_with_its_dependents_not_run_and_the_report_link(tmp_path, caplog, monkeypatch):
    from stagecache.run import progress

    monkeypatch.setattr(progress, "latest_manifest", lambda task: {"duration_s": 12.0})
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("<html></html>")
    data, left, right, report = (
        _Stage("Data"),
        _Stage("Left"),
        _Stage("Right"),
        _Stage("Report", report_dir=tmp_path / "report"),
    )
    run = progress.RunProgress()
    caplog.set_level(logging.INFO, logger="stagecache.run.progress")
    run.present(data)
    run.discovered(report, left)
    run.discovered(report, right)
    run.discovered(left, data)
    run.discovered(right, data)
    run.start(right)
    run.success(right)
    assert "summary of this run:" not in _messages(caplog, "stagecache.run.progress")  # Left has still to run
    run.start(left)
    run.failure(left, RuntimeError("boom"))
    lines = _messages(caplog, "stagecache.run.progress")
    assert lines[:5] == [
        "plan: 3 stage(s) to run, 1 cached; estimate 36s from earlier runs",
        "  Left    ~12s last time",
        "  Right   ~12s last time",
        "  Report  ~12s last time",
        "  cached: Data",
    ]
    # k counts starts: Right started first although the plan lists Left first
    assert [m for m in lines if m.startswith("stage ")] == [
        "stage 1/3: Right started",
        "stage 1/3: Right done in 0.0s",
        "stage 2/3: Left started",
        "stage 2/3: Left failed after 0.0s",
    ]
    table = lines[lines.index("summary of this run:") + 2 :]
    assert [row.split()[:2] for row in table[:4]] == [
        ["Data", "cached"],
        ["Right", "ran"],
        ["Left", "failed"],
        ["Report", "not"],
    ]
    assert "not run: needs a failed stage" in table[3]
    assert table[4] == f"report: {(tmp_path / 'report' / 'index.html').resolve().as_uri()}"


def test_tasks_luigi_adds_at_run_time_are_counted_in_the_run_not_a_keyerror(caplog, monkeypatch):
    """Issue 33, item 3: luigi meets tasks again, or new ones, while stages run (a day's ``Retrain`` added
    as ``RangeDaily`` runs, a dependency checked again); their events, from this process or a worker
    process, belong to the run: no ``KeyError``, no second plan, and each is in the closing table."""
    from stagecache.run import progress

    monkeypatch.setattr(progress, "latest_manifest", lambda task: None)
    data, day1, day2, late = _Stage("Data"), _Stage("Day1"), _Stage("Day2"), _Stage("Late")
    run = progress.RunProgress()
    caplog.set_level(logging.INFO, logger="stagecache.run.progress")
    run.present(data)
    run.discovered(day1, data)
    run.start(day1)
    run.present(data)  # met again by scheduling while Day1 runs
    run.discovered(day2, data)  # a task added at run time
    run.success(day1)
    run.from_child(
        {"event": "start", "task_id": day2.task_id, "family": "Day2", "params": {}, "time": time.time()}
    )  # as a worker process sends it (Day2 is known to this process)
    run.failure(late, RuntimeError("Unfulfilled dependency at run time"))  # ends without a start
    run.success(day2)
    lines = _messages(caplog, "stagecache.run.progress")
    assert [m for m in lines if m.startswith("plan:")] == [
        "plan: 1 stage(s) to run, 1 cached; no earlier runs to estimate from"
    ]
    assert [m for m in lines if m.startswith("stage ")] == [
        "stage 1/1: Day1 started",
        "stage 1/2: Day1 done in 0.0s",
        "stage 2/2: Day2 started",
        "stage 3/3: Late failed after 0.0s",
        "stage 2/3: Day2 done in 0.0s",
    ]
    table = lines[lines.index("summary of this run:") + 2 :]
    assert [row.split()[:2] for row in table] == [
        ["Data", "cached"],
        ["Day1", "ran"],
        ["Day2", "ran"],
        ["Late", "failed"],
    ]


def _luigi(toy, tmp_path, *args: str) -> str:
    """What ``luigi --module toydag ARGS`` (a subprocess, the test's configuration) printed; it must succeed."""
    process = toy.start(tmp_path, *args)
    out = process.communicate(timeout=120)[0]
    assert process.returncode == 0, out[-3000:]
    return out


@pytest.mark.parametrize("root, workers", [("MakeNumbers", 1), ("Square", 2), ("MakeNumbers", 2)])
def test_luigis_command_line_logs_timestamped_progress(toy_dir, tmp_path, root, workers):
    """Luigi's lines and ours carry the time; with --workers N the stages run in forked
    processes and the scheduling process still logs the plan, every stage and the table."""
    out = _luigi(toy_dir, tmp_path, root, "--workers", str(workers))
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO: "
    stages = ["MakeNumbers", "Square"][: 2 if root == "Square" else 1]
    n = len(stages)
    lines = [rf"stagecache.run.progress: plan: {n} stage\(s\) to run, 0 cached; no earlier runs to estimate from"]
    for k, family in enumerate(stages, 1):
        lines += [
            f"stagecache.run.progress: stage {k}/{n}: {family} started",
            rf"stagecache.run.progress: stage {k}/{n}: {family} done in [\d.]+s",
        ]
    lines += ["stagecache.run.progress: summary of this run:"] + [
        rf"stagecache.run.progress:   {f} +ran +[\d.]+" for f in stages
    ]
    lines += [f"Running Worker with {workers} process", "Done scheduling tasks"]  # luigi's own lines
    for line in lines:
        assert re.search(f"^{stamp}{line}", out, re.M), (line, out[-3000:])
    assert out.count("summary of this run:") == 1


def test_log_level_warning_quiets_luigis_lines_and_the_pipelines(toy_dir, tmp_path):
    out = _luigi(toy_dir, tmp_path, "Square", "--log-level", "WARNING")
    assert " INFO: " not in out, out[-3000:]
    assert toy_dir.output(toy_dir.package.Square()).exists()  # it ran, quietly


def _report_in_child(queue):
    from stagecache.run import progress

    queue.put(progress.CHILD_EVENTS.in_child())


# JAX (imported by earlier tests in this process) warns at any fork; the child only reads a flag.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_only_luigis_worker_processes_send_their_events_to_the_scheduling_process():
    """A process forked for other work (which may run a luigi.build of its own) logs its own run."""
    import multiprocessing

    from stagecache.run import progress

    assert progress.CHILD_EVENTS.owner is not None and not progress.CHILD_EVENTS.in_child()
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_report_in_child, args=(queue,))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) is False


def test_a_run_with_nothing_to_do_says_so(toy_dir, tmp_path):
    _luigi(toy_dir, tmp_path / "run", "MakeNumbers")
    again = _luigi(toy_dir, tmp_path / "rerun", "MakeNumbers")
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO: stagecache.run.progress: nothing to run: MakeNumbers is up to date$",
        again,
        re.M,
    ), again[-3000:]
    assert "summary of this run:" not in again and "plan:" not in again


def test_settle_returns_once_every_event_sent_before_it_is_delivered():
    """What ``progress.settle()`` promises ``luigi.build`` callers: the pipe is drained, in order."""
    from stagecache.run.childevents import ChildEvents

    delivered = []
    events = ChildEvents(delivered.append)
    events.open()
    for n in range(200):
        events.send({"event": "start", "n": n})
    assert events.settle(timeout=10)
    assert [m["n"] for m in delivered] == list(range(200))
