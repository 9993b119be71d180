"""Early cutoff: a stage whose inputs are byte for byte those a stored artifact of its family was built from
reuses that artifact instead of running.

A fingerprint is computed before anything runs (luigi's scheduling, ``status``, sweeps, searches and
continuation need it), so it hashes the upstream stages' *fingerprints*: an upstream stage rebuilt after an
edit that changed none of its output bytes still changes every fingerprint downstream. When a stage is
about to build, all its upstream artifacts are stored, so a second key can be computed: its *content key*,
the sha256 of its fingerprint inputs with each upstream fingerprint replaced by the sha256 of that upstream
artifact's bytes (from its manifest). Each build records it in its manifest (``content_key``, and the
digests as ``upstream_sha256``). A build that finds a stored artifact of its family with the same content
key, whose bytes still match their sha256, copies those bytes (and the final training state a longer build
continues from, when the stage keeps one) under its own fingerprint with a manifest that says so
(``early_cutoff``: the fingerprint reused and how long its build took) and does not call ``build()``. Its
dependents' inputs are then byte-identical in turn, and they cut off too.

A stage whose result depends on more than its inputs' bytes, its significant parameters and its code (its
upstream stages' fingerprints or manifests, published files, side effects of its build) sets
:attr:`stagecache.stages.task.ArtifactTask.early_cutoff` to False: it never records a content key, so it neither
reuses nor is reused.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from stagecache.core.signals import critical
from stagecache.stages.fingerprint import canonical_hash
from stagecache.storage.roots import ArtifactCorruptError, configured_root
from stagecache.storage.roots.base import FINGERPRINT_CHARS

if TYPE_CHECKING:
    from stagecache.storage.roots import ArtifactTarget

log = logging.getLogger(__name__)


def upstream_digests(inputs: dict) -> dict[str, str] | None:
    """``{family: sha256}`` of the upstream artifacts named in ``inputs`` (fingerprint inputs), read from their
    manifests; None when one has no manifest (not built)."""
    root = configured_root()
    digests = {}
    for family, fingerprint in inputs["upstream"].items():
        manifest = root.target(family, fingerprint).manifest()
        if manifest is None:
            return None
        digests[family] = manifest["artifact"]["sha256"]
    return digests


def content_key(inputs: dict, digests: dict[str, str]) -> str:
    """The content key: ``inputs`` with the upstream fingerprints replaced by the upstream artifacts' sha256."""
    return canonical_hash({**{k: v for k, v in inputs.items() if k != "upstream"}, "upstream_sha256": digests})


def build_seconds(manifest: dict) -> float | None:
    """How long the build that made an artifact's bytes took: its own, or that of the artifact it reused."""
    reused = manifest.get("early_cutoff")
    return reused["build_s"] if isinstance(reused, dict) else manifest.get("duration_s")


def sources(task: Any, target: ArtifactTarget, key: str) -> list[dict]:
    """The manifests of ``task``'s family (other than ``target``'s) that record content key ``key``, newest first.

    ``task`` is an :class:`stagecache.stages.task.ArtifactTask` (not imported here: that module imports this one)."""
    found = [
        m
        for m in target.family_manifests()
        if m.get("content_key") == key
        and isinstance(m.get("fingerprint"), str)
        and task.target_for(m["fingerprint"]).stem != target.stem
    ]
    return sorted(found, key=lambda m: m.get("created", ""), reverse=True)


def reusable(task: Any, target: ArtifactTarget, key: str) -> dict | None:
    """The newest manifest of an artifact that a build of ``task`` at ``target`` with content key ``key`` would
    reuse (present, its bytes matching their manifest), or None. Only reads."""
    return next((m for m in sources(task, target, key) if task.target_for(m["fingerprint"]).exists()), None)


