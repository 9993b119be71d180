"""Dry-run status and artifact housekeeping, checked against what luigi really runs."""

import contextlib
import datetime
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from luigi.task import flatten

import tasks
from stagecache.cli.gc import collect_garbage, stored_artifacts, used_keys
from stagecache.stages import fingerprint
from stagecache.stages.status import CACHED, WILL_RUN, plan
from stagecache.stages.task import walk
from stagecache.storage.roots import configured_root
from tests.tasks.conftest import ALL_TASKS

ROOT = Path(__file__).resolve().parents[2]
MNIST_SIDE = {
    "OneHotMNIST",
    "TrainLogReg",
    "TrainMLP",
    "TrainDeepMLP",
    "EvaluateLogReg",
    "EvaluateMLP",
    "EvaluateDeepMLP",
    "FullReport",
}
TEXT_SIDE = {"BuildCharVocab", "TrainCharRNN", "EvaluateCharRNN", "FullReport"}


def downstream(family: str) -> set[str]:
    chains = {
        "DownloadMNIST": {"DownloadMNIST"} | MNIST_SIDE,
        "OneHotMNIST": MNIST_SIDE,
        "DownloadShakespeare": {"DownloadShakespeare"} | TEXT_SIDE,
        "BuildCharVocab": TEXT_SIDE,
        "TrainCharRNN": {"TrainCharRNN", "EvaluateCharRNN", "FullReport"},
        "EvaluateCharRNN": {"EvaluateCharRNN", "FullReport"},
        "FullReport": {"FullReport"},
        "TrainMoonsMLP": {"TrainMoonsMLP", "FullReport"},
    }
    for model in ("LogReg", "MLP", "DeepMLP"):
        chains[f"Train{model}"] = {f"Train{model}", f"Evaluate{model}", "FullReport"}
        chains[f"Evaluate{model}"] = {f"Evaluate{model}", "FullReport"}
    return chains[family]


# (section, key, a new value) for every significant parameter of every stage
SIGNIFICANT = [
    ("DownloadMNIST", "sha256", '{"train-images-idx3-ubyte": "00"}'),
    ("DownloadShakespeare", "sha256", '{"input.txt": "00"}'),
    ("OneHotMNIST", "train_limit", "100"),
    ("OneHotMNIST", "val_size", "64"),
    ("BuildCharVocab", "val_fraction", "0.3"),
    ("BuildCharVocab", "test_fraction", "0.2"),
    *[
        (t, k, v)
        for t in ("TrainLogReg", "TrainMLP", "TrainDeepMLP")
        for k, v in (("epochs", "7"), ("seed", "5"), ("lr", "0.02"), ("batch_size", "32"))
    ],
    ("TrainMLP", "hidden", "8"),
    ("TrainDeepMLP", "hidden", "[8, 8]"),
    ("TrainDeepMLP", "p_drop_input", "0.1"),
    ("TrainDeepMLP", "p_drop_hidden", "0.3"),
    ("TrainDeepMLP", "rho", "0.8"),
    ("TrainDeepMLP", "eps", "1e-5"),
    *[
        ("TrainCharRNN", k, v)
        for k, v in (
            ("epochs", "3"),
            ("seed", "5"),
            ("steps_per_epoch", "6"),
            ("hidden", "9"),
            ("seq_len", "7"),
            ("batch_size", "3"),
            ("optimizer", "rmsprop"),
            ("lr", "0.02"),
            ("clip", "1.0"),
            ("init", "seed"),
            ("batching", "streams"),
            ("keep_best", "false"),
        )
    ],
    *[
        ("TrainMoonsMLP", k, v)
        for k, v in (
            ("epochs", "2"),
            ("seed", "5"),
            ("n_train", "40"),
            ("n_test", "20"),
            ("noise", "0.1"),
            ("hidden", "4"),
            ("lr", "0.5"),
            ("batch_size", "8"),
        )
    ],
    *[(f"Evaluate{m}", "n_misclassified", "3") for m in ("LogReg", "MLP", "DeepMLP")],
    ("EvaluateCharRNN", "temperatures", "[0.7]"),
    ("EvaluateCharRNN", "prompt", "All:"),
    ("EvaluateCharRNN", "sample_length", "10"),
    ("EvaluateCharRNN", "sample_seed", "1"),
]
COSMETIC = [
    ("DownloadMNIST", "mirrors", '["/nowhere"]'),
    ("DownloadMNIST", "timeout", "3"),
    ("DownloadShakespeare", "timeout", "3"),
    ("FullReport", "dpi", "40"),
    ("pytensor", "backend", "numba"),
    ("pytensor", "compile_cache", "another_cache"),
    ("pytensor", "compile_cache_max_mb", "64"),
]


