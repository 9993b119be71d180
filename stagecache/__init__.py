"""stagecache: an incremental-artifact engine for luigi pipelines.

Each stage is an :class:`ArtifactTask` whose output is one joblib artifact under a fingerprint of its code,
significant parameters and upstream artifacts, written atomically with a manifest and loaded only after its
checksum matched, in a directory or an S3-compatible bucket. A pipeline declares itself once (:func:`declare`),
then calls :func:`install`; :func:`load` builds and loads a stage's artifact from Python. The engine knows no
task family of its own.

The names below are the engine's public surface (docs/engine.md). Importing this package imports none of
them and sets nothing up: each name is imported on first use, so ``import stagecache`` loads neither luigi
nor boto3. Its events are :mod:`stagecache.core.hooks`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

#: Each public name and the module that defines it.
_ORIGINS = {
    "ArtifactTask": "stagecache.stages.task",
    "in_point": "stagecache.stages.task",
    "walk": "stagecache.stages.task",
    "Project": "stagecache.stages.project",
    "KeptArtifacts": "stagecache.stages.project",
    "declare": "stagecache.stages.project",
    "current": "stagecache.stages.project",
    "install": "stagecache.runtime",
    "load": "stagecache.api",
    "stage_task": "stagecache.api",
    "configuration": "stagecache.api",
    "main": "stagecache.cli",
    "canonical_hash": "stagecache.stages.fingerprint",
    "ReportsProgress": "stagecache.run.scheduler_progress",
    "SweepTask": "stagecache.experiments.sweep_task",
    "SweepPoint": "stagecache.experiments.sweeps",
    "read_sweep": "stagecache.experiments.sweeps",
    "SearchTask": "stagecache.experiments.search_task",
    "read_search": "stagecache.experiments.searches",
    "Root": "stagecache.storage.roots",
    "configured_root": "stagecache.storage.roots",
    "ArtifactCorruptError": "stagecache.storage.roots",
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
    from stagecache.experiments.search_task import SearchTask
    from stagecache.experiments.searches import read_search
    from stagecache.experiments.sweep_task import SweepTask
    from stagecache.experiments.sweeps import SweepPoint, read_sweep
    from stagecache.run.scheduler_progress import ReportsProgress
    from stagecache.runtime import install
    from stagecache.stages.fingerprint import canonical_hash
    from stagecache.stages.project import KeptArtifacts, Project, current, declare
    from stagecache.stages.task import ArtifactTask, in_point, walk
    from stagecache.storage.roots import ArtifactCorruptError, Root, configured_root