def reuse(task: Any, target: ArtifactTarget, manifest_for, key: str, digests: dict[str, str]) -> str | None:
    """Store at ``target`` (its build guard held) a copy of a stored artifact of content key ``key``, with the
    manifest ``manifest_for(extra)`` returns: the fingerprint reused, or None when there is none to reuse
    (then nothing was written but, for a stage with ``continues_along``, checkpoints the build would resume from)."""
    for source_manifest in sources(task, target, key):
        fingerprint = source_manifest["fingerprint"]
        source = task.target_for(fingerprint)
        started = time.time()
        try:
            with critical():  # a stop (SIGTERM) arriving now waits until the artifact is saved
                extra: dict = {
                    "content_key": key,
                    "upstream_sha256": digests,
                    "early_cutoff": {"reused": fingerprint, "build_s": build_seconds(source_manifest) or 0.0},
                }
                if task.continues_along:
                    extra["training_state"] = copy_training_state(source, source_manifest, target)
                    extra["continued_from"] = source_manifest.get("continued_from")
                target.copy_from(source, source_manifest["artifact"]["sha256"], manifest_for(extra))
        except ArtifactCorruptError as exc:  # gone, or damaged since its manifest was read: try another, or build
            log.warning("%s: could not reuse %s (%s)", task.get_task_family(), source.location, exc)
            continue
        log.info(
            "%s: inputs byte-identical to those of %s…: reused without running (early cutoff, %.1fs)",
            task.get_task_family(),
            fingerprint[:FINGERPRINT_CHARS],
            time.time() - started,
        )
        return fingerprint
    return None


def copy_training_state(source: ArtifactTarget, source_manifest: dict, target: ArtifactTarget) -> dict | None:
    """Copy the final training state of ``source`` (bytes checked) as ``target``'s only checkpoint, so that a
    longer build continues from the reused artifact as from the one it copies; its checkpoint number and size
    (for the manifest), or None (and no checkpoint of ``target`` left) when ``source`` kept none."""
    state = source_manifest.get("training_state")
    checkpoint = state.get("checkpoint") if isinstance(state, dict) else None
    data = source.checkpointer().read_bytes(checkpoint) if isinstance(checkpoint, int) else None
    checkpointer = target.checkpointer()
    if data is None:
        checkpointer.clear()  # a killed build's own checkpoints are no final training state
        return None
    checkpointer.put(checkpoint, data)
    kept = checkpointer.keep_latest()
    return None if kept is None else {"checkpoint": kept[0], "bytes": kept[1]}


def prediction(task: Any, inputs: dict, previous: dict | None, rerun: set[str]) -> str | None:
    """What ``status`` can say of early cutoff for a stage that will run, or None.

    ``rerun``: the families of its upstream stages that will run too. When none will, the content key is
    known now: ``reuses <fingerprint>… without running`` if a stored artifact has it. When some will, their
    bytes are not known before they run: if, with those bytes as the ``previous`` build read them, the
    content key would be that build's own, ``reruns if <family>'s bytes change, else reuses …``.
    """
    if not task.early_cutoff or not inputs["upstream"]:
        return None
    target = task.output()
    if not rerun:
        digests = upstream_digests(inputs)
        found = None if digests is None else reusable(task, target, content_key(inputs, digests))
        if found is None:
            return None
        return (
            f"reuses {found['fingerprint'][:FINGERPRINT_CHARS]}… without running: its inputs' bytes are those "
            "that artifact was built from (early cutoff)"
        )
    if previous is None or not isinstance(previous.get("content_key"), str):
        return None
    before = previous.get("upstream_sha256") or {}
    root = configured_root()
    assumed = {}
    for family, fingerprint in inputs["upstream"].items():
        if family in rerun:
            if family not in before:
                return None
            assumed[family] = before[family]
        else:
            manifest = root.target(family, fingerprint).manifest()
            if manifest is None:
                return None
            assumed[family] = manifest["artifact"]["sha256"]
    if content_key(inputs, assumed) != previous["content_key"]:
        return None  # a parameter, the code or another input differs from the previous build's too
    if not task.target_for(previous["fingerprint"]).exists():
        return None
    names = sorted(rerun)
    which = f"{names[0]}'s bytes change" if len(names) == 1 else f"the bytes of {' or '.join(names)} change"
    return (
        f"reruns if {which}, else reuses {previous['fingerprint'][:FINGERPRINT_CHARS]}… without running (early cutoff)"
    )
