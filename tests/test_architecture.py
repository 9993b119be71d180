"""Project rules that are easy to break silently."""
import ast
import configparser
from pathlib import Path

import luigi

import tasks
from tasks import config as task_config

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_imports_neither_luigi_nor_joblib():
    for path in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in ("luigi", "joblib"), f"{path} imports {name}"


def test_every_luigi_cfg_key_is_a_declared_parameter():
    """luigi silently ignores a misspelt key; this test does not."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "luigi.cfg")
    classes = {name: getattr(tasks, name) for name in tasks.__all__}
    classes.update(artifacts=task_config.artifacts, pytensor=task_config.pytensor,
                   fingerprint=task_config.fingerprint)
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
