"""Searches on the tiny pipeline: successive halving whose promotions continue the cached trainings, Optuna's
proposals, the study kept in the artifact root (a rerun trains nothing, a larger budget goes on with the same
study), selection on validation data, failed trials that do not fail the search, and a bad search file that is
one line per mistake with exit 3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tasks
import tasks.api
from stagecache.configcheck import ConfigError
from stagecache.experiments.search_task import study_name
from stagecache.experiments.searches import read_search
from stagecache.storage.roots import configured_root
from tests.tasks.conftest import write_config

ROOT = Path(tasks.__file__).resolve().parents[1]

SEARCH = """[search]
name = logreg-lr
stage = EvaluateLogReg
objective = val_accuracy
seed = 0
trials = {trials}
batch = 2

[fidelity]
parameter = TrainLogReg.epochs
min = 1
max = 4
reduction = 2

[space]
TrainLogReg.lr = {space}
"""


def search_file(tmp_path, trials: int = 5, space: str = "loguniform(0.01, 1.0)", name: str = "s.cfg") -> str:
    path = tmp_path / name
    path.write_text(SEARCH.format(trials=trials, space=space))
    return str(path)


def training_manifests(pipeline) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((pipeline.root / "TrainLogReg").glob("*.json"))]


def test_a_search_promotes_by_continuing_and_a_rerun_trains_nothing(pipeline, tmp_path, caplog):
    caplog.set_level("INFO", logger="stagecache.run.progress")
    path = search_file(tmp_path)
    pipeline.build(tasks.Search(file=path))
    lines = [
        r.getMessage() for r in caplog.records if r.name == "stagecache.run.progress" and "Search" in r.getMessage()
    ]
    # luigi restarts the search after each batch: one start, the batches as "goes on", one end
    assert sum(line.endswith("Search started") for line in lines) == 1, lines
    assert (
        sum("Search goes on" in line for line in lines) >= 2 and sum(" Search done in " in line for line in lines) == 1
    )
    search = tasks.Search(file=path).output().load()
    assert search["fidelity"]["rungs"] == [1, 2, 4] and len(search["trials"]) == 5
    promoted = [j for j in search["jobs"] if j["rung"] > 0]
    assert promoted, search["jobs"]  # successive halving promoted someone, and someone reached the last rung
    assert any(j["rung"] == 2 for j in search["jobs"]) and search["best"]["rung"] == 2
    for job in promoted:  # every promotion continued the trial's previous rung: only the added epochs trained
        previous = search["fidelity"]["rungs"][job["rung"] - 1]
        assert job["continued_from"] == previous and job["epochs_trained"] == job["epochs"] - previous, job
    manifests = training_manifests(pipeline)
    assert len(manifests) == len(search["jobs"])  # each job's training built once
    assert search["budget"]["epochs_used"] == sum(
        int(m["significant_params"]["epochs"]) - int((m.get("continued_from") or {}).get("epochs", 0))
        for m in manifests
    )
    # the best is chosen on validation accuracy, at the highest rung
    top = [t for t in search["trials"] if "4" in t["results"]]
    assert search["best"]["value"] == max(t["results"]["4"] for t in top)
    assert "TrainLogReg val_accuracy" in search["best"]["reported"]
    assert "TrainLogReg test_accuracy" in search["best"]["reported"]  # reported beside, never chosen on
    # fANOVA at the one rung 5 trials finished (on the tiny data each scored 1.0 there: nothing to explain)
    (importances,) = search["importances"]["rungs"]
    assert (importances["epochs"], importances["trials"], importances["importances"]) == (1, 5, {"TrainLogReg.lr": 0.0})
    assert importances["note"] == "every trial gave the same objective"

    assert pipeline.build(tasks.Search(file=path)) == set()  # a finished search: nothing runs
    from tasks.compare import search_points

    compared = search_points(path)
    assert len(compared) == 5 and all("TrainLogReg val_accuracy" in p["metrics"] for p in compared)
    top = next(p for p in compared if p["label"] == f"trial {search['best']['trial']}")
    assert top["metrics"]["TrainLogReg val_accuracy"] == search["best"]["value"]
    best = search["best"]["values"]["TrainLogReg.lr"]
    chosen = tasks.api.load("TrainLogReg", search=path, best=True, build=False)
    assert chosen["params"]["lr"] == best and chosen["params"]["epochs"] == "4"
    from stagecache.cli.gc import stored_artifacts

    kept = {(i.family, i.fingerprint): i.kept for i in stored_artifacts(configured_root())}
    trainings = [(f, stem) for (f, stem) in kept if f == "TrainLogReg"]
    assert len(trainings) == len(search["jobs"])  # every trial's training, stopped early or not, is kept by gc
    assert all("search logreg-lr" in kept[key] for key in trainings)
    page = pipeline.root / "searches" / "logreg-lr" / "index.html"
    assert page.is_file() and "Chosen on <strong>val_accuracy</strong>" in page.read_text()
    assert "<h1>Search logreg-lr</h1>" in page.read_text()  # pipeline/ has the title from tasks/
    assert "<td>TrainLogReg.lr</td><td>0.00</td>" in page.read_text()  # the importances' table, and why 0
    assert "Importance 0 throughout at epochs 1: every trial gave the same objective." in page.read_text()
    assert (page.parent / "progress.png").read_bytes().startswith(b"\x89PNG")


def test_a_promoted_trial_has_the_weights_of_a_training_from_scratch(pipeline, tmp_path):
    path = search_file(tmp_path)
    pipeline.build(tasks.Search(file=path))
    search = tasks.Search(file=path).output().load()
    job = next(j for j in search["jobs"] if j["rung"] == 2)
    trial = search["trials"][job["trial"]]
    point = {"TrainLogReg": {"lr": trial["values"]["TrainLogReg.lr"], "epochs": "4"}}
    continued = tasks.api.load("TrainLogReg", point=point, build=False)
    pipeline.set("artifacts", "root", str(tmp_path / "scratch"))
    scratch = tasks.api.load("TrainLogReg", point=point)
    assert tasks.api.stage_task("TrainLogReg", point=point).output().manifest().get("continued_from") is None
    for name, weights in continued["weights"].items():
        np.testing.assert_array_equal(weights, scratch["weights"][name])


def test_a_larger_budget_goes_on_with_the_same_study(pipeline, tmp_path):
    path = search_file(tmp_path, trials=3)
    pipeline.build(tasks.Search(file=path))
    first = configured_root().read_json(study_name("logreg-lr"))
    built = {m["fingerprint"] for m in training_manifests(pipeline)}
    path = search_file(tmp_path, trials=6)
    pipeline.build(tasks.Search(file=path))
    second = configured_root().read_json(study_name("logreg-lr"))
    assert second["trials"][:3] == first["trials"] and len(second["trials"]) == 6
    assert second["batches"][: len(first["batches"])] == first["batches"]
    manifests = training_manifests(pipeline)
    assert built < {m["fingerprint"] for m in manifests}  # the earlier trainings were kept, not rebuilt
    assert len(manifests) == len({m["fingerprint"] for m in manifests})
    # with one batch size the proposals are the seed's: a new study of 6 trials proposes the same values
    other = search_file(tmp_path, trials=6, name="other.cfg")
    Path(other).write_text(Path(other).read_text().replace("name = logreg-lr", "name = fresh"))
    pipeline.build(tasks.Search(file=other))
    fresh = configured_root().read_json(study_name("fresh"))
    assert [t["params"] for t in fresh["trials"][:3]] == [t["params"] for t in first["trials"]]


def test_failed_trials_are_recorded_and_the_search_still_ends(pipeline, tmp_path, caplog):
    path = search_file(tmp_path, trials=2, space="uniform(1e38, 3e38)")
    pipeline.build(tasks.Search(file=path))
    search = tasks.Search(file=path).output().load()
    assert [t["state"] for t in search["trials"]] == ["failed", "failed"] and search["best"] is None
    assert all("training loss" in t["failure"] for t in search["trials"])
    assert "no trial gave a result" in caplog.text
    assert pipeline.build(tasks.Search(file=path)) == set()


@pytest.mark.parametrize(
    "edit, line, message",
    [
        (
            ("objective = val_accuracy", "objective = test_accuracy"),
            4,
            "is not a metric EvaluateLogReg offers to choose on",
        ),
        (("TrainLogReg.lr = ", "TrainLogReg.lrr = "), 16, "TrainLogReg has no parameter 'lrr'; did you mean 'lr'?"),
        (("loguniform(0.01, 1.0)", "logunifrom(0.01, 1.0)"), 16, "did you mean 'loguniform'?"),
        (("loguniform(0.01, 1.0)", "uniform(1.0, 0.01)"), 16, "low must be below high"),
        (("loguniform(0.01, 1.0)", "uniform(-1.0, 0.5)"), 16, "[TrainLogReg] lr must be > 0"),
        (
            ("parameter = TrainLogReg.epochs", "parameter = TrainLogReg.batch_size"),
            10,
            "continues a build only along epochs",
        ),
        (("trials = 5", "trials = 5\nbudget_epochs = 0"), 7, "budget_epochs = 0 must be at least 1"),
        (("seed = 0", "seed = 0\nsampler = grd"), 6, "did you mean 'grid'?"),
    ],
)
def test_a_bad_search_file_is_one_line_naming_file_and_line(pipeline, tmp_path, edit, line, message):
    path = search_file(tmp_path)
    Path(path).write_text(Path(path).read_text().replace(*edit))
    with pytest.raises(ConfigError) as error:
        read_search(path)
    assert len(error.value.problems) == 1, error.value.problems
    assert error.value.problems[0].startswith(f"{path}:{line}: ") and message in error.value.problems[0]


def test_an_impossible_budget_and_a_missing_file_stop_the_command_with_exit_3(pipeline, tmp_path):
    path = search_file(tmp_path)
    Path(path).write_text(
        Path(path).read_text().replace("min = 1", "min = 3").replace("trials = 5", "budget_epochs = 2")
    )
    cfg = tmp_path / "luigi.cfg"
    write_config(pipeline, cfg)
    env = {"LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    for file, message in (
        (path, "an impossible budget"),
        (str(tmp_path / "missing.cfg"), "cannot read the search file"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "luigi", "--module", "tasks", "Search", "--file", file],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 3, out.stdout + out.stderr
        lines = [x for x in (out.stdout + out.stderr).splitlines() if message in x]
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stdout + out.stderr


def test_a_search_killed_mid_batch_resumes_without_training_a_finished_job_again(pipeline, tmp_path):
    """SIGKILL once the second batch is recorded; the rerun builds only what was not finished, and the study it
    ends with is the one an uninterrupted search of the same seed reaches."""
    import os
    import signal
    import time

    from tests.tasks.conftest import luigi_process

    path = search_file(tmp_path, trials=6)
    Path(path).write_text(Path(path).read_text().replace("min = 1", "min = 2").replace("max = 4", "max = 8"))
    proc = luigi_process(pipeline, tmp_path, "Search", "--file", path)
    study_path = pipeline.root / study_name("logreg-lr")
    deadline = time.time() + 180
    while not (study_path.exists() and len(json.loads(study_path.read_text())["batches"]) >= 2):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not tasks.Search(file=path).complete()
    # what a stop line says of it (SIGINT, SIGTERM): it goes on from the study, not "restarts from the beginning"
    assert tasks.Search(file=path).after_a_stop().startswith(f"goes on from its study ({study_path.as_uri()})")
    before = {p.name: p.stat().st_mtime_ns for p in (pipeline.root / "TrainLogReg").glob("*.joblib")}
    pipeline.build(tasks.Search(file=path))
    after = {p.name: p.stat().st_mtime_ns for p in (pipeline.root / "TrainLogReg").glob("*.joblib")}
    assert all(after[name] == mtime for name, mtime in before.items())  # nothing finished was built again
    search = tasks.Search(file=path).output().load()
    assert len(after) == len(search["jobs"])  # and each job's training exists once
    resumed = configured_root().read_json(study_name("logreg-lr"))
    Path(path).write_text(Path(path).read_text().replace("name = logreg-lr", "name = uninterrupted"))
    pipeline.build(tasks.Search(file=path))
    uninterrupted = configured_root().read_json(study_name("uninterrupted"))
    assert resumed["batches"] == uninterrupted["batches"]
    assert [t["params"] for t in resumed["trials"]] == [t["params"] for t in uninterrupted["trials"]]


def test_a_second_worker_process_under_luigid_lends_its_worker_to_the_search(pipeline, tmp_path):
    """``luigi --module tasks Search --file F`` and, beside it, ``luigi --module tasks --assistant TASK`` under one
    luigid on one root: luigid hands the search's jobs to both processes, each trial's training is built once
    between them, and the search ends with its study complete."""
    import os
    import re
    import signal
    import time

    from tests.services import running_luigid

    path = search_file(tmp_path, trials=4)
    pipeline.build(tasks.DownloadMNIST())
    home = tmp_path / "luigid"
    home.mkdir()
    (home / "luigi.cfg").write_text("[scheduler]\nrecord_task_history = false\nretry_delay = 1\n")
    pipeline.set("worker", "wait_interval", "0.2")
    pipeline.set("worker", "wait_jitter", "0.1")
    pipeline.set("worker", "keep_alive", "true")
    with running_luigid(home, home / "luigi.cfg", home) as port:
        pipeline.set("core", "local_scheduler", "false")
        pipeline.set("core", "scheduler_port", str(port))
        cfg = tmp_path / "run.cfg"
        write_config(pipeline, cfg)
        env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(ROOT)}
        luigi = [sys.executable, "-m", "luigi", "--module", "tasks"]
        run = dict(cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # an assistant runs whatever luigid has pending, besides the task it names (one that is built already)
        helper = subprocess.Popen([*luigi, "--assistant", "DownloadMNIST"], **run, start_new_session=True)
        try:
            search = subprocess.run([*luigi, "Search", "--file", path], **run, timeout=240)
            # luigid may hand the search's own loop to the assistant between two batches: then it finishes there
            deadline = time.time() + 120
            while not tasks.Search(file=path).complete() and time.time() < deadline and helper.poll() is None:
                time.sleep(0.5)
        finally:
            os.killpg(helper.pid, signal.SIGTERM)
            lent = helper.communicate(timeout=60)[0]
    assert tasks.Search(file=path).complete()
    assert search.returncode == 0 or (
        search.returncode == 25
        and "Search is not built yet: the central scheduler gave it to another worker" in search.stdout
    ), search.stdout[-3000:]
    assert "Traceback" not in lent, lent[-3000:]
    trained = re.findall(r"TrainLogReg: wrote \S+/(\w+)\.joblib", search.stdout + lent)
    assert trained and len(trained) == len(set(trained)), trained  # each training once, between the two
    assert re.search(r"TrainLogReg: wrote ", lent), lent[-3000:]  # the second process took jobs
    study = configured_root().read_json(study_name("logreg-lr"))
    assert len(study["trials"]) == 4
