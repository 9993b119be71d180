"""Sweeps on the tiny pipeline: shared stages built once, a rerun trains nothing, an added point trains only
itself, each point's evaluation uses its own training, the comparison's numbers are the artifacts', the
Python API loads a point, and a bad sweep file is one line per mistake with exit 3."""

from __future__ import annotations

import collections
import csv
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tasks
import tasks.api
from stagecache.configcheck import ConfigError
from stagecache.experiments.sweeps import read_sweep
from stagecache.stages.status import plan
from tasks.compare import main as compare
from tests.tasks.conftest import write_config

ROOT = Path(tasks.__file__).resolve().parents[1]


def sweep_file(tmp_path, body: str, name: str = "lr.cfg") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


GRID = """[sweep]
name = logreg-epochs
stage = EvaluateLogReg

[TrainLogReg]
epochs = {epochs}
lr = [0.1, 0.2]
"""


def build_counting(pipeline, task) -> collections.Counter:
    pipeline.build(task)
    return collections.Counter(pipeline.ran)


def point_lines(caplog) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sweep logreg-epochs: point ")]
    caplog.clear()
    return lines


def test_a_sweep_builds_shared_stages_once_and_only_what_a_new_point_adds(pipeline, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="stagecache.experiments.sweep_progress")
    path = sweep_file(tmp_path, GRID.format(epochs="[2, 3]"))
    ran = build_counting(pipeline, tasks.Sweep(file=path))
    assert ran == {"DownloadMNIST": 1, "OneHotMNIST": 1, "TrainLogReg": 4, "EvaluateLogReg": 4, "Sweep": 1}, ran
    lines = point_lines(caplog)
    assert [line.split(" done")[0] for line in lines] == [f"sweep logreg-epochs: point {k}/4" for k in (1, 2, 3, 4)]
    assert "ETA" in lines[0] and lines[-1].endswith("; all points done")
    assert build_counting(pipeline, tasks.Sweep(file=path)) == {}  # a rerun trains nothing

    # each point's evaluation read its own training, in its point
    definition = read_sweep(path, "FullReport")
    roots = tasks.Sweep(file=path).point_roots()
    assert len(roots) == 4 and len({t.fingerprint() for t in roots.values()}) == 4
    for point in definition.points:
        evaluation = roots[point.label]
        training = evaluation.requires()["model"]
        assert training.epochs == int(point.values["TrainLogReg"]["epochs"])
        assert training.lr == float(point.values["TrainLogReg"]["lr"])
        assert evaluation.output().manifest()["upstream"]["TrainLogReg"] == training.fingerprint()

    # one more value: only its two points train
    path = sweep_file(tmp_path, GRID.format(epochs="[2, 3, 4]"))
    ran = build_counting(pipeline, tasks.Sweep(file=path))
    assert ran == {"TrainLogReg": 2, "EvaluateLogReg": 2, "Sweep": 1}, ran
    assert [line.split(" done")[0] for line in point_lines(caplog)] == [  # the built ones count as done
        "sweep logreg-epochs: point 5/6",
        "sweep logreg-epochs: point 6/6",
    ]

    # the comparison's numbers are the artifacts' metrics, in every format
    assert compare([path, "--csv", "--sort", "TrainLogReg test_accuracy"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 6
    by_label = {p.label: p for p in read_sweep(path, "FullReport").points}
    roots = tasks.Sweep(file=path).point_roots()
    for row in rows:
        label = row["label"].rstrip(" *")
        accuracy = roots[label].output().load()["test_accuracy"]
        value = next(v for k, v in row.items() if k.startswith("TrainLogReg test_accuracy"))
        assert float(value.rstrip(" *")) == pytest.approx(accuracy, abs=5e-5), (label, row)
        assert label in by_label
    assert compare([path, "--md"]) == 0 and capsys.readouterr().out.startswith("|")

    # the page and the points' provenance are published; gc keeps what the sweep names
    page = pipeline.root / "sweeps" / "logreg-epochs" / "index.html"
    assert page.is_file() and (page.parent / "points" / "1.json").is_file()
    assert "<h1>Sweep logreg-epochs — comparison</h1>" in page.read_text()  # pipeline/ has the title from tasks/
    from stagecache.cli.gc import stored_artifacts
    from stagecache.storage.roots import configured_root

    kept = {(i.family, i.fingerprint): i.kept for i in stored_artifacts(configured_root())}
    for root in roots.values():
        assert "sweep logreg-epochs" in kept[(root.get_task_family(), root.output().stem.split("/")[1])]


def test_status_of_a_sweep_names_each_point(pipeline, tmp_path):
    path = sweep_file(tmp_path, GRID.format(epochs="[2, 3]"))
    statuses = plan(tasks.Sweep(file=path))
    names = [s.name for s in statuses]
    assert names.count("OneHotMNIST") == 1 and "Sweep" in names
    assert "TrainLogReg [TrainLogReg.epochs=3, TrainLogReg.lr=0.2]" in names
    assert sum(n.startswith("TrainLogReg [") for n in names) == 4


def test_the_python_api_builds_and_loads_a_point(pipeline, tmp_path):
    path = sweep_file(tmp_path, GRID.format(epochs="[2, 3]"))
    short = tasks.api.load("TrainLogReg", sweep=path, label="epochs=3, lr=0.2")
    assert short["history"]["epoch"] == [1, 2, 3]
    same = tasks.api.load("TrainLogReg", point={"TrainLogReg": {"epochs": "3", "lr": "0.2"}}, build=False)
    assert (same["weights"]["w"] == short["weights"]["w"]).all()
    with pytest.raises(LookupError, match="has no point 'nope'"):
        tasks.api.load("TrainLogReg", sweep=path, label="nope")
    with pytest.raises(LookupError, match="not built"):
        tasks.api.load("TrainLogReg", point={"TrainLogReg": {"epochs": "5"}}, build=False)


BAD = [  # (file, line, the rest of the one line)
    ("[sweep]\nname = x\n[TrainDepMLP]\nepochs = [1, 2]\n", 3, "no stage 'TrainDepMLP'; did you mean 'TrainDeepMLP'?"),
    (
        "[sweep]\nname = x\n[TrainDeepMLP]\nepoch = [1, 2]\n",
        4,
        "TrainDeepMLP has no parameter 'epoch'; did you mean 'epochs'?",
    ),
    (
        "[sweep]\nname = x\n[FullReport]\ndpi = [50, 100]\n",
        4,
        "FullReport.dpi is cosmetic: sweeping it changes no result",
    ),
    (
        '[sweep]\nname = x\n[TrainDeepMLP]\nepochs = [1, "many"]\n',
        4,
        "TrainDeepMLP.epochs = 'many' is not valid: expected an integer",
    ),
    ("[sweep]\nname = x\n[TrainDeepMLP]\nepochs = [1, 0]\n", 4, "point 'epochs=0': [TrainDeepMLP] epochs"),
    ("[sweep]\nname = x\nmode = point\n", 3, "[sweep] mode 'point' must be grid or points; did you mean 'points'?"),
    (
        "[sweep]\nname = x\nstage = EvaluateLogReg\n[TrainDeepMLP]\nepochs = [1, 2]\n",
        4,
        "point 'epochs=1': TrainDeepMLP is not part of EvaluateLogReg's DAG: sweeping it changes nothing",
    ),
]


@pytest.mark.parametrize("body, line, message", BAD)
def test_a_bad_sweep_file_is_one_line_naming_file_and_line(pipeline, tmp_path, body, line, message):
    path = sweep_file(tmp_path, body, "bad.cfg")
    with pytest.raises(ConfigError) as error:
        read_sweep(path, "FullReport")
    problem = error.value.problems[0]
    assert problem.startswith(f"{path}:{line}: {message}"), error.value.problems
    assert len(error.value.problems) == (2 if "not part of" in message else 1), error.value.problems


def test_a_bad_sweep_file_stops_both_entry_points_with_exit_3(pipeline, tmp_path):
    path = sweep_file(tmp_path, BAD[1][0], "bad.cfg")
    cfg = tmp_path / "run.cfg"
    write_config(pipeline, cfg)
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(ROOT)}
    for command in (
        ["-m", "luigi", "--module", "tasks", "Sweep", "--file", path],
        ["-m", "tasks", "status", "Sweep", "--file", path],
    ):
        out = subprocess.run(
            [sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 3, (command, out.stdout[-2000:], out.stderr[-2000:])
        lines = [line for line in out.stderr.splitlines() if line.startswith("configuration error:")]
        assert lines == [
            f"configuration error: {path}:4: TrainDeepMLP has no parameter 'epoch'; did you mean 'epochs'?"
        ], out.stderr[-2000:]
        assert "Traceback" not in out.stderr


def test_compare_sets_two_configuration_files_side_by_side(pipeline, tmp_path, capsys):
    """``compare a.cfg b.cfg``: the parameters that differ and the metrics, one column per file, from what
    each configuration built; a configuration not built yet is named with the command that builds it (exit 25)."""
    import configparser

    a, b, c = tmp_path / "a.cfg", tmp_path / "b.cfg", tmp_path / "c.cfg"
    write_config(pipeline, a)
    for path, epochs in ((b, "3"), (c, "4")):
        config = configparser.ConfigParser(interpolation=None)
        config.read(a)
        config.set("TrainLogReg", "epochs", epochs)
        with open(path, "w") as fh:
            config.write(fh)
    for path in (a, b):
        tasks.api.load("FullReport", config=str(path))
    assert compare([str(a), str(b), "--csv"]) == 0
    rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(capsys.readouterr().out))}
    assert rows["TrainLogReg.epochs"][:2] == ["2", "3"], rows
    accuracy = next(v for k, v in rows.items() if k == "TrainLogReg test_accuracy")
    for path, value in zip((a, b), accuracy[:2]):
        built = tasks.api.load("EvaluateLogReg", config=str(path), build=False)["test_accuracy"]
        assert float(value) == pytest.approx(built, abs=1e-9)
    assert "TrainMLP.epochs" not in rows  # the same in both: not a row
    assert compare([str(a), str(c)]) == 25
    assert f"LUIGI_CONFIG_PATH={c} luigi --module tasks FullReport" in capsys.readouterr().err


def test_a_second_sweep_file_with_the_same_name_is_refused_and_gc_keeps_the_first(pipeline, tmp_path, capsys):
    """Issue 33 item 5: a second file with the first's ``name`` replaced its page and index entry, and gc then
    removed the first sweep's artifacts. It is one line naming both files, exit 3; the same file (edited, or
    by another path) is still the same sweep; gc keeps what the first sweep's page names."""
    from stagecache.cli import main

    first = sweep_file(tmp_path, GRID.format(epochs="2"), "first.cfg")
    pipeline.build(tasks.Sweep(file=first))
    from stagecache.stages.task import walk

    kept = {
        (t.get_task_family(), t.fingerprint()[:16])
        for root in tasks.Sweep(file=first).point_roots().values()
        for t in walk(root)
        if t.get_task_family() in ("TrainLogReg", "EvaluateLogReg")
    }
    assert len(kept) == 4, kept
    second = sweep_file(tmp_path, GRID.format(epochs="3"), "second.cfg")
    expected = (
        f"{second}:2: [sweep] name 'logreg-epochs' is already the sweep of {first} "
        f"(published in {pipeline.root.resolve().as_uri()}/sweeps/logreg-epochs/): rename one of them"
    )
    with pytest.raises(ConfigError) as error:
        tasks.Sweep(file=second)
    assert error.value.problems == [expected]
    cfg = tmp_path / "run.cfg"
    write_config(pipeline, cfg)
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "tasks", "Sweep", "--file", second],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3 and out.stderr.strip() == f"configuration error: {expected}", out.stderr[-2000:]
    # the same file, edited and named by another path, is the same sweep
    Path(first).write_text(GRID.format(epochs="[2, 3]"))
    assert tasks.Sweep(file=os.path.relpath(first)).definition.name == "logreg-epochs"
    Path(first).write_text(GRID.format(epochs="2"))
    pipeline.set("TrainLogReg", "lr", "0.3")
    pipeline.build(tasks.TrainLogReg())  # an artifact that nothing names: gc removes it
    pipeline.set("TrainLogReg", "epochs", "5")  # the configuration no longer uses the sweep's points
    capsys.readouterr()
    assert main(["artifacts", "gc", "--keep", "0"]) == 0
    removed = capsys.readouterr().out
    assert "removed TrainLogReg/" in removed, removed  # gc did remove what nothing names
    for family, stem in kept:
        assert f"removed {family}/{stem}" not in removed, removed
        assert (pipeline.root / family / f"{stem}.joblib").exists(), (family, stem)


