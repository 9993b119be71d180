"""The toy pipeline, declared to the engine: result-neutral itself (it declares, it computes nothing)."""

from __future__ import annotations

from stagecache import KeptArtifacts, Project

#: A published file listing artifact references (``target.reference()``) that gc must keep.
PINS_DIR = "published"
PINS = f"{PINS_DIR}/pins.json"
PINNED = "pinned"
DRAWN = "the numbers drawn"


def references(root) -> KeptArtifacts:
    """Every artifact named in ``published/pins.json``, kept because it is pinned."""
    from stagecache.storage.roots import parse_reference

    kept: KeptArtifacts = {}
    for reference in root.read_json(PINS) or []:
        kept.setdefault(parse_reference(reference), set()).add(PINNED)
    return kept


PROJECT = Project(
    module="toydag",
    default_task="Total",
    code_packages=("toydag",),
    result_neutral={"toydag.project": "declares the toy pipeline to the engine: it computes nothing"},
    loggers=("toydag",),
    not_families=lambda: {PINS_DIR},
    references=references,
    always_kept={"MakeNumbers": DRAWN},
)
