"""The configuration check in-process, for the toy DAG's stages: luigi's own sections, deprecated names, problems
located."""

from __future__ import annotations

import pytest
from luigi.configuration import LuigiConfigParser
from luigi.task_register import Register

from stagecache.configcheck import check_files, config_files, locate


@pytest.fixture
def config_file(toy_dir, tmp_path, monkeypatch):
    """Write one luigi.cfg and make it the only configuration luigi reads (the toy DAG declared)."""
    monkeypatch.setattr(LuigiConfigParser, "_instance", None)
    monkeypatch.setattr(LuigiConfigParser, "_config_paths", [])

    def write(text: str):
        path = tmp_path / "luigi.cfg"
        path.write_text(text)
        LuigiConfigParser.add_config_path(str(path))
        return path

    yield write
    Register.clear_instance_cache()


def test_luigis_own_sections_and_keys_are_accepted(config_file):
    path = config_file(
        "[core]\nlocal_scheduler = true\nautoload_range = true\ndefault-scheduler-port = 8082\nsmtp_host = x\n"
        "[worker]\nkeep_alive = true\nping_interval = 0.5\n[scheduler]\nprune_on_get_work = true\nretry_delay = 1\n"
        "[retcode]\ntask_failed = 30\n[email]\nreceiver = a@b.c\n[smtp]\nhost = localhost\n"
        "[logging]\nversion = 1\n[resources]\ngpu = 1\n[task_history]\ndb_connection = sqlite://\n"
        "[Train]\nepochs = 3\n\n[Square]\npower = 3\n"
    )
    assert config_files() == [str(path)]
    assert check_files() == []


def test_problems_in_luigis_sections_are_found_too(config_file):
    path = config_file("[worker]\nkeep_alive = maybe\nping_intervall = 1\n[retcode]\ntask_failed = many\n")
    assert check_files() == [
        f"{path}:3: [worker] unknown key 'ping_intervall'; did you mean 'ping_interval'?",
        f"{path}:2: [worker] keep_alive = 'maybe' is not valid: expected true or false (cannot interpret 'maybe' as boolean)",
        f"{path}:5: [retcode] task_failed = 'many' is not valid: expected an integer "
        "(invalid literal for int() with base 10: 'many')",
    ]


def test_multi_line_values_and_choices(config_file):
    path = config_file("[MakeNumbers]\nlabel = a\n    b\ncount = 5\n[core]\nlog_level = LOUD\n")
    assert check_files() == [
        f"{path}:6: [core] log_level = 'LOUD' is not valid: expected one of CRITICAL, DEBUG, ERROR, INFO, NOTSET, WARNING"
    ]


def test_a_stage_range_error_is_located_at_its_key(config_file):
    path = config_file("[MakeNumbers]\nseed = 1\ncount = 0\n")
    message = "[MakeNumbers] count must be >= 1, got 0"
    assert locate(message) == f"{path}:3: {message}"
    assert locate(message, ["MakeNumbers", "--count", "0"]) == f"--count: {message}"
