"""Stage starts and ends from luigi's worker processes, carried to the process that scheduled them.

Luigi fires ``START``, ``SUCCESS`` and ``FAILURE`` in the process that runs a stage. With
``--workers N`` (or ``[worker] timeout``) that is a forked child, and whatever the child
records dies with it. :class:`ChildEvents` opens a pipe in the scheduling process before
luigi forks; a child writes each event as one JSON line (shorter than ``PIPE_BUF``, so
the kernel never interleaves two children's lines) and a reader thread in the scheduling
process hands it on.
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def spawned_child() -> bool:
    """True in a process that multiprocessing started without forking (it inherits no pipe)."""
    return multiprocessing.parent_process() is not None and multiprocessing.get_start_method() != "fork"


class ChildEvents:
    """One pipe per scheduling process; ``deliver`` gets each child's message in that process."""

    def __init__(self, deliver: Callable[[dict], None]):
        self.deliver = deliver
        self.owner: int | None = None  # the pid that opened the pipe and reads it
        self.write_fd: int | None = None
        self._flushes: dict[int, threading.Event] = {}

    def open(self) -> None:
        """Open the pipe and start its reader, once per process (a forked child keeps its parent's)."""
        if self.owner is not None or spawned_child():
            return
        read_fd, self.write_fd = os.pipe()
        self.owner = os.getpid()
        threading.Thread(target=self._read, args=(read_fd,), name="child-stage-events", daemon=True).start()
        atexit.register(self.settle)

    def in_child(self) -> bool:
        """True in a worker process that luigi forked from the process that opened the pipe.

        Another forked child (one that runs a ``luigi.build`` of its own) reports its own run.
        """
        from luigi.worker import TaskProcess

        return (
            self.owner is not None
            and os.getpid() != self.owner
            and isinstance(multiprocessing.current_process(), TaskProcess)
        )

    def send(self, message: dict) -> None:
        """Write one message (from a child, or a flush marker from the owner)."""
        if self.write_fd is None:  # never opened: no scheduling process listens
            return
        try:
            os.write(self.write_fd, (json.dumps(message) + "\n").encode())
        except OSError as exc:  # the scheduling process is gone: nobody is left to tell
            log.debug("stage event not sent: %s", exc)

    def settle(self, timeout: float = 5.0) -> bool:
        """In the owner: wait until every message written so far has been delivered."""
        if self.owner != os.getpid():
            return True
        flushed = threading.Event()
        self._flushes[id(flushed)] = flushed
        self.send({"event": "flush", "key": id(flushed)})
        return flushed.wait(timeout)

    def _read(self, fd: int) -> None:
        pending = b""
        while chunk := os.read(fd, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                message = json.loads(line)
                if message["event"] == "flush":
                    self._flushes.pop(message["key"]).set()
                    continue
                try:
                    self.deliver(message)
                except Exception:
                    log.exception("could not report a stage event from a worker process: %s", message)