@pytest.fixture
def pipeline_copy(tmp_path, monkeypatch):
    """Fingerprint the code of a copy of ``pipeline/`` (returned) and ``tasks/`` (beside it) that the test may edit."""
    for package in ("pipeline", "tasks"):
        shutil.copytree(ROOT / package, tmp_path / "src" / package, ignore=shutil.ignore_patterns("__pycache__"))
        monkeypatch.setitem(fingerprint.SOURCE_ROOTS, package, tmp_path / "src" / package)
    fingerprint.clear_code_cache()
    yield tmp_path / "src" / "pipeline"
    fingerprint.clear_code_cache()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    fingerprint.clear_code_cache()


def test_status_before_and_after_a_build(pipeline):
    statuses = plan(tasks.FullReport())
    assert {s.family for s in statuses} == ALL_TASKS
    assert all(s.state == WILL_RUN and s.reasons == ["never built"] for s in statuses)
    assert pipeline.build() == ALL_TASKS
    assert all(s.state == CACHED for s in plan(tasks.FullReport()))


# Built for real, besides the plan of every parameter: a data stage's (the whole DAG reruns, the report included),
# a training's and an evaluation's. That a real run reruns what status predicts is the engine's promise, tested for
# every kind of change on the toy DAG (tests/engine/test_rebuilds.py); these three runs cost seconds each.
BUILT = {
    ("OneHotMNIST", "train_limit"),
    ("TrainCharRNN", "optimizer"),
    ("EvaluateMLP", "n_misclassified"),
}


def test_every_parameter_reruns_exactly_its_downstream(built_pipeline):
    """For each significant parameter of every stage, status predicts exactly the downstream set and, once it is
    set back, nothing but the report; for the parameters in BUILT the real run reruns exactly that set (after the
    first, without rendering the report). Going back to the first configuration reuses every old artifact (only
    the report is republished)."""
    assert {(s, k) for s, k, _ in SIGNIFICANT} >= BUILT
    every = {(f, k) for f in ALL_TASKS for k, p in getattr(tasks, f).get_params() if p.significant and k != "point"}
    assert {(s, k) for s, k, _ in SIGNIFICANT} == every
    pipeline = built_pipeline  # the whole DAG built with the first configuration
    published_is_first = True  # the published report is the first configuration's
    for section, key, value in SIGNIFICANT:
        old = pipeline.get(section, key)
        before = getattr(tasks, section)().params_dict()[key]
        pipeline.set(section, key, value)
        after = getattr(tasks, section)().params_dict()[key]
        statuses = {s.family: s for s in plan(tasks.FullReport())}
        predicted = {f for f, s in statuses.items() if s.state == WILL_RUN}
        assert predicted == downstream(section), (section, key)
        assert f"parameter {key}: {before} → {after}" in statuses[section].reasons
        if (section, key) in BUILT and published_is_first:  # the first: the whole DAG, the report included
            assert pipeline.build() == predicted, (section, key)
            published_is_first = False
        elif (section, key) in BUILT:  # the others: all that the report needs (rendering it adds nothing new)
            assert pipeline.build(*flatten(tasks.FullReport().requires())) == predicted - {"FullReport"}, (section, key)
        if old is None:
            pipeline.config.remove_option(section, key)
        else:
            pipeline.set(section, key, old)
        assert pipeline.will_run() == (set() if published_is_first else {"FullReport"}), (section, key)
    assert pipeline.build() == {"FullReport"}
    for section, key, value in COSMETIC:
        pipeline.set(section, key, value)
        assert pipeline.will_run() == set(), (section, key)
        assert pipeline.build() == set(), (section, key)


