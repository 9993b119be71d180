"""Downloads against a real HTTPS server on 127.0.0.1 that misbehaves on purpose."""

import hashlib
import http.server
import shutil
import ssl
import subprocess
import sys
import threading
import time

import pytest

from pipeline.data.download import DownloadError, fetch_verified

PAYLOAD = bytes(range(256)) * 400  # 100 KiB
SHA = {"f.bin": hashlib.sha256(PAYLOAD).hexdigest()}


class Handler(http.server.BaseHTTPRequestHandler):
    cut_once: set = set()

    def log_message(self, *args):
        pass

    def _send(self, body: bytes, status=200, headers=None, declared=None):
        self.send_response(status)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        kind, _, name = self.path.strip("/").partition("/")
        if name.endswith(".gz"):
            return self._send(b"", 404)
        if kind == "ok":
            return self._send(PAYLOAD)
        if kind == "unavailable":
            return self._send(b"busy", 503)
        if kind == "hang":
            time.sleep(3)
            return self._send(PAYLOAD)
        if kind == "cut":  # promises the whole body, sends half, closes; no range support
            self._send(PAYLOAD[: len(PAYLOAD) // 2], declared=len(PAYLOAD))
            self.close_connection = True
            return
        if kind == "resumable":
            start = int(self.headers["Range"].split("=")[1].rstrip("-")) if "Range" in self.headers else 0
            if start == 0 and self.path not in Handler.cut_once:
                Handler.cut_once.add(self.path)
                self._send(PAYLOAD[:30000], headers={"Accept-Ranges": "bytes"}, declared=len(PAYLOAD))
                self.close_connection = True
                return
            return self._send(
                PAYLOAD[start:],
                206 if start else 200,
                {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"},
            )
        if kind == "wrong":
            return self._send(PAYLOAD[:-1] + b"!")
        if kind == "to-http":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/ok/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(b"", 404)


class QuietServer(http.server.ThreadingHTTPServer):
    """Joins its request threads on close, and stays quiet when a client hangs up on purpose.

    A request thread that outlived its test used to print its traceback later, from its own
    thread, while other tests ran: CPython 3.11 parses source for the carets of a traceback,
    and a parse on two threads at once can corrupt the AST converter's shared depth counter.
    """

    daemon_threads = False
    block_on_close = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    d = tmp_path_factory.mktemp("tls")
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
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", d / "cert.pem"
    httpd.shutdown()
    httpd.server_close()  # waits for the request threads still running (the "hang" handler)


@pytest.fixture
def base(server, monkeypatch):
    url, cert = server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own certificate
    return url


def test_good_mirror(base):
    assert fetch_verified(SHA, [f"{base}/ok/"], timeout=5) == {"f.bin": PAYLOAD}


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("unavailable", "HTTP Error 503"),
        ("hang", "timed out"),
        ("cut", "IncompleteRead"),
        ("wrong", "sha256 mismatch"),
        ("to-http", "refused redirect to non-HTTPS URL"),
    ],
)
def test_faulty_mirror_is_skipped_for_the_next(base, kind, reason, caplog):
    out = fetch_verified(SHA, [f"{base}/{kind}/", f"{base}/ok/"], timeout=1)
    assert out == {"f.bin": PAYLOAD}
    assert any(reason in r.message for r in caplog.records), [r.message for r in caplog.records]


def test_all_faulty_mirrors_are_listed(base):
    kinds = ["unavailable", "hang", "cut", "wrong", "to-http"]
    with pytest.raises(DownloadError) as err:
        fetch_verified(SHA, [f"{base}/{k}/" for k in kinds], timeout=1)
    assert [m for m, _ in err.value.attempts] == [f"{base}/{k}/" for k in kinds]
    for text in ("503", "timed out", "IncompleteRead", "sha256 mismatch", "refused redirect"):
        assert text in str(err.value)


def test_interrupted_download_resumes_with_a_range_request(base, caplog):
    assert fetch_verified(SHA, [f"{base}/resumable/"], timeout=5) == {"f.bin": PAYLOAD}
    assert any("connection lost after 30000 bytes" in r.message and "resuming" in r.message for r in caplog.records)
