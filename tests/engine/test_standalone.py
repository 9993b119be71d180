"""The engine installs and runs on its own: its wheel (engine/pyproject.toml), built and installed without
network into a fresh virtual environment that holds luigi's and joblib's own dependencies and nothing of this
pipeline's (no numpy, no boto3), runs the toy DAG: build, rerun, status; an s3:// root there fails in one line."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.engine.conftest import FAMILIES, REPO, TOYDAG, ran_in, write_cfg

#: What the engine's distribution must not bring: the pipeline's libraries, and the extras' own.
NOT_THERE = ("numpy", "boto3", "optuna", "matplotlib", "pytensor", "jax")


def _hermetic_env(**extra: str) -> dict[str, str]:
    """The environment with no Python path, no pip configuration (no index, no constraints) and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "LUIGI_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", **extra}


def _call(args: list[str], cwd: Path, env: dict[str, str], expect: int = 0) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == expect, f"{args} exited {done.returncode}:\n{output}"
    return output


def _requirements(metadata_requires: list[str] | None) -> list[str]:
    """The names a distribution requires on this platform, without extras."""
    environment = {**default_environment(), "extra": ""}
    names = []
    for line in metadata_requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            names.append(requirement.name)
    return names


def _closure(names: list[str]) -> list[importlib.metadata.Distribution]:
    """These installed distributions and everything they require, transitively."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found[key] = dist = importlib.metadata.distribution(name)
        todo += _requirements(dist.requires)
    return list(found.values())


def _top_level(dist: importlib.metadata.Distribution) -> set[str]:
    """The top-level packages and modules a distribution installed (its files, read from its RECORD)."""
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if (
            len(file.parts) == 1
            and first.endswith((".py", ".so"))
            or len(file.parts) > 1
            and not first.endswith((".dist-info", ".data"))
            and first not in ("..", "__pycache__")
        ):
            names.add(first)
    return names


def _link_closure(dists: list[importlib.metadata.Distribution], into: Path) -> None:
    """Symbolic links in ``into`` to each distribution's top-level packages and modules and to its metadata."""
    into.mkdir()
    for dist in dists:
        site = Path(str(dist.locate_file("")))
        for name in _top_level(dist) | {Path(str(dist._path)).name}:  # the metadata: luigi and joblib read their own
            (into / name).symlink_to(site / name)


def test_the_engine_alone_builds_its_wheel_installs_offline_and_runs_the_toy_dag(tmp_path):
    # the engine's own distribution, built from a copy of the two folders it reads (the repository stays clean)
    source = tmp_path / "source"
    shutil.copytree(REPO / "engine", source / "engine")
    shutil.copytree(REPO / "stagecache", source / "stagecache", ignore=shutil.ignore_patterns("__pycache__"))
    host = _hermetic_env()
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    _call([*build, str(source / "engine"), "-w", str(tmp_path / "dist")], tmp_path, host)
    (wheel,) = (tmp_path / "dist").glob("stagecache-*.whl")
    modules = sorted(str(p.relative_to(REPO)) for p in (REPO / "stagecache").rglob("*.py"))
    packaged = sorted(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py"))
    assert len(modules) > 30 and packaged == modules  # every module of the engine, and nothing else

    # a fresh virtual environment: the wheel installed without network, then luigi's and joblib's closure
    venv = tmp_path / "venv"
    _call([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, host)
    python = str(venv / "bin" / "python")
    _call([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", str(wheel)], tmp_path, host)
    wheel_requires = importlib.metadata.Distribution.at(
        next((venv / "lib").glob("python*/site-packages/stagecache-*.dist-info"))
    ).requires
    assert sorted(_requirements(wheel_requires)) == ["joblib", "luigi"]
    dists = _closure(_requirements(wheel_requires))
    assert not {d.metadata["Name"].lower() for d in dists} & set(NOT_THERE)
    _link_closure(dists, tmp_path / "libs")
    (site,) = (venv / "lib").glob("python*/site-packages")
    (site / "engine_dependencies.pth").write_text(f"{tmp_path / 'libs'}\n")

    work = tmp_path / "work"
    shutil.copytree(TOYDAG, work / "toydag", ignore=shutil.ignore_patterns("__pycache__"))
    env = _hermetic_env(LUIGI_CONFIG_PATH=str(write_cfg(tmp_path / "luigi.cfg", str(tmp_path / "artifacts"))))
    probe = (
        "import importlib, pkgutil, stagecache\n"
        f"for name in {NOT_THERE!r}:\n"
        "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass\n"
        "    else:\n        raise SystemExit(name + ' is importable')\n"
        "for m in pkgutil.walk_packages(stagecache.__path__, 'stagecache.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(stagecache.__file__, stagecache.__version__, sorted(stagecache.__all__) == stagecache.__all__)\n"
    )
    where, version, _ = _call([python, "-c", probe], work, env).split()
    assert where.startswith(str(site)) and version == importlib.import_module("stagecache").__version__

    # the toy DAG: built, built again (nothing runs), status (all cached)
    luigi = [python, "-m", "luigi", "--module", "toydag", "Total", "--local-scheduler"]
    assert ran_in(_call(luigi, work, env)) == FAMILIES
    again = _call(luigi, work, env)
    assert "Did not run any tasks" in again and not ran_in(again)
    status = _call([python, "-m", "toydag", "status"], work, env)
    rows = {
        line.split()[0]: line.split()[1] for line in status.splitlines() if line.split()[:1] in ([f] for f in FAMILIES)
    }
    assert rows == dict.fromkeys(FAMILIES, "cached"), status

    # an s3:// root without boto3: one line naming the extra, and the store's exit code
    s3 = _hermetic_env(LUIGI_CONFIG_PATH=str(write_cfg(tmp_path / "s3.cfg", "s3://bucket/prefix")))
    failed = _call([python, "-m", "toydag", "status"], work, s3, expect=50)
    (line,) = failed.strip().splitlines()
    assert line.endswith(
        "stagecache.storage.roots: error: artifact store unusable: [artifacts] root 's3://bucket/prefix' needs boto3, "
        "which is not installed: pip install 'stagecache[s3]' (the engine's s3 extra)"
    ), failed
