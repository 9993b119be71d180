"""Against a real central scheduler (luigid on 127.0.0.1) started with deploy/luigid.cfg, and workers
configured with deploy/retrain.cfg: task history, metrics, progress, retries, failure mails, and two
workers of which one is killed mid-task."""
from __future__ import annotations

import configparser
import datetime
import email
import email.policy
import hashlib
import http.server
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sqlite3
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import luigi
import pytest
from luigi.task_register import Register

import tasks
from tasks.divergence import record_path
from tests.conftest import TINY_TEXT
from tests.services import free_port, running_luigid
from tests.tasks.conftest import ALL_TASKS, luigi_process

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DAY = datetime.date(2026, 1, 30)


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1; yields (port, inbox)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


def body(mail) -> str:
    """The text of one of luigi's mails (a multipart/related message)."""
    return mail.get_body(("plain",)).get_content()


class Luigid:
    """A running luigid, and what the tests read from it."""

    def __init__(self, port: int, db: Path, logdir: Path, inbox: Inbox):
        self.port, self.db, self.logdir, self.inbox = port, db, logdir, inbox

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.read().decode()

    def api(self, method: str, **data) -> dict:
        return json.loads(self.get(f"/api/{method}?data=" + urllib.parse.quote(json.dumps(data))))["response"]

    def events(self) -> list[tuple[str, str]]:
        """(task family, event) rows of the history database, oldest first."""
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT t.name, e.event_name FROM task_events e JOIN tasks t ON t.id = e.task_id "
                              "ORDER BY e.ts, e.id").fetchall()

    def disabled(self, family: str) -> list[str]:
        """Names of the tasks of ``family`` that luigid has disabled (after too many failures)."""
        return [t["name"] for t in self.api("task_list", status="DISABLED", upstream_status="", search=family).values()]

    def build(self, *task_list):
        """``luigi.build`` in this process, scheduled by luigid; the detailed result."""
        Register.clear_instance_cache()
        return luigi.build(list(task_list), local_scheduler=False, detailed_summary=True, workers=1)


@pytest.fixture
def luigid(pipeline, tmp_path, smtp_server):
    """luigid started with deploy/luigid.cfg, and this test's luigi configured with deploy/retrain.cfg.

    luigi reads ``luigi.cfg`` in the working directory, then ``$LUIGI_CONFIG_PATH``, the later
    winning: the deploy file is luigid's ``luigi.cfg`` (a link to it), and the test overrides only
    the database path and the delays (``--state-path`` and ``--logdir`` take the other paths).
    """
    home = tmp_path / "luigid"
    home.mkdir()
    (home / "logs").mkdir()  # luigid does not create its --logdir (systemd: LogsDirectory=)
    (home / "luigi.cfg").symlink_to(DEPLOY / "luigid.cfg")
    db = home / "task-history.db"
    (home / "test-overrides.cfg").write_text(
        f"[scheduler]\nretry_delay = 1\nworker_disconnect_delay = 3\n\n[task_history]\ndb_connection = sqlite:///{db}\n")
    with running_luigid(home, home / "test-overrides.cfg", home / "logs") as port:
        pipeline.config.read(DEPLOY / "retrain.cfg")
        smtp_port, inbox = smtp_server
        for section, key, value in [("core", "scheduler_port", str(port)), ("smtp", "port", str(smtp_port)),
                                    ("email", "force_send", "true"),  # mail even when pytest -s leaves a tty
                                    ("worker", "ping_interval", "0.5"), ("worker", "wait_interval", "0.2"),
                                    ("worker", "wait_jitter", "0.1")]:
            pipeline.set(section, key, value)
        yield Luigid(port, db, home / "logs", inbox)


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
        assert [e for f, e in events if f == family and e in ("RUNNING", "DONE", "FAILED")] == ["RUNNING", "DONE"], \
            (family, events)
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


