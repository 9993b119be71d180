"""Continuing a build from a shorter one of the same lineage.

A stage that names a parameter in :attr:`stagecache.stages.task.ArtifactTask.continues_along` (a
training's number of passes, say) keeps its final *training state* (its newest checkpoint, see
:mod:`stagecache.storage.checkpoints`) beside its artifact, and records it in the manifest
(``training_state``). A later build of that stage whose fingerprint inputs differ only by a larger
value of that parameter copies the state of the largest smaller value into its own checkpoints,
and the stage's ordinary resume path then does only the missing work.

The *source* is found by recomputing fingerprints, not by a second hash stored beside them: a
manifest of the family qualifies when replacing this build's value of the parameter by the
manifest's own value gives exactly the manifest's fingerprint. Family, every other significant
parameter, upstream fingerprints, code hashes (and library versions, when they count) are then
equal by construction, and whatever :meth:`fingerprint_inputs` leaves out (a parameter declared
``significant=False``) is left out here too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stagecache.stages.fingerprint import canonical_hash
from stagecache.storage.roots.base import FINGERPRINT_CHARS

if TYPE_CHECKING:
    from stagecache.storage.roots import ArtifactTarget

log = logging.getLogger(__name__)

_DISABLED = threading.local()  # set inside disabled(): builds in this thread start from nothing

# task_id -> the shorter build of its lineage that a sweep scheduled beside it (stagecache.experiments.lineages)
_WAITS_FOR: dict[str, Any] = {}


@dataclass(frozen=True)
class Source:
    """A built artifact whose kept training state a build continues from."""

    parameter: str
    value: str  # serialised, as in the manifest's significant_params
    fingerprint: str
    checkpoint: int  # the number of the checkpoint that holds its training state
    target: ArtifactTarget

    def describe(self) -> str:
        """``<parameter>=<value> (fingerprint <16 hex>…)``."""
        return f"{self.parameter}={self.value} (fingerprint {self.fingerprint[:FINGERPRINT_CHARS]}…)"


def _parse(param, serialised: str) -> Any:
    try:
        return param.parse(serialised)
    except (TypeError, ValueError):
        return None


def candidates(task: Any, inputs: dict, manifests: list[dict]) -> list[tuple[Any, dict]]:
    """``(value, manifest)`` of every manifest that differs from ``inputs`` only by a smaller value of
    ``task.continues_along`` and records a kept training state, largest value first.

    ``task`` is an :class:`stagecache.stages.task.ArtifactTask` (not imported here: that module imports this one)."""
    name = task.continues_along
    if not name or name not in inputs["params"]:
        return []
    param = dict(task.get_params())[name]
    mine = _parse(param, inputs["params"][name])
    if mine is None:
        return []
    found = []
    for manifest in manifests:
        value = (manifest.get("significant_params") or {}).get(name)
        if not isinstance(value, str) or not isinstance(manifest.get("training_state"), dict):
            continue
        if canonical_hash({**inputs, "params": {**inputs["params"], name: value}}) != manifest.get("fingerprint"):
            continue  # some other input differs too
        parsed = _parse(param, value)
        if parsed is not None and parsed < mine:
            found.append((parsed, manifest))
    return sorted(found, key=lambda item: item[0], reverse=True)


def find_source(task: Any, inputs: dict, target: ArtifactTarget) -> Source | None:
    """The build that a build of ``task`` with ``inputs`` (its fingerprint inputs) continues from, if any:
    the largest smaller value of ``task.continues_along`` whose training state is still stored. Only reads."""
    for _, manifest in candidates(task, inputs, target.family_manifests()):
        source = task.target_for(manifest["fingerprint"])
        stored = source.checkpointer().epochs()
        if stored and stored[-1] == manifest["training_state"].get("checkpoint"):
            return Source(
                task.continues_along,
                manifest["significant_params"][task.continues_along],
                manifest["fingerprint"],
                stored[-1],
                source,
            )
    return None


def continue_from(source: Source, checkpointer, family: str) -> bool:
    """Copy ``source``'s training state into ``checkpointer`` (this build's), bytes checked on the way;
    False (and nothing copied) when it can no longer be read intact."""
    data = source.target.checkpointer().read_bytes(source.checkpoint)
    if data is None:
        log.warning(
            "%s: the training state of %s is gone or damaged; building from the start", family, source.describe()
        )
        return False
    checkpointer.put(source.checkpoint, data)
    log.info("%s: continuing from %s", family, source.describe())
    return True


def wait(longer: Any, shorter: Any) -> None:
    """Make ``longer`` (a task) wait for ``shorter``, the next shorter build of its lineage (see
    :func:`stagecache.experiments.lineages.order_lineages`)."""
    _WAITS_FOR[longer.task_id] = shorter


def waits_for(task: Any) -> list:
    """The shorter build of ``task``'s lineage it must wait for (see :func:`wait`), as a list."""
    shorter = _WAITS_FOR.get(task.task_id)
    return [] if shorter is None else [shorter]


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Inside the block, builds in this thread never continue a shorter one (a search's ``promotion = restart``:
    what continuation saves, measured). The results are the same bits; only the cost differs."""
    _DISABLED.on = True
    try:
        yield
    finally:
        _DISABLED.on = False


def is_disabled() -> bool:
    return getattr(_DISABLED, "on", False)
