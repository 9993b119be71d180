"""The line a stopped run ends with names each stage running, and a sweep's point by its values."""

from __future__ import annotations

from stagecache.core import points, signals


class _Checkpointer:
    def __init__(self, latest):
        self._latest = latest

    def latest(self):
        return self._latest


class _Output:
    def __init__(self, latest):
        self._latest = latest

    def checkpointer(self):
        return _Checkpointer(self._latest)


class _Stage:
    def __init__(self, family, point, latest):
        self.family, self.point, self._latest = family, point, latest

    def get_task_family(self):
        return self.family

    def output(self):
        return _Output(self._latest)


def test_a_sweeps_stop_line_names_the_points_it_stopped(monkeypatch):
    """Issue 33 item 10: two points of one stage were both just ``Train``."""
    running = [
        _Stage("Train", points.encode({"Train": {"lr": "0.1"}}), (3, "root/Train/aa.checkpoints")),
        _Stage("Train", points.encode({"Train": {"lr": "0.2"}}), (None, "")),
        _Stage("Data", "", (None, "")),
    ]
    monkeypatch.setattr(signals, "_running", {str(i): stage for i, stage in enumerate(running)})
    assert signals.stop_line("SIGTERM", 143) == (
        "stopped by SIGTERM: Train [Train.lr=0.1] keeps its checkpoint after epoch 3 (root/Train/aa.checkpoints); "
        "Train [Train.lr=0.2] had no checkpoint yet (it restarts from the beginning); "
        "Data had no checkpoint yet (it restarts from the beginning); rerun to resume (exit 143)"
    )


class _GoesOnFromItsStudy(_Stage):
    def after_a_stop(self):
        return "goes on from its study (root/searches/s.study.json): a rerun runs no finished job again"


def test_a_stage_that_goes_on_some_other_way_says_how(monkeypatch):
    """A search keeps no checkpoint: it goes on from its study, and the line must not say it restarts."""
    running = [_GoesOnFromItsStudy("Search", "", (None, "")), _Stage("Evaluate", "", (None, ""))]
    monkeypatch.setattr(signals, "_running", {str(i): stage for i, stage in enumerate(running)})
    assert signals.stop_line("SIGINT", 130) == (
        "stopped by SIGINT: Search goes on from its study (root/searches/s.study.json): a rerun runs no finished "
        "job again; Evaluate had no checkpoint yet (it restarts from the beginning); rerun to resume (exit 130)"
    )


def test_a_stop_line_that_cannot_be_worked_out_in_time_does_not_hold_the_stop_up(monkeypatch):
    """Listing checkpoints may wait on a lock the interrupted thread holds (an object store's connection pool): the
    stop then says which stages ran, without their checkpoints, instead of hanging."""
    import threading

    blocked = threading.Event()
    monkeypatch.setattr(signals, "RELEASE_SECONDS", 0.2)
    monkeypatch.setattr(signals, "stop_line", lambda name, code: blocked.wait(5) and "never")

    class Stage:
        def get_task_family(self):
            return "Train"

    monkeypatch.setattr(signals, "_running", {"t": Stage()})
    assert signals._bounded_stop_line("SIGTERM", 143) == (
        "stopped by SIGTERM: Train (its checkpoints could not be listed in time); rerun to resume (exit 143)"
    )
    blocked.set()
