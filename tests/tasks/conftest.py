"""Run real ``luigi.build`` on tiny data with a test-only configuration, and record what ran."""

from __future__ import annotations

import json
import os
import shutil

import luigi
import pytest
from luigi.configuration import LuigiConfigParser
from luigi.task_register import Register

import tasks
from stagecache.run import progress
from stagecache.stages.task import ArtifactTask
from tests.tasks.luigid_server import luigid, smtp_server  # noqa: F401 -- fixtures for tests/tasks

ALL_TASKS = {
    "DownloadMNIST",
    "DownloadShakespeare",
    "OneHotMNIST",
    "BuildCharVocab",
    "TrainLogReg",
    "TrainMLP",
    "TrainDeepMLP",
    "TrainCharRNN",
    "TrainMoonsMLP",
    "EvaluateLogReg",
    "EvaluateMLP",
    "EvaluateDeepMLP",
    "EvaluateCharRNN",
    "FullReport",
}


class Pipeline:
    """Luigi configured for one test: tiny data, few epochs, artifacts under a temporary root."""

    def __init__(self, root, mnist, text, compile_cache):
        self.root = root
        self.ran: list[str] = []
        self.reused: list[str] = []  # of ``ran``: the stages that reused an artifact by early cutoff
        self.failures: dict[str, BaseException] = {}
        self.config = LuigiConfigParser.instance()
        settings = {
            "core": {"local_scheduler": "true", "no_lock": "true"},
            "artifacts": {"root": str(root)},
            # one compile cache for the whole test session: the tiny models' graphs are compiled once, not
            # once per test (a test of the cache itself sets a relative path, inside its artifacts root)
            "pytensor": {"compile_cache": str(compile_cache)},
            "DownloadMNIST": {"mirrors": json.dumps([str(mnist[0])]), "sha256": json.dumps(mnist[1])},
            "DownloadShakespeare": {"mirrors": json.dumps([str(text[0])]), "sha256": json.dumps(text[1])},
            "OneHotMNIST": {"train_limit": "0", "val_size": "128"},
            "BuildCharVocab": {"val_fraction": "0.1", "test_fraction": "0.1"},
            "TrainLogReg": {"epochs": "2", "lr": "0.1", "batch_size": "64"},
            "TrainMLP": {"epochs": "2", "hidden": "16", "lr": "0.5", "batch_size": "64"},
            "TrainDeepMLP": {"epochs": "2", "hidden": "[32, 32]", "lr": "0.01", "batch_size": "64"},
            "TrainCharRNN": {
                "epochs": "2",
                "steps_per_epoch": "5",
                "hidden": "16",
                "seq_len": "8",
                "batch_size": "4",
                "optimizer": "adam",
                "lr": "0.01",
                "init": "uniform",
                "batching": "windows",
            },
            "TrainMoonsMLP": {
                "epochs": "3",
                "n_train": "64",
                "n_test": "32",
                "noise": "0.2",
                "hidden": "8",
                "lr": "1.0",
                "batch_size": "16",
            },
            "EvaluateCharRNN": {"sample_length": "40"},
        }
        for section, values in settings.items():
            for key, value in values.items():
                self.set(section, key, value)

    def set(self, section: str, key: str, value: str) -> None:
        if not self.config.has_section(section):
            self.config.add_section(section)
        self.config.set(section, key, value)
        Register.clear_instance_cache()

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        return self.config.get(section, key, fallback=default) if self.config.has_section(section) else default

    def will_run(self, task=None) -> set[str]:
        """Families that ``python -m tasks status`` says will run."""
        from stagecache.stages.status import WILL_RUN, plan

        Register.clear_instance_cache()
        return {s.family for s in plan(task or tasks.FullReport()) if s.state == WILL_RUN}

    def build_failing(self, task) -> BaseException:
        """Run ``luigi.build([task])`` expecting it to fail; return the exception of the failed stage."""
        self.failures.clear()
        Register.clear_instance_cache()
        progress.new_run()
        result = luigi.build([task], local_scheduler=True, detailed_summary=True, workers=1)
        assert result.status.name == "FAILED", result.summary_text
        return self.failures[task.get_task_family()]

    def build(self, *task_list) -> set[str]:
        """Run ``luigi.build``; return the families of the tasks that ran (or reused: :attr:`reused`), and assert
        success."""
        self.ran.clear()
        self.reused.clear()
        Register.clear_instance_cache()
        progress.new_run()
        result = luigi.build(
            list(task_list) or [tasks.FullReport()], local_scheduler=True, detailed_summary=True, workers=1
        )
        assert result.scheduling_succeeded, result.summary_text
        return set(self.ran)


