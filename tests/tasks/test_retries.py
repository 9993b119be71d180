"""Retries through luigid (deploy/retrain.cfg): a download that fails twice succeeds on luigid's
retries, one that keeps failing is given up after ``retry_count`` and disabled."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import ssl
import subprocess
import threading
import time

import pytest

import tasks
from tests.conftest import TINY_TEXT
from tests.tasks.luigid_server import body


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
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
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
    pipeline.set(
        "DownloadShakespeare", "sha256", json.dumps({"input.txt": hashlib.sha256(TINY_TEXT.encode()).hexdigest()})
    )
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
