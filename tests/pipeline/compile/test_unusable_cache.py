"""A compile cache directory that cannot be used is warned about once per run, not once per stage."""

import logging
import os

import pytest

from pipeline.compile import backend
from pipeline.compile.placement import jax_available

pytestmark = pytest.mark.skipif(not jax_available(), reason="the persistent compile cache is JAX's")


class _Count(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _open_in_forked_stage(cache, report) -> None:
    """What a stage of a ``--workers N`` run does: open the cache in a process forked from the scheduler."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its file
        code = 1
        try:
            counter = _Count()
            logging.getLogger("pipeline.compile.backend").addHandler(counter)
            assert backend.use_compile_cache(cache) is None
            report.write_text("\n".join(counter.messages))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_unusable_cache_directory_warns_once_in_a_run_whatever_the_number_of_stages_and_workers(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = blocker / "compile_cache"  # cannot be made: its parent is a file
    counter = _Count()
    logger = logging.getLogger("pipeline.compile.backend")
    logger.addHandler(counter)
    try:
        for _ in range(3):  # three stages in the scheduling process (--workers 1)
            assert backend.use_compile_cache(cache) is None
        reports = [tmp_path / f"stage{i}.log" for i in range(3)]
        for report in reports:  # three stages forked from it (--workers N)
            _open_in_forked_stage(cache, report)
    finally:
        logger.removeHandler(counter)
        backend.use_compile_cache(None)
    (warning,) = counter.messages
    assert str(cache) in warning and "cannot create or write to" in warning
    assert [report.read_text() for report in reports] == ["", "", ""]

    other = blocker / "another_cache"  # another directory is another problem: warned about too
    logger.addHandler(counter)
    try:
        assert backend.use_compile_cache(other) is None
    finally:
        logger.removeHandler(counter)
        backend.use_compile_cache(None)
    assert len(counter.messages) == 2 and str(other) in counter.messages[1]
