"""What a root stores, what refers to it, and removing what the configuration no longer uses (``artifacts gc``).

The final training state kept beside an artifact (its checkpoints, from which a longer build
continues) stays only while the configuration uses that artifact: :func:`trim_training_states`
drops it from an unused artifact that gc keeps.

Never removed, whatever ``keep`` says: an artifact the configuration uses, one the project's
published files refer to (:attr:`stagecache.stages.project.Project.references`), one of a family the
project always keeps, a divergence record (it stops a diverged configuration from training
again), and anything a live build holds (its lock or lease; gc takes the same lock while it removes).
"""

from __future__ import annotations

import logging

from stagecache.stages.project import current
from stagecache.stages.task import walk
from stagecache.storage.roots import Root, StoredArtifact
from stagecache.storage.roots.base import FINGERPRINT_CHARS
from stagecache.storage.stores.leases import default_owner

log = logging.getLogger(__name__)
DIVERGED = "diverged (a retry would train it again)"


def stored_artifacts(root: Root) -> list[StoredArtifact]:
    """Every artifact (and leftover) under ``root``, each with what refers to it.

    Raises ``ValueError`` when a published file that refers to artifacts cannot be read: gc
    must not guess what it refers to.
    """
    project = current()
    kept = project.references(root) if project.references is not None else {}
    items = root.inventory(set(project.not_families()))
    in_use = {stem: owner for owner, stems in _others_claims(root).items() for stem in stems}
    for item in items:
        item.kept |= set(kept.get((item.family, item.fingerprint), ()))
        if not item.busy and (item.family, item.fingerprint) in in_use:
            item.busy = f"in use by the run {in_use[(item.family, item.fingerprint)]}"
        if item.family in project.always_kept:
            item.kept.add(project.always_kept[item.family])
        if item.diverged:
            item.kept.add(DIVERGED)
    return items


def _others_claims(root: Root) -> dict[str, set[tuple[str, str]]]:
    """Live runs' claims, but this process's own (a program that built and now collects is not building)."""
    me = default_owner()
    return {owner: stems for owner, stems in root.live_claims().items() if owner != me}


def used_keys(root_task) -> set[tuple[str, str]]:
    """(family, fingerprint prefix) of every stage the current configuration reaches from ``root_task``."""
    return {(t.get_task_family(), t.fingerprint()[:FINGERPRINT_CHARS]) for t in walk(root_task)}


def collect_garbage(
    root: Root, items: list[StoredArtifact], used: set[tuple[str, str]], keep: int, dry_run: bool
) -> tuple[list[StoredArtifact], list[StoredArtifact]]:
    """Remove artifacts the configuration does not use, keeping the newest ``keep`` per family.

    Incomplete leftovers (no manifest) go unless a build holds them. Returns what was (or, with
    ``dry_run``, would be) removed, and what was skipped because a live build holds it.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    doomed: list[StoredArtifact] = []
    by_family: dict[str, list[StoredArtifact]] = {}
    for item in items:
        if (item.family, item.fingerprint) in used or item.kept:
            continue
        if item.manifest is None:
            doomed.append(item)
        else:
            by_family.setdefault(item.family, []).append(item)
    for family_items in by_family.values():
        family_items.sort(key=lambda i: i.created, reverse=True)
        doomed += family_items[keep:]
    removed: list[StoredArtifact] = []
    busy: list[StoredArtifact] = []
    for item in doomed:
        done = _unless_in_use(root, item, dry_run, lambda item=item: root.remove(item))
        (removed if done else busy).append(item)
    return removed, busy


def _unless_in_use(root: Root, item: StoredArtifact, dry_run: bool, act) -> bool:
    """Call ``act()`` under ``item``'s build lock (or lease) unless a live build or run holds or claims it;
    whether it was (with ``dry_run``: would be) done. A run that started since the inventory is seen here."""
    if item.busy:
        return False
    if dry_run:
        return True
    with root.holding(item) as free:
        if (item.family, item.fingerprint) in {s for stems in _others_claims(root).values() for s in stems}:
            free, item.busy = False, "in use by a run that started meanwhile"
        if not free:
            item.busy = item.busy or "a run is building it"
            return False
        act()
        return True


def trim_training_states(
    root: Root, items: list[StoredArtifact], used: set[tuple[str, str]], removed: list[StoredArtifact], dry_run: bool
) -> tuple[list[StoredArtifact], list[StoredArtifact]]:
    """Drop the checkpoints (a kept final training state) of every built artifact that the configuration
    does not use and that stays (``keep``, or referred to): a longer build could no longer continue from it.

    Returns what was (or, with ``dry_run``, would be) trimmed, and what a live build holds (left alone).
    """
    gone = {(i.family, i.fingerprint) for i in removed}
    trimmed: list[StoredArtifact] = []
    busy: list[StoredArtifact] = []
    for item in items:
        key = (item.family, item.fingerprint)
        if key in used or key in gone or item.manifest is None or not item.checkpoint_names:
            continue
        done = _unless_in_use(root, item, dry_run, lambda item=item: root.remove(item.training_state()))
        (trimmed if done else busy).append(item)
    return trimmed, busy