class FlakyMirror(http.server.BaseHTTPRequestHandler):
    """Serves TINY_TEXT as input.txt, after answering 503 to the first ``failures`` requests for it."""

    failures = 2
    requests: list[int] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith(".gz"):
            status, body = 404, b""
        else:
            status = 503 if len(FlakyMirror.requests) < FlakyMirror.failures else 200
            body = TINY_TEXT.encode() if status == 200 else b"busy"
            FlakyMirror.requests.append(status)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def flaky_mirror(tmp_path, monkeypatch):
    """An HTTPS mirror on 127.0.0.1 that fails twice, then serves; yields its URL."""
    from tests.pipeline.test_download_http import QuietServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    FlakyMirror.requests = []
    httpd = QuietServer(("127.0.0.1", 0), FlakyMirror)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield f"https://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_succeeds_after_two_failures_retried_by_luigid(pipeline, luigid, flaky_mirror):
    pipeline.set("DownloadShakespeare", "mirrors", json.dumps([flaky_mirror]))
    pipeline.set("DownloadShakespeare", "sha256", json.dumps({"input.txt": hashlib.sha256(TINY_TEXT.encode()).hexdigest()}))
    started = time.time()
    result = luigid.build(tasks.DownloadShakespeare())
    assert result.status.name == "SUCCESS_WITH_RETRY", result.summary_text
    assert FlakyMirror.requests == [503, 503, 200]
    assert tasks.DownloadShakespeare().output().load()["files"] == {"input.txt": TINY_TEXT.encode()}
    assert [e for _, e in luigid.events() if e != "PENDING"] == ["RUNNING", "FAILED"] * 2 + ["RUNNING", "DONE"]
    assert time.time() - started >= 2  # retry_delay (1 s) apart
    assert len(luigid.inbox.messages) == 2  # one mail per failed attempt
    assert all("HTTP Error 503" in body(m) for m in luigid.inbox.messages)


def test_download_gives_up_after_retry_count_failures(pipeline, luigid, flaky_mirror):
    FlakyMirror.failures = 99
    try:
        pipeline.set("DownloadShakespeare", "mirrors", json.dumps([flaky_mirror]))
        pipeline.set("DownloadShakespeare", "retry_count", "2")
        result = luigid.build(tasks.DownloadShakespeare())
    finally:
        FlakyMirror.failures = 2
    assert result.status.name == "FAILED", result.summary_text
    assert FlakyMirror.requests == [503, 503]
    assert [e for _, e in luigid.events() if e != "PENDING"] == ["RUNNING", "FAILED"] * 2
    assert luigid.disabled("DownloadShakespeare") == ["DownloadShakespeare"]


def test_retry_count_below_one_is_refused(pipeline):
    pipeline.set("DownloadMNIST", "retry_count", "0")
    with pytest.raises(ValueError, match=r"\[DownloadMNIST\] retry_count must be >= 1, got 0"):
        tasks.DownloadMNIST()


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
    record = record_path(tasks.TrainLogReg().output().path)
    first, second = [body(m) for m in luigid.inbox.messages]
    assert "TrainingDivergedError: TrainLogReg: training loss is nan in epoch 1" in first
    assert "DivergedBeforeError: TrainLogReg: this configuration diverged in an earlier run (epoch 1, loss nan" in second
    assert str(record) in second and "TrainingDivergedError" not in second
    messages = [r.getMessage() for r in caplog.records]
    attempts = "\n".join(messages[messages.index("ATTEMPT"):]).split("ATTEMPT")[1:]
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


