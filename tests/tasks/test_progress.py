"""What a run logs: the plan with an estimate, ``stage k/N`` lines, bounded epoch lines, one final table."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tasks


def _messages(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_a_run_logs_plan_stages_epochs_and_a_table(pipeline, caplog):
    pipeline.set("TrainLogReg", "epochs", "30")
    caplog.set_level(logging.INFO)
    pipeline.build(tasks.EvaluateLogReg())
    lines = _messages(caplog, "tasks.progress")
    stages = ["DownloadMNIST", "OneHotMNIST", "TrainLogReg", "EvaluateLogReg"]
    assert lines[:5] == ["plan: 4 stage(s) to run, 0 cached; no earlier runs to estimate from"] \
        + [f"  {family:<14}  never built before" for family in stages]
    for k, family in enumerate(stages, 1):
        assert f"stage {k}/4: {family} started" in lines
        assert any(re.fullmatch(rf"stage {k}/4: {family} done in [\d.]+s", m) for m in lines), lines
    epochs = [m for m in _messages(caplog, "pipeline.training") if m.startswith("TrainLogReg epoch ")]
    assert 10 <= len(epochs) <= 12, epochs  # 30 epochs: the first, then every 3rd
    table = lines[lines.index("summary of this run:") + 1:]
    assert table[0].split() == ["STAGE", "RESULT", "SECONDS"]
    assert [row.split()[:2] for row in table[1:]] == [[f, "ran"] for f in stages]

    # a second run: the plan names what is cached and estimates from the first run's manifests
    caplog.clear()
    pipeline.set("TrainLogReg", "lr", "0.2")
    pipeline.build(tasks.EvaluateLogReg())
    lines = _messages(caplog, "tasks.progress")
    assert re.fullmatch(r"plan: 2 stage\(s\) to run, 1 cached; estimate [\d.]+s from earlier runs", lines[0]), lines[0]
    assert re.fullmatch(r"  TrainLogReg     ~[\d.]+s last time", lines[1]), lines[1]
    assert lines[3] == "  cached: OneHotMNIST"
    table = lines[lines.index("summary of this run:") + 2:]
    assert [row.split()[:2] for row in table] == [["OneHotMNIST", "cached"], ["TrainLogReg", "ran"],
                                                   ["EvaluateLogReg", "ran"]]


class _Stage:
    """Just what the progress tracker reads of a task."""

    def __init__(self, family, report_dir=None):
        self.task_id, self.family = family, family
        if report_dir is not None:
            self.report_dir = report_dir

    def get_task_family(self):
        return self.family


def test_a_failed_stage_ends_the_run_with_its_dependents_not_run_and_the_report_link(tmp_path, caplog, monkeypatch):
    from tasks import progress

    monkeypatch.setattr(progress, "latest_manifest", lambda task: {"duration_s": 12.0})
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("<html></html>")
    data, left, right, report = (_Stage("Data"), _Stage("Left"), _Stage("Right"),
                                 _Stage("Report", report_dir=tmp_path / "report"))
    run = progress.RunProgress()
    caplog.set_level(logging.INFO, logger="tasks.progress")
    run.present(data)
    run.discovered(report, left)
    run.discovered(report, right)
    run.discovered(left, data)
    run.discovered(right, data)
    run.start(right)
    run.success(right)
    assert "summary of this run:" not in _messages(caplog, "tasks.progress")  # Left has still to run
    run.start(left)
    run.failure(left, RuntimeError("boom"))
    lines = _messages(caplog, "tasks.progress")
    assert lines[:5] == ["plan: 3 stage(s) to run, 1 cached; estimate 36s from earlier runs",
                         "  Left    ~12s last time", "  Right   ~12s last time",
                         "  Report  ~12s last time", "  cached: Data"]
    # k counts starts: Right started first although the plan lists Left first
    assert [m for m in lines if m.startswith("stage ")] == [
        "stage 1/3: Right started", "stage 1/3: Right done in 0.0s",
        "stage 2/3: Left started", "stage 2/3: Left failed after 0.0s"]
    table = lines[lines.index("summary of this run:") + 2:]
    assert [row.split()[:2] for row in table[:4]] == [["Data", "cached"], ["Right", "ran"], ["Left", "failed"],
                                                       ["Report", "not"]]
    assert "not run: needs a failed stage" in table[3]
    assert table[4] == f"report: {(tmp_path / 'report' / 'index.html').resolve().as_uri()}"


def _luigi(tmp_path, *args: str):
    """``python -m luigi --module tasks ARGS`` in ``tmp_path`` with the repository's luigi.cfg,
    artifacts in ``tmp_path`` and the packaged Tiny Shakespeare as the mirror."""
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "luigi.cfg").write_text((repo / "luigi.cfg").read_text())
    cfg = tmp_path / "test.cfg"
    cfg.write_text(f'[artifacts]\nroot = {tmp_path / "artifacts"}\n[DownloadShakespeare]\nmirrors = ["package:tinyshakespeare"]\n')
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(repo)}
    done = subprocess.run([sys.executable, "-m", "luigi", "--module", "tasks", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize("root, workers", [("DownloadShakespeare", 1), ("BuildCharVocab", 2), ("DownloadShakespeare", 2)])
def test_luigis_command_line_logs_timestamped_progress(tmp_path, root, workers):
    """Luigi's lines and ours carry the time; with --workers N the stages run in forked
    processes and the scheduling process still logs the plan, every stage and the table."""
    done = _luigi(tmp_path, root, "--workers", str(workers))
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO: "
    stages = ["DownloadShakespeare", "BuildCharVocab"][:2 if root == "BuildCharVocab" else 1]
    n = len(stages)
    lines = [rf"tasks.progress: plan: {n} stage\(s\) to run, 0 cached; no earlier runs to estimate from"]
    for k, family in enumerate(stages, 1):
        lines += [f"tasks.progress: stage {k}/{n}: {family} started",
                  rf"tasks.progress: stage {k}/{n}: {family} done in [\d.]+s"]
    lines += ["tasks.progress: summary of this run:"] + [rf"tasks.progress:   {f} +ran +[\d.]+" for f in stages]
    lines += [f"Running Worker with {workers} process", "Done scheduling tasks"]  # luigi's own lines
    for line in lines:
        assert re.search(f"^{stamp}{line}", done.stderr, re.M), (line, done.stderr[-3000:])
    assert done.stderr.count("summary of this run:") == 1


def test_log_level_warning_quiets_luigis_lines_and_the_pipelines(tmp_path):
    done = _luigi(tmp_path, "BuildCharVocab", "--log-level", "WARNING")
    assert " INFO: " not in done.stderr, done.stderr[-3000:]
    assert list((tmp_path / "artifacts" / "BuildCharVocab").glob("*.joblib"))  # it ran, quietly


def _report_in_child(queue):
    from tasks import progress

    queue.put(progress.CHILD_EVENTS.in_child())


# JAX (imported by earlier tests in this process) warns at any fork; the child only reads a flag.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_only_luigis_worker_processes_send_their_events_to_the_scheduling_process():
    """A process forked for other work (which may run a luigi.build of its own) logs its own run."""
    import multiprocessing

    from tasks import progress

    assert progress.CHILD_EVENTS.owner is not None and not progress.CHILD_EVENTS.in_child()
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_report_in_child, args=(queue,))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) is False


def test_a_run_with_nothing_to_do_says_so(tmp_path):
    _luigi(tmp_path, "DownloadShakespeare")
    again = _luigi(tmp_path, "DownloadShakespeare")
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO: tasks.progress: nothing to run: DownloadShakespeare is up to date$",
                     again.stderr, re.M), again.stderr[-3000:]
    assert "summary of this run:" not in again.stderr and "plan:" not in again.stderr
