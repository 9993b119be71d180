"""Project rules that are easy to break silently."""

import ast
import configparser
import re
from pathlib import Path

import luigi
from luigi.task_register import Register

import tasks
from stagecache.core import settings as engine_config
from tasks import config as task_config

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Top-level packages a source file imports, anywhere in it (absolute imports; relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").split(".")[0])
    return found


# package -> the packages it must never import (imports go one way: tasks -> stagecache, tasks -> pipeline)
IMPORT_RULES = {
    "stagecache": {"tasks", "pipeline"},  # the engine knows no DAG and no model
    "pipeline": {"luigi", "joblib", "stagecache", "tasks"},  # the work: plain functions over arrays and graphs
    "tasks": set(),  # the DAG may use both
}


def test_imports_go_one_way():
    for package, forbidden in IMPORT_RULES.items():
        files = sorted((ROOT / package).rglob("*.py"))
        assert len(files) >= 5, f"{package}/ has too few modules to check: {files}"  # never passes on an empty glob
        for path in files:
            bad = _imports(path) & forbidden
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_import_rules_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tasks.report import FullReport\n    import joblib\n")
    assert _imports(bad) & IMPORT_RULES["stagecache"] == {"tasks"}
    assert _imports(bad) & IMPORT_RULES["pipeline"] == {"tasks", "joblib"}


def test_the_engine_names_no_task_family_and_no_pipeline_module():
    names = re.compile(r"(?<![\w.])(" + "|".join([*tasks.__all__, r"pipeline\.\w", r"tasks\.\w"]) + r")(?!\w)")
    files = sorted((ROOT / "stagecache").rglob("*.py"))
    assert files
    for path in files:
        named = set(names.findall(path.read_text()))
        assert not named, f"{path.relative_to(ROOT)} names {sorted(named)}"


def task_families() -> set[str]:
    """Every task family of tasks/: ``tasks.__all__`` and each task luigi registered from the ``tasks`` package,
    bases included (config classes, sections of luigi.cfg such as ``threads``, are no task)."""
    registered = {
        family
        for family, cls in Register._get_reg().items()
        if isinstance(cls, type) and cls.__module__.split(".")[0] == "tasks" and not issubclass(cls, luigi.Config)
    }
    return {*tasks.__all__, *registered}


def families_named(path: Path, families: set[str]) -> set[str]:
    """The task families ``path`` names as a word anywhere: code, strings, docstrings, comments."""
    words = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, sorted(families, key=len, reverse=True))) + r")(?!\w)")
    return set(words.findall(path.read_text()))


def test_the_pipeline_names_no_task_family():
    """pipeline/ knows models by its own keys; what tasks/ calls them arrives as arguments (``models``)."""
    families = task_families()
    assert {"TrainLogReg", "EvaluateCharRNN", "FullReport", "Retrain", "Sweep", "Search", "_Train"} <= families
    files = sorted((ROOT / "pipeline").rglob("*.py"))
    assert len(files) >= 30, f"pipeline/ has too few modules to check: {files}"
    for path in files:
        named = families_named(path, families)
        assert not named, f"{path.relative_to(ROOT)} names the task families {sorted(named)}: pass them from tasks/"


