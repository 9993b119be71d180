"""The toy pipeline (``toydag``) run in this process with a test's own luigi configuration, or in a
subprocess; on a directory root or on an ``s3://`` root of the real SeaweedFS server of tests/stores.

One process serves one declared project, and the test session's may be ``tasks``: the ``toy``
fixtures declare ``toydag`` for one test and put back whatever was declared before.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import luigi
import pytest
from luigi.configuration import LuigiConfigParser
from luigi.task_register import Register

from stagecache.run import progress
from stagecache.stages import fingerprint, project
from stagecache.stages.task import ArtifactTask
from tests.services import running_luigid
from tests.stores.conftest import BUCKET, seaweed  # noqa: F401 -- the one S3 server kind of the suite

ENGINE_TESTS = Path(__file__).resolve().parent
REPO = ENGINE_TESTS.parents[1]
TOYDAG = ENGINE_TESTS / "toydag"
FAMILIES = {"MakeNumbers", "Square", "Total"}


@pytest.fixture(scope="session")
def toydag():
    """The toy package, imported once per process (it declares itself on import: undone at once)."""
    before = project.declared()
    sys.path.insert(0, str(ENGINE_TESTS))
    try:
        import toydag as package
    finally:
        sys.path.remove(str(ENGINE_TESTS))
        project._declared = before
    return package


@pytest.fixture(autouse=True)
def _declared_project_put_back():
    """Each test here leaves declared whatever project was declared before it (``tasks`` in a full run)."""
    before = project.declared()
    yield
    assert project.declared() is before, "a test left another project declared"


class Toy:
    """Luigi configured for one test (no luigi.cfg read): the toy pipeline on a fresh root."""

    def __init__(self, package, kind: str, root: str):
        self.package = package
        self.kind = kind
        self.root_setting = root
        self.ran: list[str] = []
        self.reused: list[str] = []  # of ``ran``: the stages that reused an artifact by early cutoff
        self.config = LuigiConfigParser.instance()
        self.set("core", "local_scheduler", "true")
        self.set("core", "no_lock", "true")
        self.set("artifacts", "root", root)

    def set(self, section: str, key: str, value: str) -> None:
        if not self.config.has_section(section):
            self.config.add_section(section)
        self.config.set(section, key, value)
        Register.clear_instance_cache()

    def build(self, *stages) -> set[str]:
        """Run ``luigi.build`` (the toy's Total unless told); the families that ran (or reused: :attr:`reused`)."""
        self.ran.clear()
        self.reused.clear()
        Register.clear_instance_cache()
        progress.new_run()
        result = luigi.build(
            list(stages) or [self.package.Total()], local_scheduler=True, detailed_summary=True, workers=1
        )
        assert result.scheduling_succeeded, result.summary_text
        return set(self.ran)

    def plan(self, stage=None) -> dict:
        """``{family: StageStatus}`` as ``status`` computes it."""
        from stagecache.stages.status import plan

        Register.clear_instance_cache()
        return {s.family: s for s in plan(stage or self.package.Total())}

    def build_failing(self, *stages) -> str:
        """Run ``luigi.build`` expecting one stage to fail; the family that failed."""
        Register.clear_instance_cache()
        progress.new_run()
        failed: list[str] = []
        handler = ArtifactTask.event_handler(luigi.Event.FAILURE)(
            lambda task, exc: failed.append(task.get_task_family())
        )
        try:
            result = luigi.build(
                list(stages) or [self.package.Total()], local_scheduler=True, detailed_summary=True, workers=1
            )
        finally:
            ArtifactTask._event_callbacks[ArtifactTask][luigi.Event.FAILURE].discard(handler)
        assert result.status.name == "FAILED", result.summary_text
        assert len(failed) == 1, failed
        return failed[0]

    def cli(self, *argv: str) -> str:
        """``python -m toydag ARGV`` in this process; its standard output (exit code 0 asserted)."""
        from stagecache.cli import main

        Register.clear_instance_cache()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(list(argv), prog="python -m toydag") == 0
        return out.getvalue()

    def root(self):
        from stagecache.storage.roots import configured_root

        return configured_root()

    def output(self, stage):
        Register.clear_instance_cache()
        return stage.output()

    def write_config(self, path: Path, drop: tuple[tuple[str, str], ...] = ()) -> Path:
        """This test's configuration, less the ``(section, key)`` options in ``drop``, as a luigi.cfg at ``path``."""
        text = io.StringIO()
        self.config.write(text)
        config = configparser.ConfigParser(interpolation=None)
        config.read_string(text.getvalue())
        for section, key in drop:
            config.remove_option(section, key)
        with open(path, "w") as fh:
            config.write(fh)
        return path

    def start(
        self, cwd: Path, *args: str, drop: tuple[tuple[str, str], ...] = (), env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """``luigi --module toydag ARGS`` in a subprocess, in a session of its own (a test may signal or kill its
        process group), with this test's configuration less the ``(section, key)`` options in ``drop``, in the
        environment with ``env`` laid over it; its output is one text stream."""
        cwd.mkdir(parents=True, exist_ok=True)
        cfg = self.write_config(cwd / "toy.cfg", drop)
        env = {
            **os.environ,
            **(env or {}),
            "LUIGI_CONFIG_PATH": str(cfg),
            "PYTHONPATH": os.pathsep.join([str(ENGINE_TESTS), str(REPO)]),
        }
        return subprocess.Popen(
            [sys.executable, "-m", "luigi", "--module", "toydag", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def use_luigid(self, port: int) -> None:
        """Schedule the subprocesses' runs with the luigid on ``port`` (this process's ``build`` stays local)."""
        for section, key, value in [
            ("core", "local_scheduler", "false"),
            ("core", "scheduler_host", "127.0.0.1"),
            ("core", "scheduler_port", str(port)),
            ("worker", "keep_alive", "true"),
            ("worker", "ping_interval", "0.5"),
            ("worker", "wait_interval", "0.2"),
            ("worker", "wait_jitter", "0.1"),
        ]:
            self.set(section, key, value)

    def stored(self) -> set[tuple[str, str]]:
        """(family, fingerprint prefix) of every stored artifact that has a manifest."""
        return {(i.family, i.fingerprint) for i in self.root().inventory({"published"}) if i.manifest is not None}


def _toy(request, kind: str, toydag, tmp_path, monkeypatch) -> Toy:
    monkeypatch.setattr(LuigiConfigParser, "_instance", None)
    monkeypatch.setattr(LuigiConfigParser, "_config_paths", [])
    monkeypatch.setattr(project, "_declared", toydag.PROJECT)  # put back after the test
    if kind == "directory":
        toy = Toy(toydag, kind, str(tmp_path / "artifacts"))
    else:
        server = request.getfixturevalue("seaweed")
        prefix = uuid.uuid4().hex[:12]
        toy = Toy(toydag, kind, f"s3://{BUCKET}/{prefix}")
        toy.set("s3", "endpoint_url", server.endpoint)
        toy.set("s3", "region_name", "us-east-1")
        toy.set("object_store", "cache_dir", str(tmp_path / "cache"))
        toy.store = server.store(prefix)
        toy.seaweed = server
        # this test's claims, released while its server answers: the process outlives the test, and a claim kept
        # would be renewed against a server that is gone (a warning in a later test's log)
        from stagecache.storage.roots.bucket_claims import release_claims

        request.addfinalizer(release_claims)

    @ArtifactTask.event_handler(luigi.Event.SUCCESS)
    def record(task):
        toy.ran.append(task.get_task_family())
        if task.reused_from:
            toy.reused.append(task.get_task_family())

    request.addfinalizer(lambda: ArtifactTask._event_callbacks[ArtifactTask][luigi.Event.SUCCESS].discard(record))
    request.addfinalizer(Register.clear_instance_cache)
    return toy


@pytest.fixture(params=["directory", "s3"])
def toy(request, toydag, tmp_path, monkeypatch) -> Toy:
    """The toy pipeline, declared for this test, on each kind of root (empty)."""
    return _toy(request, request.param, toydag, tmp_path, monkeypatch)


@pytest.fixture
def toy_dir(request, toydag, tmp_path, monkeypatch) -> Toy:
    """The toy pipeline, declared for this test, on an empty directory root."""
    return _toy(request, "directory", toydag, tmp_path, monkeypatch)


@pytest.fixture
def toy_s3(request, toydag, tmp_path, monkeypatch) -> Toy:
    """The toy pipeline, declared for this test, on a fresh prefix of the S3 server's bucket."""
    return _toy(request, "s3", toydag, tmp_path, monkeypatch)


@pytest.fixture
def luigid(tmp_path):
    """A bare luigid on 127.0.0.1 that notices a dead worker within seconds and retries its task after one;
    yields its port."""
    home = tmp_path / "luigid"
    home.mkdir()
    (home / "luigi.cfg").write_text(
        "[scheduler]\nretry_delay = 1\nworker_disconnect_delay = 3\n"
        "prune_on_get_work = true\nrecord_task_history = false\n"
    )
    with running_luigid(home, home / "luigi.cfg", home) as port:
        yield port


def epochs_saved(target) -> int:
    """The newest epoch ``target``'s build has checkpointed so far (0 for none), in either kind of root."""
    epochs = target.checkpointer().epochs()
    return epochs[-1] if epochs else 0


def wait_for(predicate, timeout: float = 60.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def wrote(*outputs: str) -> list[str]:
    """The families whose artifact a run wrote (its ``<Family>: wrote ...`` lines), over all ``outputs``, sorted."""
    return sorted(family for out in outputs for family in re.findall(r"(\w+): wrote ", out))


@pytest.fixture
def toy_source(tmp_path, monkeypatch):
    """A copy of toydag/ that fingerprints read instead of the imported one (the test edits it)."""
    copy = tmp_path / "src" / "toydag"
    shutil.copytree(TOYDAG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setitem(fingerprint.SOURCE_ROOTS, "toydag", copy)
    fingerprint.clear_code_cache()
    yield copy
    fingerprint.clear_code_cache()


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in a source file the fingerprints read (see :func:`toy_source`)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    fingerprint.clear_code_cache()


# --- Subprocesses ---------------------------------------------------------------------------------


def write_cfg(path: Path, root: str, **sections: dict[str, str]) -> Path:
    """A luigi.cfg with a local scheduler, the artifact root and ``sections``."""
    lines = ["[core]", "local_scheduler = true", "no_lock = true", "[artifacts]", f"root = {root}"]
    for section, values in sections.items():
        lines += [f"[{section}]", *(f"{k} = {v}" for k, v in values.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args: list[str], cwd: Path, cfg: Path, paths: tuple[Path, ...] = (ENGINE_TESTS,)) -> str:
    """``python ARGS`` with ``paths`` then the repository first on the path; its output (exit 0 asserted)."""
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(cfg), "PYTHONPATH": os.pathsep.join([*map(str, paths), str(REPO)])}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def ran_in(output: str) -> set[str]:
    """The families luigi's execution summary says ran successfully."""
    match = re.search(r"ran successfully:\n((?:    - .*\n)+)", output)
    return set() if match is None else set(re.findall(r"- \d+ (\w+)", match.group(1)))


def luigi_run(cwd: Path, cfg: Path, *args: str, paths: tuple[Path, ...] = (ENGINE_TESTS,)) -> set[str]:
    """``luigi --module toydag Total ARGS`` in a subprocess; the families that ran (and a summary asserted)."""
    output = run(["-m", "luigi", "--module", "toydag", "Total", *args], cwd, cfg, paths)
    assert "Luigi Execution Summary" in output, output
    return ran_in(output)