@pytest.fixture(scope="session")
def session_compile_cache(tmp_path_factory):
    """The JAX and rewritten-graph compile cache that every test's pipeline shares: one for the whole run, also
    across the test processes of ``-n N`` (the cache takes writers in several processes at once:
    tests/pipeline/models/test_compile_cache.py), so each graph is compiled once, not once per test process."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return tmp_path_factory.mktemp("compile_cache")
    shared = tmp_path_factory.getbasetemp().parent / "compile_cache"  # beside the workers' own base directories
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture
def pipeline(tmp_path, tiny_mnist, tiny_text, session_compile_cache, monkeypatch):
    """A fresh luigi configuration (no luigi.cfg read) and artifact root for one test."""
    monkeypatch.setattr(LuigiConfigParser, "_instance", None)
    monkeypatch.setattr(LuigiConfigParser, "_config_paths", [])
    p = Pipeline(tmp_path / "artifacts", tiny_mnist, tiny_text, session_compile_cache)

    @ArtifactTask.event_handler(luigi.Event.SUCCESS)
    def record(task):
        p.ran.append(task.get_task_family())
        if task.reused_from:
            p.reused.append(task.get_task_family())

    @ArtifactTask.event_handler(luigi.Event.FAILURE)
    def failed(task, exception):
        p.failures[task.get_task_family()] = exception

    yield p
    ArtifactTask._event_callbacks[ArtifactTask][luigi.Event.SUCCESS].discard(record)
    ArtifactTask._event_callbacks[ArtifactTask][luigi.Event.FAILURE].discard(failed)
    Register.clear_instance_cache()


@pytest.fixture(scope="session")
def built_template(tmp_path_factory, tiny_mnist, tiny_text, session_compile_cache):
    """A root holding the whole DAG (FullReport) built once per test process with the tests' configuration: see
    ``built_pipeline``."""
    root = tmp_path_factory.mktemp("built") / "artifacts"
    with pytest.MonkeyPatch.context() as patch:  # the test that asked first gets its own configuration back
        patch.setattr(LuigiConfigParser, "_instance", None)
        patch.setattr(LuigiConfigParser, "_config_paths", [])
        Pipeline(root, tiny_mnist, tiny_text, session_compile_cache).build()
    Register.clear_instance_cache()
    return root


@pytest.fixture
def built_pipeline(pipeline, built_template):
    """``pipeline`` on a root that already holds the whole DAG built with its configuration: a copy of
    ``built_template`` (less the claim and locks of the run that built it), which spares a test that starts
    from a built DAG about 3 s of building it again."""
    shutil.copytree(built_template, pipeline.root, ignore=shutil.ignore_patterns(".runs", ".locks"))
    return pipeline


def write_config(pipeline: Pipeline, path) -> None:
    """Save the test's luigi configuration, for pipelines run in subprocesses."""
    with open(path, "w") as fh:
        pipeline.config.write(fh)


def luigi_process(pipeline: Pipeline, tmp_path, *args: str):
    """Start ``luigi --module tasks ARGS`` as a subprocess with the test's configuration (which
    names the scheduler: the test's own, ``[core] local_scheduler = true``, unless it set luigid's)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    cfg = tmp_path / "subprocess.cfg"
    write_config(pipeline, cfg)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": str(root)}
    return subprocess.Popen(
        [sys.executable, "-m", "luigi", "--module", "tasks", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