def test_the_task_family_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""Trains what TrainMLP trains."""\n'
        'ROWS = {"FullReport": 1}  # like _TrainClassifier\n'
        "title = f'Sweep {name}'\n"
        "TrainMLPs = retrain_Search = 'Sweeps'  # a sweep, a search: no family\n"
    )
    assert families_named(bad, task_families()) == {"TrainMLP", "FullReport", "_TrainClassifier", "Sweep"}


def test_tasks_say_which_model_each_training_stage_trains():
    """The names pipeline/ gives results are those tasks/ hands it: each model once, by its training stage."""
    from pipeline.report.references import MODELS as PIPELINE_MODELS
    from pipeline.report.references import names
    from tasks.report import MODELS
    from tests.pipeline.names import MODELS as TESTED

    assert names(MODELS).keys() == PIPELINE_MODELS.keys()
    assert all(getattr(tasks, family).model == model for family, model in MODELS.items())
    assert TESTED == MODELS  # pipeline's tests name the models as tasks/ does


def test_no_import_circle():
    """Module-level and function-level imports alike, between the project's own modules."""
    graph: dict[str, set[str]] = {}
    files = [p for package in IMPORT_RULES for p in (ROOT / package).rglob("*.py")]
    assert len(files) > 30
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            edges.update(name for name in names if name.split(".")[0] in IMPORT_RULES and _is_module(name))
        graph[module] = edges - {module}
    # parents import their children's names through them, which is no circle: drop edges to a package's own parents
    for module, edges in graph.items():
        graph[module] = {e for e in edges if not module.startswith(e + ".")}
    seen, on_path = set(), []

    def visit(module):
        if module in on_path:
            raise AssertionError("import circle: " + " -> ".join(on_path[on_path.index(module) :] + [module]))
        if module in seen or module not in graph:
            return
        on_path.append(module)
        for dep in sorted(graph[module]):
            visit(dep)
        on_path.pop()
        seen.add(module)

    for module in sorted(graph):
        visit(module)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_every_luigi_cfg_key_is_a_declared_parameter():
    """luigi silently ignores a misspelt key; this test does not."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "luigi.cfg")
    classes = {name: getattr(tasks, name) for name in tasks.__all__}
    classes.update(
        artifacts=engine_config.artifacts,
        pytensor=task_config.pytensor,
        fingerprint=engine_config.fingerprint,
        threads=task_config.threads,
    )
    for section in cfg.sections():
        if section in ("core", "retcode"):
            continue
        assert section in classes, f"[{section}] is not a task or config class"
        declared = {name for name, _ in classes[section].get_params()}
        for key in cfg[section]:
            assert key in declared, f"[{section}] {key} is not a parameter of {section}"


def test_luigi_cfg_values_parse():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "luigi.cfg")
    for name in tasks.__all__:
        cls = getattr(tasks, name)
        for key, param in cls.get_params():
            if cfg.has_option(name, key):
                param.parse(cfg.get(name, key))  # raises on e.g. a trailing inline comment
    assert isinstance(tasks.TrainDeepMLP.p_drop_input, luigi.Parameter)


def test_threads_setting_reaches_the_environment_before_numpy(tmp_path):
    import os
    import subprocess
    import sys

    cfg = tmp_path / "threads.cfg"
    cfg.write_text("[threads]\nper_process = 1\n")
    code = (
        "import sys; import tasks, os; assert 'numpy' in sys.modules; "
        "from tasks.threads import size_xla_pool; size_xla_pool(); from pipeline.compile import placement; "
        "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'], placement._pool_threads)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "LUIGI_CONFIG_PATH": str(cfg)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "1"], out.stdout


#: The engine's layers a pipeline extends (named in docs/engine.md), imported by module; every other engine name
#: comes from the facade, ``stagecache`` itself.
EXTENSION_LAYERS = (
    "stagecache.configcheck",
    "stagecache.core.hooks",
    "stagecache.core.ranges",
    "stagecache.storage.roots",
)


def _around_the_facade(path: Path) -> list[str]:
    """The engine imports of a source file that neither name the facade's public names nor an extension layer."""
    import stagecache

    def layer(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in EXTENSION_LAYERS)

    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.startswith("stagecache.") and not layer(a.name)]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module == "stagecache":
            bad += [
                f"stagecache.{a.name}"
                for a in node.names
                if a.name not in stagecache.__all__ and not layer(f"stagecache.{a.name}")
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stagecache."):
            module = str(node.module)
            if not layer(module) and not all(layer(f"{module}.{a.name}") for a in node.names):
                bad.append(module)
    return bad


def test_the_pipeline_reaches_the_engine_only_through_its_facade_and_its_extension_layers():
    files = sorted((ROOT / "tasks").rglob("*.py"))
    assert len(files) >= 5
    facade_imports = 0
    for path in files:
        bad = _around_the_facade(path)
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}: take the name from `stagecache` (its __all__)"
        facade_imports += path.read_text().count("from stagecache import ")
    assert facade_imports >= 10
    engine_md = (ROOT / "docs" / "engine.md").read_text()
    assert all(f"`{layer}`" in engine_md for layer in EXTENSION_LAYERS), "docs/engine.md names the extension layers"