def test_code_edits(built_pipeline, pipeline_copy):
    """Status predicts what a code edit reruns (checked edit by edit); one real rebuild agrees with it."""
    pipeline = built_pipeline  # the whole DAG built (from the same code as the copy)
    assert pipeline.will_run() == set()
    src = pipeline_copy.parent
    # nothing that ran escapes the hash: every project module loaded is in some stage's code, or result-neutral
    stages = walk(tasks.Retrain(date=datetime.date(2026, 1, 1)))
    covered = set().union(*(fingerprint.stage_code_hashes(t) for t in stages))
    loaded = {m for m in sys.modules if m.split(".")[0] in ("pipeline", "tasks")}
    # (other tests in this process may have loaded the command-line and store modules that no stage runs)
    # a sweep's and a search's, not the daily DAG's
    not_run = ("tasks.sweep", "tasks.search", "tasks.pages", "tasks.api", "tasks.compare", "pipeline.experiments")
    assert {m for m in loaded - covered if not fingerprint.is_result_neutral(m) and not m.startswith(not_run)} == set()

    def predicts(*edits) -> set[str]:
        """Make the edits, return what status says will run, undo them."""
        originals = {src / path: (src / path).read_text() for path, _, _ in edits}
        try:
            for path, old, new in edits:
                edit(src / path, old, new)
            return pipeline.will_run()
        finally:
            for path, text in originals.items():
                path.write_text(text)
            fingerprint.clear_code_cache()

    deep_mlp = {"TrainDeepMLP", "EvaluateDeepMLP", "FullReport"}
    # comments, docstrings and formatting do not count
    assert (
        predicts(
            (
                "pipeline/models/deep_mlp.py",
                "    X = dropout(X, p_drop_input, u_in)\n",
                "    # drop inputs first\n    X = dropout(X,   p_drop_input,\n                u_in)\n",
            ),
            ("pipeline/models/mlp.py", '"""Class probabilities."""', '"""Softmax over the ten digits."""'),
        )
        == set()
    )
    # the compile layer is result-neutral: real edits there rerun nothing
    assert (
        predicts(
            (
                "pipeline/compile/backend.py",
                'GRAPH_CACHE_SUBDIR = "pytensor-graphs"',
                'GRAPH_CACHE_SUBDIR = "rewritten-graphs"',
            ),
            ("pipeline/compile/graph_cache.py", "MAX_ENTRIES = 64", "MAX_ENTRIES = 32"),
            ("pipeline/compile/internals.py", 'LOCK_FILE = ".lockfile"', 'LOCK_FILE = ".lock"'),
            ("tasks/compiling.py", "self.compiles: list = []", "self.compiles: list = list()"),
        )
        == set()
    )
    assert all(s.state == CACHED for s in plan(tasks.FullReport()))
    # a model module: that model only
    model_edit = (
        "pipeline/models/deep_mlp.py",
        "h = pt.maximum(pt.dot(X, w_h), 0)",
        "h = pt.maximum(pt.dot(X, w_h), 0.0)",
    )
    assert predicts(model_edit) == deep_mlp
    # a function of a shared module: every model that uses it (the deep net's RMSprop does not call sgd; the
    # char-RNN reaches both through its table of optimisers)
    assert predicts(("pipeline/models/optim.py", "p - np.float32(lr) * g", "p - g * np.float32(lr)")) == {
        f"{k}{m}" for k in ("Train", "Evaluate") for m in ("LogReg", "MLP", "CharRNN")
    } | {"TrainMoonsMLP", "FullReport"}
    rmsprop_edit = ("pipeline/models/optim.py", "acc_new = np.float32(rho) * acc", "acc_new = acc * np.float32(rho)")
    assert predicts(rmsprop_edit) == deep_mlp | {"TrainCharRNN", "EvaluateCharRNN"}
    # a stage's own code in tasks/: that stage and its downstream, not the other stages of its module
    tasks_edit = (
        "tasks/evaluate.py",
        "            sample_length=self.sample_length,\n",
        "            sample_length=int(self.sample_length),\n",
    )
    assert predicts(tasks_edit) == {"EvaluateCharRNN", "FullReport"}
    assert (
        predicts(
            (
                "tasks/data.py",
                'return prepare_mnist(inputs["files"], train_limit=self.train_limit, val_size=self.val_size)',
                'return prepare_mnist(inputs["files"], train_limit=int(self.train_limit), val_size=self.val_size)',
            )
        )
        == MNIST_SIDE
    )
    # every stage runs pipeline/data/mnist.py's import (tasks.data reads MNIST's pins from it), only OneHotMNIST
    # runs prepare_mnist: an edit in it reruns OneHotMNIST and its downstream, not the downloads, not the
    # char-RNN's branch (issue 33, item 1)
    mnist_edit = ("pipeline/data/mnist.py", "    out = {}\n", "    out = dict()\n")
    assert predicts(mnist_edit) == MNIST_SIDE

    # the real run reruns what status predicts, and says why
    edit(src / model_edit[0], *model_edit[1:])
    edit(src / tasks_edit[0], *tasks_edit[1:])
    statuses = {s.family: s for s in plan(tasks.FullReport())}
    assert "code changed: pipeline.models.deep_mlp" in statuses["TrainDeepMLP"].reasons
    assert "code changed: tasks.evaluate" in statuses["EvaluateCharRNN"].reasons
    expected = pipeline.will_run()
    assert expected == deep_mlp | {"EvaluateCharRNN"}
    assert pipeline.build() == expected
    assert pipeline.will_run() == set()
    # the edit of prepare_mnist changes no byte of OneHotMNIST's output (issue 32, early cutoff): OneHotMNIST
    # reruns, the trainings and evaluations reuse their artifacts bit for bit without running, the report renders
    reusing = MNIST_SIDE - {"OneHotMNIST", "FullReport"}
    before = {f: getattr(tasks, f)().output().manifest() for f in reusing | {"OneHotMNIST"}}
    edit(src / mnist_edit[0], *mnist_edit[1:])
    statuses = {s.family: s for s in plan(tasks.FullReport())}
    assert statuses["OneHotMNIST"].reasons == ["code changed: pipeline.data.mnist"]
    assert statuses["TrainLogReg"].reasons == [
        "upstream OneHotMNIST will rerun",
        f"reruns if OneHotMNIST's bytes change, else reuses {before['TrainLogReg']['fingerprint'][:16]}… "
        "without running (early cutoff)",
    ]
    assert (
        statuses["EvaluateLogReg"]
        .reasons[-1]
        .startswith("reruns if the bytes of OneHotMNIST or TrainLogReg change, else reuses")
    )
    assert not any("early cutoff" in r for r in statuses["FullReport"].reasons)  # it names the fingerprints
    assert pipeline.build() == MNIST_SIDE
    assert set(pipeline.reused) == reusing
    after = {f: getattr(tasks, f)().output().manifest() for f in reusing | {"OneHotMNIST"}}
    for family in reusing | {"OneHotMNIST"}:
        assert after[family]["fingerprint"] != before[family]["fingerprint"], family
        assert after[family]["artifact"]["sha256"] == before[family]["artifact"]["sha256"], family
        if family in reusing:
            assert after[family]["early_cutoff"]["reused"] == before[family]["fingerprint"], family
    assert pipeline.will_run() == set()
    # a reused training keeps its final training state: a longer one continues from it
    assert after["TrainLogReg"]["training_state"]["checkpoint"] == 2
    pipeline.set("TrainLogReg", "epochs", "3")
    statuses = {s.family: s for s in plan(tasks.FullReport())}
    assert statuses["TrainLogReg"].reasons[0] == (
        f"continues from epochs=2 (fingerprint {after['TrainLogReg']['fingerprint'][:16]}…)"
    )


