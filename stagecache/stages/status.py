"""A dry run of the DAG: which stages are cached, which will run, and why.

Nothing here imports PyTensor or matplotlib or runs a stage, and nothing on disk
changes: it computes fingerprints, reads manifests and checks artifacts' checksums.
A corrupt artifact is shown as such; the run that needs it quarantines and rebuilds it.
A training whose configuration diverged before shows as ``diverged (will fail)``, with its record.
A stage that will run but may reuse an artifact by early cutoff says so (:func:`stagecache.stages.cutoff.prediction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stagecache.core import points
from stagecache.stages import continuation, cutoff, divergence
from stagecache.stages.fingerprint import module_file
from stagecache.stages.task import ArtifactTask, dependencies, fingerprint_scope, walk
from stagecache.storage.manifest import CORRUPT, Verdict, valid_manifests

CACHED, WILL_RUN, MISSING = "cached", "will run", "missing"


@dataclass
class StageStatus:
    """One stage's state and, when it will run, the reasons."""

    task: ArtifactTask
    state: str
    fingerprint: str
    reasons: list[str] = field(default_factory=list)
    artifact: Verdict = Verdict("")  # the stored artifact at this fingerprint: present, missing or corrupt
    diverged: str | None = None  # where the divergence record is at this fingerprint: a run of this stage fails at once

    @property
    def family(self) -> str:
        return self.task.get_task_family()

    @property
    def name(self) -> str:
        """The family, and the point's values when the stage is one of a sweep's points (``Train [Train.lr=0.1]``)."""
        point = points.describe(self.task.point)
        return f"{self.family} [{point}]" if point else self.family

    @property
    def label(self) -> str:
        """The state as shown: ``corrupt (will rebuild)`` for a corrupt artifact the run will replace,
        ``diverged (will fail)`` for a training whose configuration diverged before."""
        if self.diverged is not None:
            return "diverged (will fail)" if self.state == WILL_RUN else "diverged"
        if self.artifact.state != CORRUPT:
            return self.state
        return "corrupt (will rebuild)" if self.state == WILL_RUN else "corrupt"


def latest_manifest(task: ArtifactTask) -> dict | None:
    """The most recently created manifest of ``task``'s family, if any (invalid ones are passed over)."""
    newest = None
    for manifest in valid_manifests(task.output().family_manifests()):
        if newest is None or manifest.get("created", "") > newest.get("created", ""):
            newest = manifest
    return newest


def _diff(task: ArtifactTask, previous: dict, statuses: dict[str, StageStatus]) -> list[str]:
    inputs = task.scoped_inputs()
    reasons = []
    old_params = previous.get("significant_params", {})
    for key in sorted(set(old_params) | set(inputs["params"])):
        old, new = old_params.get(key, "(unset)"), inputs["params"].get(key, "(unset)")
        if old != new:
            reasons.append(f"parameter {key}: {old} → {new}")
    old_code = previous.get("code", {})
    if "stagecache" not in (previous.get("libraries") or {}):  # built before the engine left the fingerprints
        engine = [m for m in old_code if m not in inputs["code"] and module_file(m) is None]
        if engine:
            reasons.append(
                f"built before the engine became a library: its modules ({', '.join(sorted(engine))}) "
                "no longer count in fingerprints; this rebuild happens once"
            )
            old_code = {m: h for m, h in old_code.items() if m not in engine}
    for module in sorted(set(old_code) | set(inputs["code"])):
        if old_code.get(module) != inputs["code"].get(module):
            what = "added" if module not in old_code else "removed" if module not in inputs["code"] else "changed"
            reasons.append(f"code {what}: {module}")
    old_up = previous.get("upstream", {})
    for family in sorted(set(old_up) | set(inputs["upstream"])):
        if family not in old_up or family not in inputs["upstream"]:  # a sweep's point added or removed
            reasons.append(f"upstream {family} {'added' if family not in old_up else 'removed'}")
        elif old_up.get(family) != inputs["upstream"].get(family):
            upstream = next(
                (statuses.get(dep.task_id) for dep in dependencies(task) if dep.get_task_family() == family), None
            )
            if upstream is not None and upstream.state == WILL_RUN:
                reasons.append(f"upstream {family} will rerun")
            else:
                reasons.append(f"upstream {family} differs from the one the last build used")
    if "libraries" in inputs and previous.get("libraries") != inputs["libraries"]:
        reasons.append("library versions changed")
    if not reasons:
        reasons.append("artifact missing or corrupt")
    return reasons


