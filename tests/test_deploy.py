"""deploy/: what an operator copies agrees with itself."""

from __future__ import annotations

import configparser
import datetime
import re
import shlex
import subprocess
from pathlib import Path

import tasks

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def test_deploy_files_agree_with_each_other():
    """The units, the cron line and the two configuration files name the same ports, paths and command."""
    luigid_cfg, retrain_cfg = _ini(DEPLOY / "luigid.cfg"), _ini(DEPLOY / "retrain.cfg")
    luigid_unit, retrain_unit = _ini(DEPLOY / "luigid.service"), _ini(DEPLOY / "retrain.service")
    start = shlex.split(luigid_unit["Service"]["ExecStart"])
    options = dict(zip(start[1::2], start[2::2]))
    assert options["--address"] == retrain_cfg["core"]["scheduler_host"] == "127.0.0.1"
    assert options["--port"] == retrain_cfg["core"]["scheduler_port"]
    assert options["--state-path"] == luigid_cfg["scheduler"]["state_path"]
    assert luigid_unit["Service"]["Environment"] == "LUIGI_CONFIG_PATH=/etc/luigi/luigid.cfg"
    assert retrain_unit["Service"]["Environment"] == "LUIGI_CONFIG_PATH=/etc/luigi/retrain.cfg"
    assert retrain_cfg["core"]["local_scheduler"] == "false" and retrain_cfg["worker"]["keep_alive"] == "true"

    cron = [line for line in (DEPLOY / "crontab").read_text().splitlines() if line and line[0].isdigit()]
    assert len(cron) == 1
    command = re.search(r"luigi --module tasks (.*?) >>", cron[0]).group(1)
    unit_command = re.search(r"luigi --module tasks (.*)'", retrain_unit["Service"]["ExecStart"]).group(1)
    # cron escapes % as \%, systemd as %%: the same command once unescaped
    assert command.replace("\\%", "%") == unit_command.replace("%%", "%") == 'Retrain --date "$(date -u +%F)"'
    assert "LUIGI_CONFIG_PATH=/etc/luigi/retrain.cfg" in cron[0]
    date = subprocess.run(["sh", "-c", 'echo "$(date -u +%F)"'], capture_output=True, text=True).stdout.strip()
    assert tasks.Retrain.from_str_params({"date": date}).date == datetime.datetime.now(datetime.timezone.utc).date()
