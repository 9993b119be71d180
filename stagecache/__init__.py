"""stagecache: an incremental-artifact engine for luigi pipelines.

Each stage is an :class:`ArtifactTask` whose output is one joblib artifact under a fingerprint of its code,
significant parameters and upstream artifacts, written atomically with a manifest and loaded only after its
checksum matched, in a directory or an S3-compatible bucket. A pipeline declares itself once (:func:`declare`),
then calls :func:`install`; :func:`load` builds and loads a stage's artifact from Python. The engine knows no
task family of its own.

The names below are the engine's public surface (docs/engine.md). Importing this package imports none of
them and sets nothing up: each name is imported on first use, so ``import stagecache`` loads neither luigi
nor boto3. Its events are :mod:`stagecache.hooks`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

#: Each public name and the module that defines it.
_ORIGINS = {
    "ArtifactTask": "stagecache.task",
    "in_point": "stagecache.task",
    "walk": "stagecache.task",
    "Project": "stagecache.project",
    "KeptArtifacts": "stagecache.project",
    "declare": "stagecache.project",
    "current": "stagecache.project",
    "install": "stagecache.runtime",
    "load": "stagecache.api",
    "stage_task": "stagecache.api",
    "configuration": "stagecache.api",
    "main": "stagecache.cli",
    "canonical_hash": "stagecache.fingerprint",
    "ReportsProgress": "stagecache.scheduler_progress",
    "SweepTask": "stagecache.sweep_task",
    "SweepPoint": "stagecache.sweeps",
    "read_sweep": "stagecache.sweeps",
    "SearchTask": "stagecache.search_task",
    "read_search": "stagecache.searches",
    "Root": "stagecache.roots",
    "configured_root": "stagecache.roots",
    "ArtifactCorruptError": "stagecache.roots",
    "ConfigError": "stagecache.configcheck",
}

__all__ = [
    "ArtifactCorruptError",
    "ArtifactTask",
    "ConfigError",
    "KeptArtifacts",
    "Project",
    "ReportsProgress",
    "Root",
    "SearchTask",
    "SweepPoint",
    "SweepTask",
    "canonical_hash",
    "configuration",
    "configured_root",
    "current",
    "declare",
    "in_point",
    "install",
    "load",
    "main",
    "read_search",
    "read_sweep",
    "stage_task",
    "walk",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    origin = _ORIGINS.get(name)
    if origin is None:
        raise AttributeError(f"module 'stagecache' has no attribute {name!r}")
    value = getattr(importlib.import_module(origin), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from stagecache.api import configuration, load, stage_task
    from stagecache.cli import main
    from stagecache.configcheck import ConfigError
    from stagecache.fingerprint import canonical_hash
    from stagecache.project import KeptArtifacts, Project, current, declare
    from stagecache.roots import ArtifactCorruptError, Root, configured_root
    from stagecache.runtime import install
    from stagecache.scheduler_progress import ReportsProgress
    from stagecache.search_task import SearchTask
    from stagecache.searches import read_search
    from stagecache.sweep_task import SweepTask
    from stagecache.sweeps import SweepPoint, read_sweep
    from stagecache.task import ArtifactTask, in_point, walk