def test_status_says_a_new_point_was_never_built(pipeline, tmp_path):
    """Issue 33 item 10: a point added to a built sweep was explained against the family's latest build, another
    point's (``parameter lr: 0.2 → 0.3``, ``upstream ... differs from the one the last build used``)."""
    path = sweep_file(tmp_path, GRID.format(epochs="2"))
    pipeline.build(tasks.Sweep(file=path))
    Path(path).write_text(GRID.format(epochs="2").replace("lr = [0.1, 0.2]", "lr = [0.1, 0.2, 0.3]"))
    reasons = {s.name: s.reasons for s in plan(tasks.Sweep(file=path)) if s.state == "will run"}
    assert reasons["TrainLogReg [TrainLogReg.epochs=2, TrainLogReg.lr=0.3]"] == ["never built"], reasons
    assert reasons["EvaluateLogReg [TrainLogReg.epochs=2, TrainLogReg.lr=0.3]"] == ["never built"], reasons
    assert reasons["Sweep"] == ["upstream lr=0.3 added"], reasons
    assert len(reasons) == 3, reasons


def test_a_key_swept_under_two_stages_names_the_stage_in_the_labels(pipeline, tmp_path):
    """Issue 31: ``lr`` under TrainLogReg and TrainMLP made labels like ``lr=0.1, lr=0.2``."""
    path = sweep_file(
        tmp_path,
        "[sweep]\nname = two\nstage = FullReport\n\n[TrainLogReg]\nlr = [0.1, 0.2]\n\n[TrainMLP]\nlr = [0.5, 1.0]\n"
        "hidden = [8, 16]\n",
    )
    labels = [p.label for p in read_sweep(path, "FullReport").points]
    assert labels[0] == "TrainLogReg.lr=0.1, TrainMLP.lr=0.5, hidden=8" and len(set(labels)) == 8


