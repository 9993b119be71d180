"""Lineages among the stages of a sweep: each build along ``continues_along`` waits for the next shorter build of
its lineage, so that it continues from it (:mod:`stagecache.stages.continuation`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stagecache.stages import continuation
from stagecache.stages.fingerprint import canonical_hash
from stagecache.stages.task import fingerprint_scope, walk


def order_lineages(roots: Iterable[Any]) -> dict[str, str]:
    """Make every build along ``continues_along`` among the stages that ``roots`` reach wait for the next
    shorter build of its lineage among them, so that it continues from that one whatever order luigi
    (any number of workers, luigid) would pick: a luigi dependency (:meth:`ArtifactTask.deps`), not a
    priority, and not part of any fingerprint. Returns ``{longer task_id: shorter task_id}``.

    A lineage is what :func:`stagecache.stages.continuation.candidates` matches: equal fingerprint inputs but for
    that one parameter."""
    lineages: dict[str, dict[str, tuple[Any, Any]]] = {}
    with fingerprint_scope():
        seen: set[str] = set()
        for root in roots:
            for task in walk(root):
                name = task.continues_along
                if task.task_id in seen or not name:
                    continue
                seen.add(task.task_id)
                inputs = task.fingerprint_inputs()
                if name not in inputs["params"]:
                    continue
                try:
                    value = dict(task.get_params())[name].parse(inputs["params"][name])
                except (TypeError, ValueError):
                    continue
                rest = {**inputs, "params": {k: v for k, v in inputs["params"].items() if k != name}}
                lineages.setdefault(canonical_hash(rest), {})[task.task_id] = (value, task)
    edges = {}
    for members in lineages.values():
        ordered = sorted(members.values(), key=lambda item: item[0])
        for (_, shorter), (_, longer) in zip(ordered, ordered[1:]):
            continuation.wait(longer, shorter)
            edges[longer.task_id] = shorter.task_id
    return edges
