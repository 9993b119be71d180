import ast
import datetime
import importlib
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from luigi.task import flatten
from luigi.task_register import Register

import tasks
from stagecache.stages import fingerprint
from stagecache.stages.fingerprint import canonical_hash, code_hashes
from stagecache.stages.task import walk


@pytest.fixture
def fake_pipeline(tmp_path, monkeypatch):
    """A throwaway ``pipeline`` package whose sources the test edits."""
    root = tmp_path / "pipeline"
    (root / "models").mkdir(parents=True)
    files = {
        "__init__.py": '"""Package."""\n',
        "models/__init__.py": "FLOAT = 'float32'\n",
        "models/optim.py": "def sgd(p, g, lr):\n    return p - lr * g\n",
        "models/net.py": "from pipeline.models.optim import sgd\n\n\ndef step(p, g):\n    return sgd(p, g, 0.1)\n",
        "models/other.py": "from .optim import sgd\n\nRATE = 2\n",
        "data.py": "import numpy as np\n\nX = 1\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    monkeypatch.setitem(fingerprint.SOURCE_ROOTS, "pipeline", root)
    fingerprint.clear_code_cache()
    yield root
    fingerprint.clear_code_cache()


def _edit(root, name, text):
    (root / name).write_text(textwrap.dedent(text))
    fingerprint.clear_code_cache()


def test_closure_follows_absolute_and_relative_imports_and_parents(fake_pipeline):
    assert set(code_hashes(["pipeline.models.net"])) == {
        "pipeline",
        "pipeline.models",
        "pipeline.models.net",
        "pipeline.models.optim",
    }
    assert set(code_hashes(["pipeline.models.other"])) == {
        "pipeline",
        "pipeline.models",
        "pipeline.models.other",
        "pipeline.models.optim",
    }
    assert set(code_hashes(["pipeline.data"])) == {"pipeline", "pipeline.data"}  # numpy is not ours


def test_comments_docstrings_and_formatting_do_not_count(fake_pipeline):
    before = code_hashes(["pipeline.models.net"])
    _edit(
        fake_pipeline,
        "models/optim.py",
        '''
        """Optimisers."""
        # plain SGD
        def sgd(p, g, lr):   # one step
            """Return the updated parameter."""
            return (p -
                    lr * g)
        ''',
    )
    assert code_hashes(["pipeline.models.net"]) == before


def test_code_edits_count_and_flow_through_imports(fake_pipeline):
    before_net, before_data = code_hashes(["pipeline.models.net"]), code_hashes(["pipeline.data"])
    _edit(fake_pipeline, "models/optim.py", "def sgd(p, g, lr):\n    return p - 2 * lr * g\n")
    after = code_hashes(["pipeline.models.net"])
    assert after["pipeline.models.optim"] != before_net["pipeline.models.optim"]
    assert after["pipeline.models.net"] == before_net["pipeline.models.net"]
    assert code_hashes(["pipeline.data"]) == before_data


def test_a_module_counts_by_the_names_used_of_it_transitively(fake_pipeline):
    """Of a module another imports, what counts is what the importer uses (a name imported, or an attribute
    read from the module), the definitions those read in turn, and the statements that act when it runs."""
    _edit(
        fake_pipeline,
        "models/optim.py",
        """
        RATE = 0.5


        def _scale(lr):
            return RATE * lr


        def sgd(p, g, lr):
            return p - _scale(lr) * g


        def adam(p, g):
            return p - g
        """,
    )
    _edit(
        fake_pipeline,
        "models/other.py",
        "from pipeline.models import optim as o\n\n\ndef step(p, g):\n    return o.adam(p, g)\n",
    )
    optim = (fake_pipeline / "models" / "optim.py").read_text()

    def changed(old, new) -> set[str]:
        before = {m: code_hashes([f"pipeline.models.{m}"]) for m in ("net", "other")}
        _edit(fake_pipeline, "models/optim.py", optim.replace(old, new))
        try:
            return {m for m in before if code_hashes([f"pipeline.models.{m}"]) != before[m]}
        finally:
            _edit(fake_pipeline, "models/optim.py", optim)

    assert changed("return p - g", "return p - 2 * g") == {"other"}  # read as an attribute, by other only
    assert changed("RATE = 0.5", "RATE = 0.25") == {"net"}  # sgd -> _scale -> RATE
    assert changed("def adam", "UNUSED = 1\n\n\ndef adam") == set()  # a definition nobody reads
    assert changed("RATE = 0.5", "RATE = 0.5\nprint(RATE)") == {"net", "other"}  # acts when the module runs
    assert set(code_hashes(["pipeline.models.other"])) == {
        "pipeline",
        "pipeline.models",
        "pipeline.models.other",
        "pipeline.models.optim",
    }


def test_unknown_module_is_an_error(fake_pipeline):
    with pytest.raises(ValueError, match="no source file for module 'pipeline.nope'"):
        code_hashes(["pipeline.nope"])


def test_canonical_hash_ignores_key_order():
    assert canonical_hash({"a": 1, "b": [1, 2]}) == canonical_hash({"b": [1, 2], "a": 1})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": "1"})


def test_real_stage_code_covers_shared_modules():
    hashes = code_hashes(["pipeline.models.char_rnn_training"])
    assert {"pipeline.models.optim", "pipeline.models.layers", "pipeline.training"} <= set(hashes)
    assert "pipeline.models.deep_mlp" not in hashes


def test_parse_retries_cpythons_spurious_recursion_depth_error(monkeypatch):
    real_parse, calls = ast.parse, []

    def flaky(source, filename):
        calls.append(filename)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=189, after=33)")
        return real_parse(source, filename=filename)

    monkeypatch.setattr(fingerprint.ast, "parse", flaky)
    assert isinstance(fingerprint._parse("x = 1\n", "m.py"), ast.Module) and len(calls) == 2
    with pytest.raises(SyntaxError):
        fingerprint._parse("x = (\n", "broken.py")
    monkeypatch.setattr(fingerprint.ast, "parse", lambda source, filename: (_ for _ in ()).throw(SystemError("other")))
    with pytest.raises(SystemError, match="other"):
        fingerprint._parse("x = 1\n", "m.py")