DIVERGING = """[sweep]
name = logreg-diverging
stage = EvaluateLogReg

[TrainLogReg]
lr = [0.1, 1e38]
"""


def test_a_diverging_point_is_marked_on_the_page_and_a_retry_marks_it_again(pipeline, tmp_path, caplog):
    """One point's training diverges: the other point, the artifact and the page are built all the same, the
    failed point is marked with why and where its record is. Deleting the record retries that point. (The
    command's exit code 5 and its lines, and the rerun that builds nothing: the engine's, tested on the toy DAG,
    tests/engine/test_sweeps.py.)"""
    path = sweep_file(tmp_path, DIVERGING)
    ran = build_counting(pipeline, tasks.Sweep(file=path))
    assert ran["Sweep"] == 1 and ran["TrainLogReg"] == 1, ran  # the good point; the diverged one never succeeded

    sweep = tasks.Sweep(file=path).output().load()
    good, bad = sweep["points"]
    assert "failed" not in good and good["metrics"]["TrainLogReg val_accuracy"] > 0
    assert bad["metrics"] == {} and bad["failed"]["stage"] == "TrainLogReg"
    assert bad["failed"]["why"].startswith("TrainLogReg diverged (epoch 1, loss nan")
    record = Path(bad["failed"]["record"])
    assert record.is_file()
    page = (pipeline.root / "sweeps" / "logreg-diverging" / "index.html").read_text()
    assert "2 configurations (1 failed)" in page and "Failed configurations" in page and str(record) in page
    assert build_counting(pipeline, tasks.Sweep(file=path)) == {}  # a rerun trains nothing

    record.unlink()  # a retry of that configuration: it diverges again, and is marked again
    ran = build_counting(pipeline, tasks.Sweep(file=path))
    assert ran == {"Sweep": 1}, ran  # the diverged training ran, and failed again: no success but the sweep's
    assert record.is_file()
    assert tasks.Sweep(file=path).output().load()["points"][1]["failed"]["record"] == str(record)

    # one more point beside the failed one: only it is planned and built, and the run ends with its table
    Path(path).write_text(DIVERGING.replace("[0.1, 1e38]", "[0.1, 1e38, 0.2]"))
    caplog.set_level(logging.INFO)
    caplog.clear()
    assert build_counting(pipeline, tasks.Sweep(file=path)) == {"TrainLogReg": 1, "EvaluateLogReg": 1, "Sweep": 1}
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("plan: 3 stage(s) to run") for m in messages), messages
    assert "summary of this run:" in messages
    assert [m for m in messages if m.startswith("sweep logreg-diverging: point ")][-1].endswith("all points done")


