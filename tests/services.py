"""Real servers that tests start on 127.0.0.1: free ports, and luigid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def free_port() -> int:
    """One free TCP port on 127.0.0.1."""
    return free_ports(1)[0]


#: The luigid process of each port that :func:`running_luigid` started (a test may kill it mid-run).
LUIGID_PROCESSES: dict[int, subprocess.Popen] = {}


@contextmanager
def running_luigid(home: Path, config: Path, logdir: Path):
    """luigid on a free port of 127.0.0.1, started in ``home`` (it reads ``home/luigi.cfg``, if any,
    then ``config``) and logging to ``logdir``; yields the port and stops luigid afterwards."""
    if shutil.which("luigid") is None:
        pytest.skip("luigid is not installed")
    port, output = free_port(), home / "luigid-output.log"
    with open(output, "w") as log:
        server = subprocess.Popen(
            [
                shutil.which("luigid"),
                "--address",
                "127.0.0.1",
                "--port",
                str(port),
                "--state-path",
                str(home / "state.pickle"),
                "--logdir",
                str(logdir),
            ],
            cwd=home,
            env={**os.environ, "LUIGI_CONFIG_PATH": str(config)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.time() + 30
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail("luigid did not start:\n" + output.read_text()[-3000:])
                time.sleep(0.1)
            LUIGID_PROCESSES[port] = server
            yield port
        finally:
            LUIGID_PROCESSES.pop(port, None)
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()