def test_same_bytes_from_another_mirror_rerun_nothing(pipeline, tmp_path, tiny_mnist):
    pipeline.build(tasks.OneHotMNIST())
    other = tmp_path / "other-mirror"
    shutil.copytree(tiny_mnist[0], other)
    tasks.DownloadMNIST().output().path.unlink()  # force a fresh download, from the other mirror
    pipeline.set("DownloadMNIST", "mirrors", f'["{other}"]')
    assert pipeline.build(tasks.DownloadMNIST()) == {"DownloadMNIST"}
    assert pipeline.build(tasks.OneHotMNIST()) == set()


def _copy_if_there(source, destination) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(source, destination)


def test_gc_keeps_everything_reachable(pipeline, session_compile_cache):
    """gc on this pipeline's root: what FullReport's DAG uses stays, older builds and a writer's leftover go, and the
    compile cache inside the root is no artifact (keep, dry runs, pins and claims: tests/engine/test_gc*.py)."""
    # the default place, inside the artifacts root, filled from the session's cache so that nothing compiles
    # (which other test processes may be writing to: an entry that goes while it is copied is left out)
    shutil.copytree(session_compile_cache, pipeline.root / "compile_cache", copy_function=_copy_if_there)
    pipeline.set("pytensor", "compile_cache", "compile_cache")
    for epochs in ("2", "3", "4"):
        pipeline.set("TrainLogReg", "epochs", epochs)
        pipeline.build(tasks.EvaluateLogReg())
    (pipeline.root / "TrainMLP").mkdir()
    (pipeline.root / "TrainMLP" / ".tmp-leftover.joblib.x").write_bytes(b"partial")
    used = used_keys(tasks.FullReport())
    items = stored_artifacts(configured_root())

    dry, busy = collect_garbage(configured_root(), items, used, keep=1, dry_run=True)
    assert busy == []
    # unused: two older TrainLogReg/EvaluateLogReg builds each; keep=1 keeps the newest one
    assert sorted(i.family for i in dry) == ["EvaluateLogReg", "TrainLogReg", "TrainMLP"]
    assert all((pipeline.root / n).exists() for i in dry for n in i.names)

    removed, _ = collect_garbage(configured_root(), stored_artifacts(configured_root()), used, keep=0, dry_run=False)
    assert sorted(i.family for i in removed) == [
        "EvaluateLogReg",
        "EvaluateLogReg",
        "TrainLogReg",
        "TrainLogReg",
        "TrainMLP",
    ]
    assert all(not (pipeline.root / n).exists() for i in removed for n in i.names if not n.endswith(".lock"))
    assert {(i.family, i.fingerprint) for i in stored_artifacts(configured_root())} <= used
    assert any((pipeline.root / "compile_cache").glob("*-cache"))  # not an artifact: gc leaves it alone
    assert pipeline.build(tasks.EvaluateLogReg()) == set()


def test_status_command_imports_no_heavy_library(tmp_path):
    cfg = tmp_path / "extra.cfg"
    cfg.write_text(f"[artifacts]\nroot = {tmp_path / 'artifacts'}\n")
    code = textwrap.dedent("""
        import sys
        import tasks
        from stagecache.cli import main
        main(["status"])
        main(["artifacts", "list"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pytensor", "matplotlib", "jax"))
        print("HEAVY", heavy)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LUIGI_CONFIG_PATH": str(cfg)},
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "FullReport" in out.stdout and "never built" in out.stdout