TIED = """[sweep]
name = two-models
stage = EvaluateLogReg, EvaluateMLP
tie = TrainLogReg.lr, TrainMLP.lr

[TrainLogReg]
lr = [0.1, 0.2]

[TrainMLP]
lr = [0.05, 0.1]
"""


def test_several_target_stages_and_tied_axes(pipeline, tmp_path):
    """``stage = EvaluateLogReg, EvaluateMLP`` builds both models per point; ``tie`` zips the two lr lists into
    one axis (2 points, not 4 crossed), and the labels name each model's lr."""
    path = sweep_file(tmp_path, TIED)
    definition = read_sweep(path, "FullReport")
    assert [p.label for p in definition.points] == [
        "TrainLogReg.lr=0.1, TrainMLP.lr=0.05",
        "TrainLogReg.lr=0.2, TrainMLP.lr=0.1",
    ]
    ran = build_counting(pipeline, tasks.Sweep(file=path))
    assert {f: ran[f] for f in ("TrainLogReg", "TrainMLP", "EvaluateLogReg", "EvaluateMLP", "Sweep")} == {
        "TrainLogReg": 2,
        "TrainMLP": 2,
        "EvaluateLogReg": 2,
        "EvaluateMLP": 2,
        "Sweep": 1,
    }, ran
    points = tasks.Sweep(file=path).output().load()["points"]
    for point in points:
        assert {"TrainLogReg val_accuracy", "TrainMLP val_accuracy"} <= set(point["metrics"]), point["metrics"]
    assert build_counting(pipeline, tasks.Sweep(file=path)) == {}


@pytest.mark.parametrize(
    "tie,problem",
    [
        ("TrainLogReg.lr, TrainMLP.lr", "the lists differ in length (TrainLogReg.lr 2, TrainMLP.lr 3)"),
        ("TrainLogReg.lr, TrainMLP.lrr", "[sweep] tie names 'TrainMLP.lrr', which the grid does not list"),
    ],
)
def test_a_bad_tie_is_one_line(tmp_path, tie, problem):
    path = sweep_file(tmp_path, TIED.replace("TrainLogReg.lr, TrainMLP.lr", tie).replace("[0.05, 0.1]", "[1, 2, 3]"))
    with pytest.raises(ConfigError) as error:
        read_sweep(path, "FullReport")
    (line,) = error.value.problems
    assert line.startswith(f"{path}:4: ") and problem in line, line