def test_killed_worker_leaves_no_partial_artifact_and_the_other_finishes(pipeline, tmp_path, luigid):
    pipeline.set("TrainDeepMLP", "epochs", "60")  # long enough to be killed mid-way
    pipeline.set("TrainDeepMLP", "hidden", "[128, 128]")
    pipeline.build(tasks.OneHotMNIST())  # shared input, built up front (local scheduler in this process)
    target = tasks.TrainDeepMLP().output()
    doomed = luigi_process(pipeline, tmp_path, "TrainDeepMLP")  # scheduled by luigid: the fixture set retrain.cfg
    deadline = time.time() + 120
    while not (target.checkpoint_dir / "epoch-00002.json").exists():
        assert time.time() < deadline and doomed.poll() is None, doomed.communicate()[0][-3000:]
        time.sleep(0.02)
    assert doomed.poll() is None, "the first worker finished before it could be killed"
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert not target.exists() and not target.path.exists()
    # luigid still has TrainDeepMLP running, so the second worker waits for it (keep_alive); once luigid
    # finds the first worker dead (no ping for worker_disconnect_delay, checked at each request for work:
    # prune_on_get_work) it fails the task, and after retry_delay the second worker runs it again, from
    # the checkpoint (retry_count 2 of training stages)
    survivor = luigi_process(pipeline, tmp_path, "EvaluateDeepMLP", "--workers", "2")
    out = survivor.communicate(timeout=600)[0]
    assert survivor.returncode == 0, out[-4000:]
    assert target.exists()
    assert "TrainDeepMLP: resuming after epoch" in out
    wrote = [line.split(": wrote ")[0].rsplit(" ", 1)[-1] for line in out.splitlines() if ": wrote " in line]
    assert sorted(wrote) == ["EvaluateDeepMLP", "TrainDeepMLP"], wrote  # each stage built once
    assert target.load()["history"]["epoch"] == list(range(1, 61))
    assert pipeline.build(tasks.EvaluateDeepMLP()) == set()
    runs = [e for f, e in luigid.events() if f == "TrainDeepMLP" and e in ("RUNNING", "FAILED", "DONE")]
    assert runs == ["RUNNING", "RUNNING", "DONE"]  # luigid fails a dead worker's task without a history event,
    assert 'luigi_task_failed_total{family="TrainDeepMLP"} 1.0' in luigid.get("/metrics")  # but counts it
    assert "by disconnected worker" in (luigid.logdir / "luigi-server.log").read_text()  # and logs it


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def test_deploy_files_agree_with_each_other():
    """The units, the cron line and the two configuration files name the same ports, paths and command."""
    luigid_cfg, retrain_cfg = _ini(DEPLOY / "luigid.cfg"), _ini(DEPLOY / "retrain.cfg")
    luigid_unit, retrain_unit = _ini(DEPLOY / "luigid.service"), _ini(DEPLOY / "retrain.service")
    start = shlex.split(luigid_unit["Service"]["ExecStart"])
    options = dict(zip(start[1::2], start[2::2]))
    assert options["--address"] == retrain_cfg["core"]["scheduler_host"] == "127.0.0.1"
    assert options["--port"] == retrain_cfg["core"]["scheduler_port"]
    assert options["--state-path"] == luigid_cfg["scheduler"]["state_path"]
    assert luigid_unit["Service"]["Environment"] == "LUIGI_CONFIG_PATH=/etc/luigi/luigid.cfg"
    assert retrain_unit["Service"]["Environment"] == "LUIGI_CONFIG_PATH=/etc/luigi/retrain.cfg"
    assert retrain_cfg["core"]["local_scheduler"] == "false" and retrain_cfg["worker"]["keep_alive"] == "true"

    cron = [line for line in (DEPLOY / "crontab").read_text().splitlines() if line and line[0].isdigit()]
    assert len(cron) == 1
    command = re.search(r"luigi --module tasks (.*?) >>", cron[0]).group(1)
    unit_command = re.search(r"luigi --module tasks (.*)'", retrain_unit["Service"]["ExecStart"]).group(1)
    # cron escapes % as \%, systemd as %%: the same command once unescaped
    assert command.replace("\\%", "%") == unit_command.replace("%%", "%") == 'Retrain --date "$(date -u +%F)"'
    assert "LUIGI_CONFIG_PATH=/etc/luigi/retrain.cfg" in cron[0]
    date = subprocess.run(["sh", "-c", 'echo "$(date -u +%F)"'], capture_output=True, text=True).stdout.strip()
    assert tasks.Retrain.from_str_params({"date": date}).date == datetime.datetime.now(datetime.timezone.utc).date()
