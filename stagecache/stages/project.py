"""What a pipeline tells the engine about itself, declared once (:func:`declare`) by the DAG module.

The engine knows no task family, no pipeline module and no file name of any project: the
DAG module, its default root task, the packages whose code fingerprints hash, the project
modules that cannot change a result, what gc must keep and which loggers to format all
come from the one :class:`Project` the DAG module declares when it is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagecache.storage.roots.base import Root

#: ``{(family, fingerprint prefix): {why, ...}}``: artifacts gc must keep, and the reasons.
KeptArtifacts = dict[tuple[str, str], set[str]]


@dataclass(frozen=True)
class Project:
    """One pipeline, as the engine sees it."""

    #: The module that defines the stages (``luigi --module <module>``, ``python -m <module>``).
    module: str
    #: The task that ``status`` and ``artifacts`` take when none is named.
    default_task: str
    #: Top-level packages (or single top-level modules) whose source is hashed into fingerprints (the project's
    #: code, not libraries).
    code_packages: tuple[str, ...]
    #: Project modules (or packages) left out of every fingerprint, each with the reason it cannot change a result.
    result_neutral: Mapping[str, str] = field(default_factory=dict)
    #: Loggers of the project that get the console handler and follow ``--log-level``.
    loggers: tuple[str, ...] = ()
    #: Names directly under the artifact root that hold no artifact family (published files, caches).
    not_families: Callable[[], set[str]] = set
    #: Reads what the project publishes under a root (champions, histories, reports) and returns what it refers to.
    references: Callable[[Root], KeptArtifacts] | None = None
    #: Families gc keeps whatever ``--keep`` says (each artifact is the record that something happened), with why.
    always_kept: Mapping[str, str] = field(default_factory=dict)
    #: Modules the running stages import (heavy libraries): once a run knows that a stage will run, the
    #: scheduling process imports them, before luigi forks worker processes (``--workers N``), so that
    #: each forked stage inherits them instead of importing them again (:mod:`stagecache.run.preload`).
    #: Nothing that starts threads: a forked process does not inherit them.
    preload: tuple[str, ...] = ()

    def task_names(self) -> list[str]:
        """The task families the DAG module exports (its ``__all__``)."""
        return list(getattr(importlib.import_module(self.module), "__all__", []))


_declared: Project | None = None


def declare(project: Project) -> Project:
    """Make ``project`` the one the engine serves in this process (its DAG module calls this on import)."""
    global _declared
    _declared = project
    return project


def current() -> Project:
    """The declared project; a clear error when no DAG module declared one."""
    if _declared is None:
        raise RuntimeError(
            "no pipeline declared itself to stagecache: import the DAG module first "
            "(it calls stagecache.stages.project.declare)"
        )
    return _declared


def declared() -> Project | None:
    """The declared project, or None."""
    return _declared
