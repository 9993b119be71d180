"""configs/smoke.cfg: README's quick run. Every key is a declared parameter, and luigi reads it over luigi.cfg."""

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import tasks
from stagecache.core import settings as engine_config
from tasks import config as task_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.cfg"


def test_every_smoke_key_is_a_declared_parameter_with_a_valid_value():
    cfg = configparser.ConfigParser()
    cfg.read(SMOKE)
    classes = {name: getattr(tasks, name) for name in tasks.__all__}
    classes.update(artifacts=engine_config.artifacts, pytensor=task_config.pytensor)
    assert cfg.sections()
    for section in cfg.sections():
        assert section in classes, f"[{section}] is not a task or config class"
        declared = dict(classes[section].get_params())
        for key, value in cfg[section].items():
            assert key in declared, f"[{section}] {key} is not a parameter of {section}"
            declared[key].parse(value)


def test_luigi_reads_the_smoke_file_after_luigi_cfg():
    """As README runs it: ``LUIGI_CONFIG_PATH=configs/smoke.cfg`` from the project root."""
    code = (
        "import json, tasks; from stagecache.core.settings import artifacts; "
        "r = tasks.TrainCharRNN(); d = tasks.TrainDeepMLP(); "
        "print(json.dumps([artifacts().root, r.epochs, r.steps_per_epoch, r.hidden, r.lr, d.epochs, d.hidden]))"
    )
    env = {**os.environ, "LUIGI_CONFIG_PATH": "configs/smoke.cfg"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    root, rnn_epochs, steps, hidden, lr, deep_epochs, deep_hidden = json.loads(out.stdout.strip().splitlines()[-1])
    smoke, full = configparser.ConfigParser(), configparser.ConfigParser()
    smoke.read(SMOKE)
    full.read(ROOT / "luigi.cfg")
    assert root == smoke["artifacts"]["root"] != full["artifacts"]["root"]  # its own artifacts
    assert (rnn_epochs, steps, hidden) == (
        int(smoke["TrainCharRNN"]["epochs"]),
        int(smoke["TrainCharRNN"]["steps_per_epoch"]),
        int(smoke["TrainCharRNN"]["hidden"]),
    )
    assert rnn_epochs < int(full["TrainCharRNN"]["epochs"]) and deep_epochs < int(full["TrainDeepMLP"]["epochs"])
    assert lr == float(full["TrainCharRNN"]["lr"]) and deep_hidden == json.loads(full["TrainDeepMLP"]["hidden"])
