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
                   fingerprint=task_config.fingerprint, threads=task_config.threads)
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
    code = ("import sys; import tasks, os; assert 'numpy' in sys.modules; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'], os.environ['XLA_FLAGS'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**env, "LUIGI_CONFIG_PATH": str(cfg)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["1", "1"] and "intra_op_parallelism_threads=1" in out.stdout
