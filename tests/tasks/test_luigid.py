"""Against a real central scheduler (luigid on 127.0.0.1) started with deploy/luigid.cfg, and workers
configured with deploy/retrain.cfg: task history, metrics, progress, failure mails, a divergence and
a configuration error never retried. Download retries: test_retries.py; the deploy files themselves:
tests/test_deploy.py; a worker killed mid-training and luigid killed mid-run:
tests/engine/test_central_scheduler.py, on the toy DAG."""

from __future__ import annotations

import datetime
import json
import logging
import re

import luigi

import tasks
from tests.tasks.conftest import ALL_TASKS
from tests.tasks.luigid_server import body

DAY = datetime.date(2026, 1, 30)


def test_retrain_through_luigid_leaves_history_metrics_progress_and_one_failure_mail(pipeline, luigid):
    pipeline.root.mkdir(parents=True)
    (pipeline.root / "champions").write_text("")  # a file where Retrain keeps its champions: it cannot promote
    result = luigid.build(tasks.Retrain(date=DAY))
    assert result.status.name == "FAILED", result.summary_text

    # one mail, naming the task and its error
    assert len(luigid.inbox.messages) == 1, [m["Subject"] for m in luigid.inbox.messages]
    mail = luigid.inbox.messages[0]
    assert mail["Subject"].startswith("[theano-tutorials] Luigi: Retrain(date=2026-01-30")
    assert "FAILED" in mail["Subject"] and mail["To"] == "pipeline-alerts@example.com"
    text = body(mail)
    assert "Name: Retrain" in text and "FileExistsError" in text and "champions" in text, text

    # the history database: every stage ran and finished; Retrain failed and was disabled (no retry)
    events = luigid.events()
    stages = ALL_TASKS | {"CheckSources"}
    for family in stages:
        assert [e for f, e in events if f == family and e in ("RUNNING", "DONE", "FAILED")] == ["RUNNING", "DONE"], (
            family,
            events,
        )
    assert [e for f, e in events if f == "Retrain" and e != "PENDING"] == ["RUNNING", "FAILED"]
    assert luigid.disabled("Retrain") == ["Retrain"]
    page = luigid.get("/history")
    for family in stages | {"Retrain"}:
        assert re.search(rf'<a href="/history/by_id/\d+">{family}</a>', page), family

    # Prometheus counters
    metrics = luigid.get("/metrics")
    for family in stages:
        assert f'luigi_task_started_total{{family="{family}"}} 1.0' in metrics, family
        assert f'luigi_task_done_total{{family="{family}"}} 1.0' in metrics, family
    assert 'luigi_task_disabled_total{family="Retrain"} 1.0' in metrics

    # a training's progress, as luigid's UI shows it
    done = luigid.api("task_list", status="DONE", upstream_status="", search="TrainLogReg")
    (task,) = done.values()
    assert task["progress_percentage"] == 100.0
    assert "2/2" in task["status_message"] and "loss" in task["status_message"], task["status_message"]

    # luigid logged to --logdir: its start and every request
    log = (luigid.logdir / "luigi-server.log").read_text()
    assert "Scheduler starting up" in log and "POST /api/add_task" in log


def test_diverging_training_is_not_retried_again_and_the_worker_stops(pipeline, luigid, caplog, monkeypatch):
    """The retry that retry_count 2 allows (for a dead worker's training) finds the divergence recorded
    by the first attempt and fails at once: it neither loads its inputs nor compiles nor trains."""
    caplog.set_level(logging.INFO)
    started = logging.getLogger("test.attempts")
    loads, load_inputs = [], tasks.TrainLogReg.load_inputs
    monkeypatch.setattr(tasks.TrainLogReg, "load_inputs", lambda self: loads.append(self.lr) or load_inputs(self))

    @tasks.TrainLogReg.event_handler(luigi.Event.START)
    def attempt(task):
        started.info("ATTEMPT")

    pipeline.set("TrainLogReg", "lr", "1e38")
    try:
        result = luigid.build(tasks.TrainLogReg())
    finally:
        tasks.TrainLogReg._event_callbacks[tasks.TrainLogReg][luigi.Event.START].discard(attempt)
    assert result.status.name == "FAILED", result.summary_text
    runs = [e for f, e in luigid.events() if f == "TrainLogReg" and e != "PENDING"]
    assert runs == ["RUNNING", "FAILED"] * 2  # retry_count 2: one retry, then disabled
    assert luigid.disabled("TrainLogReg") == ["TrainLogReg"]
    record = tasks.TrainLogReg().output().divergence_path
    first, second = [body(m) for m in luigid.inbox.messages]
    assert "TrainingDivergedError: TrainLogReg: training loss is nan in epoch 1" in first
    assert (
        "DivergedBeforeError: TrainLogReg: this configuration diverged in an earlier run (epoch 1, loss nan" in second
    )
    assert str(record) in second and "TrainingDivergedError" not in second
    messages = [r.getMessage() for r in caplog.records]
    attempts = "\n".join(messages[messages.index("ATTEMPT") :]).split("ATTEMPT")[1:]
    assert len(attempts) == 2
    trained = re.compile(r"^compiled |TrainLogReg epoch \d|first batch done|resuming", re.M)
    assert trained.search(attempts[0]) and not trained.search(attempts[1]), attempts[1]
    assert loads == [1e38]  # only the first attempt loaded its inputs
    assert json.loads(record.read_text())["epoch"] == 1
    assert not tasks.TrainLogReg().output().path.exists()


def test_configuration_error_is_raised_before_scheduling_and_never_retried(pipeline, luigid):
    """A parameter out of range fails when the worker builds the task graph (the exit code is
    ``scheduling_error``, 35): luigid gets no task to run, so there is nothing to fail, retry or disable."""
    pipeline.set("TrainDeepMLP", "lr", "-0.1")
    result = luigid.build(tasks.Retrain(date=DAY))
    assert not result.scheduling_succeeded and result.status.name == "SCHEDULING_FAILED", result.summary_text
    assert not [e for _, e in luigid.events() if e in ("RUNNING", "FAILED", "DONE")], luigid.events()
    assert luigid.disabled("") == [] and luigid.api("task_list", status="FAILED", upstream_status="") == {}
    assert not pipeline.root.exists()
    (mail,) = luigid.inbox.messages  # one mail, from the worker
    assert "Retrain(date=2026-01-30" in mail["Subject"] and "failed scheduling" in mail["Subject"]
    assert "ValueError: [TrainDeepMLP] lr must be > 0, got -0.1" in body(mail)
