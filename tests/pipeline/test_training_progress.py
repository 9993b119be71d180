"""Per-epoch log lines of ``run_epochs``: bounded for short epochs, an ETA without compile time."""

import itertools
import logging
from types import SimpleNamespace

import pytest

import pipeline.training as training
from pipeline.training import eta_seconds, run_epochs


def _epoch_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "pipeline.training" and " epoch " in r.getMessage()]


def test_short_epochs_log_about_ten_lines(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.training")
    run_epochs(model="moons", epochs=500, train_epoch=lambda e: 1.0, evaluate=lambda: 0.5, metric="acc")
    lines = _epoch_lines(caplog)
    assert 10 <= len(lines) <= 11, lines  # epoch 1, then every 50th
    assert lines[0].startswith("moons epoch 1/500") and lines[-1].startswith("moons epoch 500/500")


def test_eta_leaves_out_the_first_epoch_which_includes_compiling():
    assert eta_seconds([30.0], 4) is None
    assert eta_seconds([30.0, 2.0, 4.0], 5) == pytest.approx(15.0)


def test_long_epochs_log_each_epoch_with_an_eta_from_the_later_epochs(caplog, monkeypatch):
    # a fake clock: the first epoch takes 30 s (compiling), every later one 2 s (1.5 train + 0.5 evaluate)
    steps = itertools.chain(
        [0.0, 29.5, 30.0], itertools.chain.from_iterable([t, t + 1.5, t + 2.0] for t in itertools.count(30.0, 2.0))
    )
    monkeypatch.setattr(training, "time", SimpleNamespace(perf_counter=lambda: next(steps)))
    caplog.set_level(logging.INFO, logger="pipeline.training")
    run_epochs(model="deep", epochs=5, train_epoch=lambda e: 1.0, evaluate=lambda: 0.5, metric="acc")
    lines = _epoch_lines(caplog)
    assert len(lines) == 5, lines
    assert "includes compiling" in lines[0]
    assert lines[1].endswith("2.0s  ETA 6s"), lines[1]  # 3 epochs left x 2 s, not x (30 + 2) / 2
    assert lines[4].endswith("done")
