"""The toy pipeline as its users run it, in subprocesses: ``luigi --module toydag Total`` and
``python -m toydag status``, on an edited copy of the toy's code, of the engine, and on an s3:// root."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.engine.conftest import BUCKET, FAMILIES, REPO, TOYDAG, luigi_run, run, write_cfg


@pytest.fixture
def built(tmp_path):
    """A copy of toydag/ (first on the path), built once on a directory root: (copy, cfg)."""
    src = tmp_path / "src"
    shutil.copytree(TOYDAG, src / "toydag", ignore=shutil.ignore_patterns("__pycache__"))
    cfg = write_cfg(tmp_path / "luigi.cfg", str(tmp_path / "artifacts"))
    assert luigi_run(tmp_path, cfg, paths=(src,)) == FAMILIES
    return src, cfg


def edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def status(cwd, cfg, paths, *args: str) -> dict[str, str]:
    """``python -m toydag status ARGS``: {family: the rest of its line}."""
    lines = run(["-m", "toydag", "status", *args], cwd, cfg, paths).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("TASK "))
    rows = [line.split(None, 1) for line in lines[header + 1 :]]
    return {row[0]: row[1] for row in rows if row and row[0] in FAMILIES}  # (an edited engine writes lines too)


def test_a_rerun_builds_nothing_and_an_edit_of_the_code_square_runs_reruns_square_and_total(built, tmp_path):
    src, cfg = built
    assert luigi_run(tmp_path, cfg, paths=(src,)) == set()
    edit(src / "toydag" / "arith.py", "** power", "** power + 1")  # Square's results change too
    lines = status(tmp_path, cfg, (src,))
    assert lines["MakeNumbers"].startswith("cached")
    assert lines["Square"].startswith("will run") and lines["Square"].endswith("code changed: toydag.arith")
    assert lines["Total"].endswith("upstream Square will rerun")
    assert luigi_run(tmp_path, cfg, paths=(src,)) == {"Square", "Total"}
    assert luigi_run(tmp_path, cfg, paths=(src,)) == set()


def test_an_engine_edit_reruns_nothing(built, tmp_path):
    src, cfg = built
    engine = tmp_path / "engine"
    shutil.copytree(REPO / "stagecache", engine / "stagecache", ignore=shutil.ignore_patterns("__pycache__"))
    for module in ("task.py", "fingerprint.py", "status.py"):  # the base class of every stage, hashing, status
        path = engine / "stagecache" / "stages" / module
        path.write_text(path.read_text() + f"\nimport sys as _sys\n_sys.stderr.write('edited engine: {module}\\n')\n")
    paths = (engine, src)
    lines = status(tmp_path, cfg, paths)
    assert set(lines) == FAMILIES and all(line.startswith("cached") for line in lines.values())
    output = run(["-m", "luigi", "--module", "toydag", "Total"], tmp_path, cfg, paths)
    assert "edited engine: task.py" in output and "edited engine: fingerprint.py" in output  # the copy ran
    assert "Did not run any tasks" in output


def test_a_help_string_edit_reruns_nothing(built, tmp_path):
    src, cfg = built
    edit(src / "toydag" / "square.py", 'description="exponent"', 'description="the power each number is raised to"')
    assert all(line.startswith("cached") for line in status(tmp_path, cfg, (src,)).values())
    assert luigi_run(tmp_path, cfg, paths=(src,)) == set()


def test_the_command_lines_on_an_s3_root(seaweed, tmp_path):
    cfg = write_cfg(
        tmp_path / "luigi.cfg",
        f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}",
        s3={"endpoint_url": seaweed.endpoint, "region_name": "us-east-1"},
        object_store={"cache_dir": str(tmp_path / "cache")},
    )
    assert luigi_run(tmp_path, cfg) == FAMILIES
    assert luigi_run(tmp_path, cfg) == set()
    lines = status(tmp_path, cfg, (TOYDAG.parent,), "--MakeNumbers-count", "9")
    assert lines["MakeNumbers"].endswith("parameter count: 5 → 9")
    assert lines["Total"].endswith("upstream Square will rerun")
    assert luigi_run(tmp_path, cfg, "--MakeNumbers-count", "9") == FAMILIES
    out = run(["-m", "toydag", "artifacts", "gc", "--keep", "0"], tmp_path, cfg)
    assert "removed 2 artifact(s)" in out  # the first Square and Total; the first MakeNumbers is always kept


SOLO = """import luigi
from stagecache.stages.project import Project, declare
from stagecache.stages.task import ArtifactTask

declare(Project(module="solo", default_task="Answer", code_packages=("solo",)))


class Answer(ArtifactTask):
    def build(self, inputs):
        return 42
"""


def test_a_project_of_one_module_hashes_that_module(tmp_path):
    """``code_packages`` may name a single module: its code counts (it once hashed nothing, silently)."""
    (tmp_path / "solo.py").write_text(SOLO)
    cfg = write_cfg(tmp_path / "luigi.cfg", "artifacts")
    code = "import json, solo; from stagecache.stages.fingerprint import stage_code_hashes as h; print(json.dumps(h(solo.Answer())))"

    def hashes() -> dict:
        return json.loads(run(["-c", code], tmp_path, cfg, (tmp_path,)).splitlines()[-1])

    before = hashes()
    assert set(before) == {"solo"}
    edit(tmp_path / "solo.py", "return 42", "return 43")
    assert hashes()["solo"] != before["solo"]
