"""What a run of the pipeline logs: the plan with an estimate per epoch, bounded epoch lines, one final table (the
engine's progress lines themselves, through luigi's command line: tests/engine/test_progress.py)."""

from __future__ import annotations

import logging
import re

import tasks


def _messages(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_a_run_logs_plan_stages_epochs_and_a_table(pipeline, caplog):
    pipeline.set("TrainLogReg", "epochs", "30")
    caplog.set_level(logging.INFO)
    pipeline.build(tasks.EvaluateLogReg())
    lines = _messages(caplog, "stagecache.run.progress")
    stages = ["DownloadMNIST", "OneHotMNIST", "TrainLogReg", "EvaluateLogReg"]
    assert lines[:5] == ["plan: 4 stage(s) to run, 0 cached; no earlier runs to estimate from"] + [
        f"  {family:<14}  never built before" for family in stages
    ]
    for k, family in enumerate(stages, 1):
        assert f"stage {k}/4: {family} started" in lines
        assert any(re.fullmatch(rf"stage {k}/4: {family} done in [\d.]+s", m) for m in lines), lines
    epochs = [m for m in _messages(caplog, "pipeline.training") if m.startswith("TrainLogReg epoch ")]
    assert 10 <= len(epochs) <= 12, epochs  # 30 epochs: the first, then every 3rd
    table = lines[lines.index("summary of this run:") + 1 :]
    assert table[0].split() == ["STAGE", "RESULT", "SECONDS"]
    assert [row.split()[:2] for row in table[1:]] == [[f, "ran"] for f in stages]

    # a second run: the plan names what is cached and estimates from the first run's manifests
    caplog.clear()
    pipeline.set("TrainLogReg", "lr", "0.2")
    pipeline.build(tasks.EvaluateLogReg())
    lines = _messages(caplog, "stagecache.run.progress")
    assert re.fullmatch(r"plan: 2 stage\(s\) to run, 1 cached; estimate [\d.]+s from earlier runs", lines[0]), lines[0]
    # a training is reckoned per epoch, at the last build's pace
    pace = r"at the last build's pace \([\d.e-]+s each\)"
    assert re.fullmatch(rf"  TrainLogReg     ~[\d.]+s: 30 epochs {pace}", lines[1]), lines[1]
    assert re.fullmatch(r"  EvaluateLogReg  ~[\d.]+s last time", lines[2]), lines[2]
    assert lines[3] == "  cached: OneHotMNIST"
    table = lines[lines.index("summary of this run:") + 2 :]
    assert [row.split()[:2] for row in table] == [
        ["OneHotMNIST", "cached"],
        ["TrainLogReg", "ran"],
        ["EvaluateLogReg", "ran"],
    ]

    # a longer training continues from that one: only the new epochs count, at the last build's pace
    caplog.clear()
    pipeline.set("TrainLogReg", "epochs", "36")
    pipeline.build(tasks.TrainLogReg())
    lines = _messages(caplog, "stagecache.run.progress")
    continued = rf"  TrainLogReg  ~[\d.]+s: 6 epochs after the 30 it continues from, {pace}"
    assert re.fullmatch(continued, lines[1]), lines[1]
