"""luigid started with deploy/luigid.cfg, an SMTP server for its failure mails, and the test's
luigi configured with deploy/retrain.cfg: the ``luigid`` and ``smtp_server`` fixtures (registered
for tests/tasks by its conftest)."""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
import urllib.parse
import urllib.request
from pathlib import Path

import luigi
import pytest
from luigi.task_register import Register

from tests.services import LUIGID_PROCESSES, free_port, running_luigid

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 -- aiosmtpd's hook name
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
            return db.execute(
                "SELECT t.name, e.event_name FROM task_events e JOIN tasks t ON t.id = e.task_id ORDER BY e.ts, e.id"
            ).fetchall()

    def disabled(self, family: str) -> list[str]:
        """Names of the tasks of ``family`` that luigid has disabled (after too many failures)."""
        return [t["name"] for t in self.api("task_list", status="DISABLED", upstream_status="", search=family).values()]

    def kill(self) -> None:
        """SIGKILL luigid (and wait for it): the central scheduler dies mid-run."""
        import os
        import signal

        server = LUIGID_PROCESSES[self.port]
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()

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
        f"[scheduler]\nretry_delay = 1\nworker_disconnect_delay = 3\n\n[task_history]\ndb_connection = sqlite:///{db}\n"
    )
    with running_luigid(home, home / "test-overrides.cfg", home / "logs") as port:
        pipeline.config.read(DEPLOY / "retrain.cfg")
        smtp_port, inbox = smtp_server
        for section, key, value in [
            ("core", "scheduler_port", str(port)),
            ("smtp", "port", str(smtp_port)),
            ("email", "force_send", "true"),  # mail even when pytest -s leaves a tty
            ("worker", "ping_interval", "0.5"),
            ("worker", "wait_interval", "0.2"),
            ("worker", "wait_jitter", "0.1"),
        ]:
            pipeline.set(section, key, value)
        yield Luigid(port, db, home / "logs", inbox)