def _previous_build(task: ArtifactTask, never_built: set[str]) -> dict | None:
    """The build a will-run stage is explained against: the family's latest one, or for a stage of a sweep's
    point, whose family's latest build is mostly another point's, the latest with this stage's own parameters,
    and none (never built) when a stage it reads in this point was never built."""
    if not task.point:
        return latest_manifest(task)
    if any(dep.task_id in never_built for dep in dependencies(task)):
        return None
    params = task.scoped_inputs()["params"]
    newest: dict | None = None
    for manifest in valid_manifests(task.output().family_manifests()):
        if manifest.get("significant_params") != params:
            continue
        if newest is None or manifest.get("created", "") > newest.get("created", ""):
            newest = manifest
    return newest


def head_start(task: ArtifactTask, target) -> tuple[str, str] | None:
    """Where a build of a stage with ``continues_along`` starts, as (value, why): after its own newest
    checkpoint (a killed build), or from a shorter build's training state (``continues from
    <parameter>=<value> (fingerprint …)``); None when it starts from the beginning."""
    if not task.continues_along:
        return None
    own = target.checkpointer().epochs()
    if own:
        return str(own[-1]), f"resumes after its own checkpoint {own[-1]}"
    source = continuation.find_source(task, task.scoped_inputs(), target)
    return None if source is None else (source.value, f"continues from {source.describe()}")


def plan(root: ArtifactTask) -> list[StageStatus]:
    """The state of every stage under ``root``, as ``luigi.build([root])`` would find it."""
    with fingerprint_scope():  # a dry run: the configuration and the code stay as they are throughout
        return _plan(root)


def _plan(root: ArtifactTask) -> list[StageStatus]:
    order = walk(root)
    complete = {t.task_id: t.complete() for t in order}
    needed = {root.task_id}
    for task in reversed(order):  # dependents before dependencies
        if task.task_id in needed and not complete[task.task_id]:
            needed.update(dep.task_id for dep in dependencies(task))
    statuses: dict[str, StageStatus] = {}
    never_built: set[str] = set()
    for task in order:
        if complete[task.task_id]:
            state = CACHED
        else:
            state = WILL_RUN if task.task_id in needed else MISSING
        target = task.output()
        status = StageStatus(task, state, task.fingerprint(), artifact=target.verdict())
        if status.artifact.state == CORRUPT:
            status.reasons = [f"artifact corrupt: {status.artifact.problem}"]
            if state == MISSING:
                status.reasons.append("nothing that will run needs it; the run that does rebuilds it")
        elif state != CACHED and task.divergence_errors and (record := target.read_divergence()):
            status.diverged = target.divergence_location
            status.reasons = [
                f"diverged before ({divergence.describe(record)}): see {status.diverged}",
                "change a significant parameter (or the code it runs), or delete that record to retry",
            ]
        elif state == WILL_RUN:
            previous = _previous_build(task, never_built)
            if previous is None:
                never_built.add(task.task_id)
            status.reasons = ["never built"] if previous is None else _diff(task, previous, statuses)
            rerun = {
                dep.get_task_family()
                for dep in dependencies(task)
                if getattr(statuses.get(dep.task_id), "state", None) == WILL_RUN
            }
            predicted = cutoff.prediction(task, task.scoped_inputs(), previous, rerun)
            if predicted is not None and not rerun:  # known now: it reuses, whatever else differs
                status.reasons.insert(0, predicted)
                start = None
            else:
                status.reasons += [predicted] if predicted else []
                start = head_start(task, target)
            status.reasons[:0] = [start[1]] if start else []
        elif state == MISSING:
            status.reasons = ["not built, and nothing that will run needs it"]
        statuses[task.task_id] = status
    return list(statuses.values())


def format_plan(statuses: list[StageStatus]) -> str:
    """A table: stage, state, fingerprint, reasons."""
    width = max(len(s.name) for s in statuses)
    state_width = max(len("STATE"), *(len(s.label) for s in statuses))
    lines = [f"{'TASK':<{width}}  {'STATE':<{state_width}}  {'FINGERPRINT':<16}  REASON"]
    for s in statuses:
        reasons = s.reasons or [""]
        lines.append(f"{s.name:<{width}}  {s.label:<{state_width}}  {s.fingerprint[:16]}  {reasons[0]}".rstrip())
        lines += [f"{'':<{width}}  {'':<{state_width}}  {'':<16}  {r}" for r in reasons[1:]]
    return "\n".join(lines)
