"""Points: one configuration of a DAG among several in one run (a sweep), carried by a task parameter.

A point is a set of values ``{section: {key: value}}`` (values as luigi.cfg would write them) laid over
the configuration in effect. Every :class:`stagecache.stages.task.ArtifactTask` takes it as its ``point``
parameter, resolves its own section's values from it, and hands its dependencies the point restricted
to the sections their part of the DAG reads (:meth:`ArtifactTask.stage`): so stages that no swept value
reaches are one and the same task in every point (built once), while a stage downstream of a swept value
is a task of its own per value. The point never enters a fingerprint: the values it resolves do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

Point = Mapping[str, Mapping[str, str]]


def encode(point: Point | None) -> str:
    """The canonical JSON of a point (sorted, empty sections dropped); ``""`` for no point."""
    cleaned = {
        section: {k: str(v) for k, v in sorted(values.items())}
        for section, values in sorted((point or {}).items())
        if values
    }
    return json.dumps(cleaned, sort_keys=True, separators=(",", ":")) if cleaned else ""


def decode(text: str) -> dict[str, dict[str, str]]:
    """The point a ``point`` parameter holds (``{}`` for none)."""
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f"a point is a JSON object of sections to objects of values, got {text!r}")
    return {str(s): {str(k): str(v) for k, v in values.items()} for s, values in value.items()}


def restrict(text: str, sections: set[str]) -> str:
    """The point ``text`` with only ``sections`` kept."""
    return encode({s: v for s, v in decode(text).items() if s in sections})


def describe(text: str) -> str:
    """``Section.key=value, ...`` (empty for no point), for tables and log lines."""
    return ", ".join(f"{s}.{k}={v}" for s, values in decode(text).items() for k, v in values.items())
