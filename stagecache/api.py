"""Results from Python: build (if needed) and load a stage's verified artifact, for the configuration in effect,
another configuration file, a point, a sweep's point or a search's best trial (what ``gokart.build`` and
``dvc.api`` give their users)::

    import stagecache, wordcount            # the DAG module declares its project
    top = stagecache.load("Top")                                        # luigi.cfg in effect
    other = stagecache.load("Top", config="other.cfg")                  # luigi.cfg, then that file
    three = stagecache.load("Top", point={"Top": {"n": "3"}})

Arrays come back memory-mapped read-only from a directory root. A stage that is not built is built first in
this process (luigi's local scheduler), unless ``build=False``, which raises ``LookupError`` instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import luigi
from luigi.configuration import LuigiConfigParser
from luigi.task_register import Register

from stagecache.core import points
from stagecache.experiments.sweeps import read_sweep
from stagecache.stages.project import current
from stagecache.stages.task import ArtifactTask, in_point, walk


@contextlib.contextmanager
def configuration(path: str | None) -> Iterator[None]:
    """luigi's configuration as ``LUIGI_CONFIG_PATH=path`` gives it (luigi.cfg, then ``path``) inside the block."""
    if path is None:
        yield
        return
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no configuration file {path}")
    saved_paths, saved_instance = list(LuigiConfigParser._config_paths), LuigiConfigParser._instance
    base = [p for p in saved_paths if os.environ.get("LUIGI_CONFIG_PATH") != p]
    LuigiConfigParser._config_paths = [*base, path]
    LuigiConfigParser._instance = None
    Register.clear_instance_cache()
    try:
        yield
    finally:
        LuigiConfigParser._config_paths, LuigiConfigParser._instance = saved_paths, saved_instance
        Register.clear_instance_cache()


def _registered(base: type[luigi.Task]) -> list[type[luigi.Task]]:
    """The task classes registered with luigi that subclass ``base`` (luigi's own config classes left out)."""
    return [
        c
        for c in Register._get_reg().values()
        if isinstance(c, type) and issubclass(c, base) and not issubclass(c, luigi.Config)
    ]


def _check_point(cls: type[ArtifactTask], point: dict) -> None:
    """Every section of ``point`` is a stage of ``cls``'s DAG (else :class:`ConfigError`, with a did-you-mean): a
    point's section that no stage reads would otherwise be dropped, and the default artifact loaded."""
    from stagecache.configcheck import ConfigError
    from stagecache.configcheck.files import suggest

    stages = {c.get_task_family() for c in _registered(ArtifactTask)}
    family = cls.get_task_family()
    in_dag = {t.get_task_family() for t in walk(cls())}
    problems = []
    for section in point:
        if section not in stages:
            problems.append(f"point: no stage {section!r}{suggest(section, stages)}")
        elif section not in in_dag:
            problems.append(f"point: {section} is not part of {family}'s DAG: its values would change nothing")
    if problems:
        raise ConfigError(problems)


def stage_task(
    stage: str,
    *,
    point: dict | None = None,
    sweep: str | None = None,
    label: str | None = None,
    search: str | None = None,
    build: bool = True,
    **params: Any,
) -> ArtifactTask:
    """The task of ``stage`` (a family name) in the configuration in effect, in ``point``, a sweep's point, or the
    point of the best trial of a search (``search``: its file; the search is run first when needed and ``build``)."""
    cls = Register.get_task_cls(stage)
    if not (isinstance(cls, type) and issubclass(cls, ArtifactTask)):
        raise ValueError(f"{stage} is not a stage of {current().module}")
    encoded = points.encode(point)
    if point:
        _check_point(cls, point)
    if search is not None:
        encoded = _best_point(search, build)
    if sweep is not None:
        definition = read_sweep(sweep, current().default_task)
        chosen = [p for p in definition.points if p.label == label]
        if not chosen:
            raise LookupError(
                f"{sweep} has no point {label!r}; its points: " + "; ".join(p.label for p in definition.points)
            )
        encoded = chosen[0].point
    return in_point(cls, encoded, **params)


def _search_class() -> type[luigi.Task]:
    """The project's search task (:func:`stagecache.experiments.search_task.search_class`)."""
    from stagecache.experiments.search_task import search_class

    try:
        return search_class()
    except LookupError as exc:
        raise LookupError(f"search=...: {exc}") from None


def _best_point(path: str, build: bool) -> str:
    """The point of the best trial of the search in ``path`` (chosen on validation data)."""
    search = _search_class()(file=path)
    if not search.complete():
        if not build:
            raise LookupError(f"the search of {path} has not run (build=False)")
        luigi.build([search], local_scheduler=True, detailed_summary=True, workers=1)
    best = search.output().load()["best"]
    if best is None:
        raise LookupError(f"the search of {path} has no best trial: every trial failed")
    return best["point"]


def load(
    stage: str,
    *,
    config: str | None = None,
    point: dict | None = None,
    sweep: str | None = None,
    label: str | None = None,
    search: str | None = None,
    best: bool = True,
    build: bool = True,
    **params: Any,
):
    """The verified artifact of ``stage`` (building it first when needed and ``build``); with ``search`` (a search
    file) and ``best``, in the point of the search's best trial."""
    if search is not None and not best:
        raise ValueError("search=... loads the best trial's artifact: pass best=True (or a point=... of your own)")
    with configuration(config):
        task = stage_task(stage, point=point, sweep=sweep, label=label, search=search, build=build, **params)
        if not task.complete():
            if not build:
                raise LookupError(f"{task.task_id} is not built (build=False)")
            result = luigi.build([task], local_scheduler=True, detailed_summary=True, workers=1)
            if not task.complete():
                raise RuntimeError(f"{task.task_id} could not be built:\n{result.summary_text}")
        return task.output().load()