# ---------------------------------------------------------------------------------------------
# The real stages: every module a stage runs is in its fingerprint, and nothing else.

ROOT = Path(__file__).resolve().parents[2]
DATE = datetime.date(2026, 1, 1)
DATA = {"DownloadMNIST", "DownloadShakespeare", "OneHotMNIST", "BuildCharVocab"}
TRAIN = {"TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP"}
EVAL = {"EvaluateLogReg", "EvaluateMLP", "EvaluateDeepMLP", "EvaluateCharRNN"}
MODELS = TRAIN | EVAL
CLASSIFIERS = MODELS - {"TrainCharRNN", "EvaluateCharRNN"}
ALL = DATA | MODELS | {"FullReport", "CheckSources", "Retrain", "Sweep", "Search"}
NOTHING: set = set()
# module -> the stages whose run executes it (their downstream reruns too); written by hand, not derived
REPORTING = {"FullReport", "CheckSources", "Retrain"}
RUNS = {
    # run before or around every stage: package set-up and settings (the engine, stagecache, is a library: never hashed)
    "pipeline": ALL,
    "tasks": ALL,
    "tasks.threads": ALL,
    "tasks.config": ALL,
    # result-neutral (tasks.project.RESULT_NEUTRAL)
    "pipeline.compile": NOTHING,
    "pipeline.compile.backend": NOTHING,
    "pipeline.compile.placement": NOTHING,
    "pipeline.compile.graph_cache": NOTHING,
    "pipeline.compile.internals": NOTHING,
    "pipeline.compile.cachefiles": NOTHING,
    "tasks.compiling": NOTHING,
    "tasks.project": NOTHING,
    "tasks.published": NOTHING,
    "tasks.__main__": NOTHING,
    # what no stage runs: the compare command and the Python API
    "tasks.compare": NOTHING,
    "tasks.api": NOTHING,
    # data
    "pipeline.data": DATA | {"TrainMoonsMLP", "CheckSources"},
    "pipeline.data.idx": DATA | {"TrainMoonsMLP", "CheckSources"},
    "pipeline.data.mnist": DATA | {"TrainMoonsMLP"},  # tasks.data imports MNIST's pins at module level
    "pipeline.data.download": {"DownloadMNIST", "DownloadShakespeare", "CheckSources"},
    "pipeline.data.sources": {"CheckSources"},
    "pipeline.data.text": {"BuildCharVocab"},
    "pipeline.data.moons": {"TrainMoonsMLP"},
    "tasks.data": DATA,
    # models: training and evaluation
    "pipeline.models": MODELS,
    "pipeline.models.layers": MODELS,
    "pipeline.models.optim": MODELS,
    "pipeline.training": MODELS - {"EvaluateCharRNN"},  # the char-RNN's training loop is apart from its model
    "pipeline.models.classifier": CLASSIFIERS,
    "pipeline.models.logreg": {"TrainLogReg", "EvaluateLogReg"},
    "pipeline.models.mlp": {"TrainMLP", "EvaluateMLP", "TrainMoonsMLP"},
    "pipeline.models.deep_mlp": {"TrainDeepMLP", "EvaluateDeepMLP"},
    "pipeline.models.noise": {"TrainDeepMLP", "EvaluateDeepMLP"},  # dropout masks, imported by deep_mlp
    "pipeline.models.char_rnn": {"TrainCharRNN", "EvaluateCharRNN"},
    "pipeline.models.char_rnn_training": {"TrainCharRNN"},
    "pipeline.models.generate": {"EvaluateCharRNN"},
    "pipeline.models.moons": {"TrainMoonsMLP"},
    "pipeline.evaluate": EVAL,
    "pipeline.evaluate.classifier": EVAL - {"EvaluateCharRNN"},
    "pipeline.evaluate.char_rnn": {"EvaluateCharRNN"},
    "tasks.train": TRAIN,
    "tasks.evaluate": EVAL,
    # the report and retraining
    # the report's own (tasks.published, result-neutral, parses the history with pipeline.report.records)
    "pipeline.report": {"FullReport", "Sweep", "Search", "Retrain"},
    "pipeline.report.records": {"FullReport", "Sweep", "Search", "Retrain"},
    "pipeline.report.plots": {"FullReport", "Sweep", "Search", "Retrain"},
    "pipeline.report.history": {"FullReport", "Sweep", "Search", "Retrain"},
    "pipeline.report.references": {"FullReport", "Sweep", "Search", "Retrain"},
    "pipeline.report.summary": {"FullReport", "Sweep", "Search", "Retrain"},
    "pipeline.report.build": {"FullReport", "Retrain"},
    "tasks.report": {
        "FullReport",
        "CheckSources",
        "Retrain",
        "Sweep",
        "Search",
    },  # retrain, sweep, search import its tables
    "tasks.retrain": {"CheckSources", "Retrain"},
    "pipeline.champions": {"FullReport", "Retrain", "Sweep", "Search"},  # the history section shows its outcomes
    # sweeps and searches: the comparison of their points and trials
    "tasks.sweep": {"Sweep"},
    "tasks.search": {"Search"},
    "tasks.pages": {"Sweep", "Search"},
    "pipeline.experiments": {"Sweep", "Search"},
    "pipeline.experiments.points": {"Sweep", "Search"},
    "pipeline.experiments.compare": {"Sweep", "Search"},
    "pipeline.experiments.sweep_report": {"Sweep"},
    "pipeline.experiments.search_report": {"Search"},
}


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """Fingerprint the code of a copy of ``pipeline/`` and ``tasks/`` that the test may edit."""
    src = tmp_path / "src"
    for package in ("pipeline", "tasks"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
        monkeypatch.setitem(fingerprint.SOURCE_ROOTS, package, src / package)
    fingerprint.clear_code_cache()
    yield src
    fingerprint.clear_code_cache()


SWEEP = str(ROOT / "sweeps" / "deep-epochs.cfg")
SEARCH = str(ROOT / "searches" / "smoke-deep.cfg")


def all_stages():
    Register.clear_instance_cache()
    named = [getattr(tasks, n) for n in tasks.__all__]
    return [
        cls(date=DATE)
        if "date" in dict(cls.get_params())
        else cls(file=SEARCH if cls.__name__ == "Search" else SWEEP)
        if "file" in dict(cls.get_params())
        else cls()
        for cls in named
    ]


def code_of(stages) -> dict[str, dict[str, str]]:
    """Each stage's code hashes, read afresh from the sources."""
    fingerprint.clear_code_cache()
    return {t.get_task_family(): fingerprint.stage_code_hashes(t) for t in stages}


def with_downstream(families: set[str]) -> set[str]:
    """``families`` and every stage that requires one of them, directly or not."""

    def upstream(task):
        return {d.get_task_family() for dep in flatten(task.requires()) for d in [dep, *walk(dep)]}

    return {t.get_task_family() for t in all_stages() if t.get_task_family() in families or upstream(t) & families}


def module_name(src: Path, path: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def changed_by(path: Path, edited: str, stages, before: dict) -> set[str]:
    """The stages whose code hashes an edit of ``path`` changes (the file is restored afterwards)."""
    original = path.read_text()
    path.write_text(edited)
    try:
        after = code_of(stages)
    finally:
        path.write_text(original)
    return {f for f in before if after[f] != before[f]}


def test_a_real_edit_in_any_module_changes_exactly_the_stages_that_run_it(pipeline, project_copy):
    """Every module of ``pipeline/`` and ``tasks/``: a statement that acts when the module runs, added at its
    end, changes the code hash of exactly the stages that run the module (RUNS); in a module that defines
    several stages, an edit inside one stage class changes only that stage and its subclasses. Their
    downstream follows through upstream fingerprints. (An edit of a definition changes only the stages that
    use it: ``test_an_edit_of_one_definition_changes_only_the_stages_that_use_it``.)"""
    stages = all_stages()
    before = code_of(stages)
    assert set(before) == ALL
    assert all(t.fingerprint_inputs()["code"] == before[t.get_task_family()] for t in stages)  # what is hashed
    modules = {module_name(project_copy, p): p for p in sorted(project_copy.rglob("*.py"))}
    assert set(modules) == set(RUNS), "add new modules to RUNS: which stages run them?"
    for module, path in modules.items():
        text = path.read_text()
        assert changed_by(path, text + "\nprint('edited by the test')\n", stages, before) == RUNS[module], module
        for node in ast.parse(text).body:  # an edit inside each stage class, where a module defines stages
            if isinstance(node, ast.ClassDef) and node.name in fingerprint.stage_classes(module):
                lines = text.splitlines(keepends=True)
                edited = "".join(lines[: node.end_lineno] + ["    _edited_by_test = 1\n"] + lines[node.end_lineno :])
                cls = getattr(importlib.import_module(module), node.name)
                direct = {t.get_task_family() for t in stages if cls in type(t).__mro__ and RUNS[module]}
                assert changed_by(path, edited, stages, before) == direct, (module, node.name)
    assert code_of(stages) == before


def test_an_edit_changes_the_fingerprints_of_its_stages_and_their_downstream(pipeline, project_copy):
    def fingerprints():
        fingerprint.clear_code_cache()
        return {t.get_task_family(): t.fingerprint() for t in all_stages()}

    before = fingerprints()
    for module, edit in (
        ("tasks/data.py", ("class BuildCharVocab", "from pipeline.data.text import prepare_corpus")),
        ("pipeline/models/mlp.py", None),
        ("pipeline/compile/backend.py", None),
    ):
        path = project_copy / module
        original = path.read_text()
        path.write_text(
            original + "\nprint('edited by the test')\n"
            if edit is None
            else original.replace(edit[1], edit[1] + "\n        inputs = dict(inputs)")
        )
        try:
            changed = {f for f, fp in fingerprints().items() if fp != before[f]}
        finally:
            path.write_text(original)
        name = module_name(project_copy, path)
        expected = with_downstream({"BuildCharVocab"} if edit else RUNS[name])
        assert changed == expected, module
    assert with_downstream({"BuildCharVocab"}) == {
        "BuildCharVocab",
        "TrainCharRNN",
        "EvaluateCharRNN",
        "FullReport",
        "Retrain",
    }


def test_an_edit_of_one_definition_changes_only_the_stages_that_use_it(pipeline, project_copy):
    """Issue 33, item 1: ``tasks.data`` imports MNIST's pins from ``pipeline.data.mnist`` at module level, so
    every stage runs that module's import, but only ``OneHotMNIST`` runs ``prepare_mnist``. A one-line edit in
    it (or in a helper it calls) reruns ``OneHotMNIST`` and its downstream, never the downloads nor the
    char-RNN's branch; an edit of the pins reruns the MNIST download and its downstream."""

    def fingerprints():
        fingerprint.clear_code_cache()
        return {t.get_task_family(): t.fingerprint() for t in all_stages()}

    before = fingerprints()
    mnist = project_copy / "pipeline" / "data" / "mnist.py"
    original = mnist.read_text()
    mnist_side = with_downstream({"OneHotMNIST"})
    assert mnist_side == {"OneHotMNIST"} | CLASSIFIERS - {"TrainMoonsMLP"} | {
        "FullReport",
        "Retrain",
        "Sweep",
        "Search",
    }
    edits = (
        ("    out = {}\n", "    out = dict()\n", mnist_side),  # inside prepare_mnist
        ("    return images.reshape(", "    return 1 * images.reshape(", mnist_side),  # a helper it calls
        ('"ff7bcfd4', '"ee7bcfd4', with_downstream({"DownloadMNIST"})),  # the pins
    )
    for old, new, expected in edits:
        assert old in original
        mnist.write_text(original.replace(old, new, 1))
        try:
            changed = {f for f, fp in fingerprints().items() if fp != before[f]}
        finally:
            mnist.write_text(original)
        assert changed == expected, old
        assert not changed & {"DownloadShakespeare", "BuildCharVocab", "TrainCharRNN", "EvaluateCharRNN"}
    assert fingerprints() == before


def test_comments_docstrings_and_formatting_in_tasks_do_not_count(pipeline, project_copy):
    stages = all_stages()
    before = code_of(stages)
    path = project_copy / "tasks" / "evaluate.py"
    text = path.read_text()
    old = '        model, data = inputs["model"], inputs["data"]\n'
    assert old in text
    edited = text.replace('"""Evaluation stages', '# notes\n"""The evaluation stages').replace(
        old,
        "        # the trained weights and the test set\n        model, data = (inputs['model'],\n"
        "                       inputs['data'])\n",
    )
    assert changed_by(path, edited, stages, before) == set()


def test_result_neutral_modules_and_what_only_they_import_are_left_out():
    assert set(fingerprint.result_neutral()) >= {"pipeline.compile", "tasks.compiling"}
    assert all(len(reason) > 40 for reason in fingerprint.result_neutral().values())  # each says why
    hashes = code_hashes(["pipeline.models.classifier"])
    assert "pipeline.models.classifier" in hashes and not any(m.startswith("pipeline.compile") for m in hashes)
    assert code_hashes(["tasks.compiling"]) == {}  # neither hashed nor followed: it cannot pass a result on
    assert "tasks.config" in code_hashes(["tasks.train"])  # what a stage imports itself still counts
    assert fingerprint.is_result_neutral("pipeline.compile.backend")
    assert not fingerprint.is_result_neutral("pipeline.compiler")


def test_model_modules_hold_the_math_only():
    """Model modules import nothing from the compile layer but ``compile_function``."""
    for path in (ROOT / "pipeline" / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline.compile"):
                assert [a.name for a in node.names] == ["compile_function"], path


def test_the_engine_is_a_library_no_stage_hashes_it(pipeline):
    """An edit of any engine module reruns nothing: no stage's code hash names one, and its version is
    recorded in every manifest but counts only with ``[fingerprint] include_library_versions``."""
    stages = all_stages()
    code = {m for t in stages for m in fingerprint.stage_code_hashes(t)}
    assert code and not {m for m in code if m.split(".")[0] not in ("pipeline", "tasks")}
    engine = sorted((ROOT / "stagecache").rglob("*.py"))
    assert len(engine) > 20 and all(fingerprint.module_file(module_name(ROOT, p)) is None for p in engine)
    import stagecache
    from stagecache.core.environment import library_versions

    assert library_versions()["stagecache"] == stagecache.__version__
    inputs = tasks.TrainLogReg().fingerprint_inputs()
    assert "libraries" not in inputs
    pipeline.set("fingerprint", "include_library_versions", "true")
    assert tasks.TrainLogReg().fingerprint_inputs()["libraries"]["stagecache"] == stagecache.__version__


def test_help_text_and_imports_of_unhashed_modules_do_not_count(pipeline, project_copy):
    """Editing a parameter's ``description=`` or adding an import line that names only a library, the
    engine or a result-neutral module changes no code hash; a real import of project code does."""
    stages = all_stages()
    before = code_of(stages)
    config = project_copy / "tasks" / "config.py"
    text = config.read_text()
    old = 'description="BLAS/OpenMP/XLA threads per process (0 = all)"'
    assert old in text
    assert (
        changed_by(config, text.replace(old, 'description="threads for each worker process"'), stages, before) == set()
    )
    train = project_copy / "tasks" / "train.py"
    text = train.read_text()
    head, sep, rest = text.partition("\nimport ")
    assert sep
    for line in (
        "import json",
        "from stagecache import localfs",
        "from tasks.compiling import configured_backend",
        "import luigi.util",
    ):
        assert changed_by(train, head + f"\n{line}" + sep + rest, stages, before) == set(), line
    # running the import runs pipeline.data.moons in every training (TrainMoonsMLP ran it already, and
    # reads no name the line binds)
    edited = head + "\nfrom pipeline.data import moons" + sep + rest
    assert changed_by(train, edited, stages, before) == TRAIN - {"TrainMoonsMLP"}


def test_status_explains_the_one_rebuild_when_the_engine_left_the_fingerprints(pipeline):
    """A manifest written before the engine became a library names engine modules in its code hashes and
    no stagecache version: status says why everything rebuilds, once."""
    from stagecache.stages.status import plan

    pipeline.build(tasks.OneHotMNIST())
    target = tasks.OneHotMNIST().output()
    manifest = target.manifest()
    old = dict(
        manifest,
        fingerprint="0" * 64,
        code={**manifest["code"], "tasks.base": "1" * 64, "tasks.storage": "2" * 64},
        libraries={k: v for k, v in manifest["libraries"].items() if k != "stagecache"},
        created="2020-01-01T00:00:00+00:00",
    )
    (target.path.parent / f"{'0' * 16}.json").write_text(json.dumps(old))
    target.manifest_path.unlink()  # as if only the old build existed
    (status,) = [s for s in plan(tasks.OneHotMNIST()) if s.family == "OneHotMNIST"]
    assert status.state == "will run"
    assert status.reasons == [
        "built before the engine became a library: its modules (tasks.base, tasks.storage) "
        "no longer count in fingerprints; this rebuild happens once"
    ]