def test_the_facade_rule_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from stagecache import ArtifactTask, ranges\nfrom stagecache.core import ranges\n"
        "from stagecache.storage.roots.base import jsonl_lines\n"
        "from stagecache.stages.task import walk\nfrom stagecache import progress\nimport stagecache.stages.status\n"
    )
    old = "stagecache."  # the names as the file spells them (kept apart: a rewrite of module paths leaves them)
    assert sorted(_around_the_facade(bad)) == [
        old + "progress",
        old + "ranges",  # a layer, reached by its own path only
        "stagecache.stages.status",
        "stagecache.stages.task",
    ]


def test_the_facade_is_small_and_each_of_its_names_resolves_and_is_typed():
    import importlib

    import stagecache

    assert 15 <= len(stagecache.__all__) <= 25 and sorted(stagecache.__all__) == stagecache.__all__
    assert set(stagecache._ORIGINS) == set(stagecache.__all__)
    for name, origin in stagecache._ORIGINS.items():
        assert getattr(stagecache, name) is getattr(importlib.import_module(origin), name), name
    # the same names, from the same modules, for type checkers (they do not run __getattr__)
    tree = ast.parse((ROOT / "stagecache" / "__init__.py").read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    typed = {a.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    assert typed == stagecache._ORIGINS


def test_importing_the_facade_imports_neither_luigi_nor_any_optional_library():
    import subprocess
    import sys

    heavy = ("luigi", "joblib", "boto3", "optuna", "numpy")
    code = f"import sys, stagecache; print(sorted(m for m in {heavy!r} if m in sys.modules), stagecache.__version__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "[]", out.stdout


#: The engine's layers, lowest first: a module imports from its own layer and the ones below, never above.
#: The facade (``stagecache/__init__.py``, ``api.py``, ``runtime.py``) sits above them all.
ENGINE_LAYERS = ("core", "storage", "stages", "configcheck", "run", "experiments", "cli")


def _engine_imports(path: Path) -> set[str]:
    """The ``stagecache.*`` modules a source file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("stagecache."))
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.startswith("stagecache."):
                found.add(node.module)
            elif node.module == "stagecache":
                found.update(f"stagecache.{a.name}" for a in node.names if not a.name.startswith("__"))
    return found


def _layer(module: str) -> int:
    """A module's layer (its index in ENGINE_LAYERS); the facade's modules are above every layer."""
    part = module.split(".")[1] if module.count(".") else ""
    return ENGINE_LAYERS.index(part) if part in ENGINE_LAYERS else len(ENGINE_LAYERS)


def _upward(path: Path) -> list[str]:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    return sorted(m for m in _engine_imports(path) if _layer(m) > _layer(module))


def test_the_engine_s_layers_import_downward_only():
    files = [p for layer in ENGINE_LAYERS for p in sorted((ROOT / "stagecache" / layer).rglob("*.py"))]
    assert len(files) >= 40, files  # never passes on an empty glob
    assert {p.relative_to(ROOT / "stagecache").parts[0] for p in files} == set(ENGINE_LAYERS)
    flat = sorted(p.name for p in (ROOT / "stagecache").glob("*.py"))
    assert flat == ["__init__.py", "api.py", "runtime.py"], f"a module outside the layers: {flat}"
    for path in files:
        assert not _upward(path), f"{path.relative_to(ROOT)} imports a higher layer: {_upward(path)}"


def test_the_layer_rule_catches_a_violation(tmp_path):
    bad = ROOT / "stagecache" / "core" / "_probe_not_a_module.py"  # only read, never written: a path in core
    text = (
        "from stagecache.run import progress\nimport stagecache.storage.manifest\nfrom stagecache.core import hooks\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(text)
    found = _engine_imports(probe)
    assert found == {"stagecache.run", "stagecache.storage.manifest", "stagecache.core"}
    module = ".".join(bad.relative_to(ROOT).with_suffix("").parts)
    assert sorted(m for m in found if _layer(m) > _layer(module)) == ["stagecache.run", "stagecache.storage.manifest"]
