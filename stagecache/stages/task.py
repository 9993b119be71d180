"""The one artifact base class: a stage's fingerprinted target, and its build under its root's guard.

Targets and roots (a directory or an object store) live in :mod:`stagecache.storage.roots`,
fingerprints and environment metadata in :mod:`stagecache.stages.fingerprint`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime, timezone

import luigi
from luigi.task import flatten

from stagecache.core import hooks, points
from stagecache.core.environment import environment, library_versions
from stagecache.core.settings import fingerprint as fingerprint_config
from stagecache.core.signals import critical
from stagecache.stages import continuation, cutoff, divergence
from stagecache.stages.fingerprint import canonical_hash, stage_code_hashes
from stagecache.storage.roots import ArtifactCorruptError, ArtifactTarget, configured_root

log = logging.getLogger(__name__)


_scope = threading.local()  # the memo of the fingerprint_scope this thread is in, if any


@contextlib.contextmanager
def fingerprint_scope():
    """Within the outermost such block, each stage's fingerprint is computed once and reused.

    For spans in which neither the configuration nor the project's code changes: one
    fingerprint with the upstream fingerprints it reaches (a DAG reaches a stage along many
    paths), or one status plan. Nested blocks share the outermost block's memo.
    """
    memo = getattr(_scope, "memo", None)
    if memo is not None:
        yield memo
        return
    _scope.memo = {}
    try:
        yield _scope.memo
    finally:
        _scope.memo = None


class ArtifactTask(luigi.Task):
    """A pipeline stage whose output is one fingerprinted joblib artifact.

    Subclasses may set ``code`` (modules the stage runs that its imports do not show:
    :mod:`stagecache.stages.fingerprint` follows the rest), declare
    ``requires()`` and implement ``build(inputs)``, which returns the object to store;
    ``inputs`` mirrors ``requires()`` with each artifact loaded.
    """

    code: tuple[str, ...] = ()
    #: Whether :meth:`after_save` writes more than the artifact (and so needs the build guard even when
    #: another process built the artifact): see ``build_guard(exclusive=...)``.
    exclusive_after_save: bool = False
    #: Failures that the same configuration would repeat (a diverging loss): recorded beside the artifact, and a
    #: later run of that configuration fails at once (:mod:`stagecache.stages.divergence`). Empty: nothing is recorded.
    divergence_errors: tuple[type[BaseException], ...] = ()
    #: The artifact the current run writes, fixed when it started (None outside :meth:`build`).
    run_target: ArtifactTarget | None = None
    #: A parameter along which a build extends a shorter one (a training's number of passes): a build
    #: that differs from a stored one only by a larger value starts from that one's final training state
    #: (:mod:`stagecache.stages.continuation`). Such a stage checkpoints through ``target.checkpointer()`` and
    #: resumes from its newest checkpoint; the engine keeps that newest one once the artifact is written.
    #: None: builds start from nothing, and the stage's checkpoints are its own business.
    continues_along: str | None = None
    #: Whether a build whose inputs are byte for byte those of a stored artifact of this family reuses that
    #: artifact instead of running (early cutoff, :mod:`stagecache.stages.cutoff`). False for a stage whose result
    #: depends on more than its inputs' bytes, its significant parameters and its code: one that reads its
    #: upstream stages' fingerprints or manifests, or publishes or appends in its build.
    early_cutoff: bool = True
    #: After :meth:`run`: the fingerprint of the artifact it reused by early cutoff, or None (it built, or found
    #: its artifact present).
    reused_from: str | None = None
    #: Keys of this stage's artifact that a search may choose on (:mod:`stagecache.experiments.searches`): figures on
    #: held-out validation data. Test figures are reported, never chosen on, so they are never listed here.
    selection_metrics: tuple[str, ...] = ()

    # never positional: a range task (RangeDaily) passes its value to a stage's first positional parameter
    point = luigi.Parameter(
        default="",
        positional=False,
        description="values laid over the configuration for this task and "
        "its dependencies (a sweep's point, see stagecache.core.points)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.validate()
        except (TypeError, ArithmeticError) as exc:  # a value of a type no check foresaw: still a config error
            raise ValueError(f"[{self.get_task_family()}] invalid configuration: {exc}") from exc

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """Luigi's resolution, with the values of a ``point`` for this task's section taking the place of the
        configuration's (explicit keyword arguments still win)."""
        if kwargs.get("point"):
            own = points.decode(kwargs["point"]).get(cls.get_task_family(), {})
            known = dict(params)
            unknown = sorted(set(own) - set(known))
            if unknown:
                raise ValueError(f"[{cls.get_task_family()}] invalid configuration: no parameter {unknown[0]!r}")
            kwargs = {**{name: known[name].parse(value) for name, value in own.items() if name not in kwargs}, **kwargs}
        try:
            return super().get_param_values(params, args, kwargs)
        except ValueError as exc:  # luigi's parsing errors keep the offending value in __cause__
            detail = f" ({exc.__cause__})" if exc.__cause__ else ""
            raise ValueError(f"[{cls.get_task_family()}] invalid configuration: {exc}{detail}") from exc

    def validate(self) -> None:
        """Raise ``ValueError`` naming section, key and value when a parameter is out of range or of the
        wrong type (see :mod:`stagecache.core.ranges`)."""

    def params_dict(self, significant_only: bool = False) -> dict[str, str]:
        """Resolved parameters, serialised as luigi writes them on the command line (significant ones: those
        a fingerprint covers; a ``point`` never is one, the values it resolves are)."""
        return {
            name: param.serialize(getattr(self, name))
            for name, param in self.get_params()
            if (param.significant and name != "point") or not significant_only
        }

    def __repr__(self) -> str:
        """Luigi's ``Family(param=value, ...)``, without the ``point`` of a task that is in none."""
        text = super().__repr__()
        if self.point:
            return text
        return text.replace("(point=, ", "(").replace("(point=)", "()")

    def stage(self, cls: type[ArtifactTask], **kwargs) -> ArtifactTask:
        """The dependency ``cls(**kwargs)`` in this task's point, restricted to the sections its part of the DAG
        reads: a stage that no value of the point reaches is the same task in every point. Use it in ``requires``."""
        return in_point(cls, self.point, **kwargs)

    def deps(self) -> list:
        """Luigi's dependencies: :meth:`requires`, and the shorter build of this stage's lineage that a sweep or
        search scheduled beside it (:func:`stagecache.experiments.lineages.order_lineages`), so that this build
        continues from it. The latter orders the work only: it is no input and no part of the fingerprint."""
        return [*super().deps(), *continuation.waits_for(self)]

    def upstream_fingerprints(self) -> dict[str, str]:
        """``{family: fingerprint}`` of the artifacts this stage reads."""
        with fingerprint_scope():
            return {t.get_task_family(): t.fingerprint() for t in flatten(self.requires())}

    def fingerprint_inputs(self) -> dict:
        """Everything the fingerprint is a hash of."""
        inputs = {
            "family": self.get_task_family(),
            "params": self.params_dict(significant_only=True),
            "upstream": self.upstream_fingerprints(),
            "code": stage_code_hashes(self),
        }
        if fingerprint_config().include_library_versions:
            inputs["libraries"] = library_versions()
        return inputs

    def fingerprint(self) -> str:
        """sha256 over :meth:`fingerprint_inputs`.

        Not memoised on the task: luigi reuses task instances with equal parameters, while the
        configuration of their upstream stages may have changed in between. Within one
        :func:`fingerprint_scope` (one fingerprint, with all it reaches upstream; one status
        plan) each stage is hashed once.
        """
        with fingerprint_scope() as memo:
            key = (type(self), self.task_id)
            if key not in memo:
                memo[key] = canonical_hash(self.scoped_inputs())
            return memo[key]

    def scoped_inputs(self) -> dict:
        """:meth:`fingerprint_inputs`, computed once per stage within one :func:`fingerprint_scope` (read only)."""
        with fingerprint_scope() as memo:
            key = (type(self), self.task_id, "inputs")
            if key not in memo:
                memo[key] = self.fingerprint_inputs()
            return memo[key]

    def output(self) -> ArtifactTarget:
        return self.target_for(self.fingerprint())

    def target_for(self, fingerprint: str) -> ArtifactTarget:
        """This stage's artifact with the given fingerprint (built now or earlier), in the configured root."""
        return configured_root().target(self.get_task_family(), fingerprint)

    def load_inputs(self):
        """The loaded artifacts of ``requires()``, in the same structure (dict, list or single)."""
        req = self.requires()
        if isinstance(req, dict):
            return {k: t.output().load() for k, t in req.items()}
        if isinstance(req, (list, tuple)):
            return [t.output().load() for t in req]
        return req.output().load() if req is not None else None

    def build(self, inputs):
        """Compute and return this stage's artifact object."""
        raise NotImplementedError

    def run(self):
        """Build and save the artifact under its build guard, unless it is already there, or a stored artifact of
        this family was built from the very bytes of this build's inputs: then copy that one instead of building
        (early cutoff, :mod:`stagecache.stages.cutoff`; :attr:`reused_from` names it).

        The guard is an inter-process lock for a directory root, the stage's lease for an
        object store (one builder across hosts; a worker that lost its lease cannot publish).

        The target is fixed before the build (a source edit during training must not
        relabel it); the build reaches it as :attr:`run_target`, ``after_save`` as its argument.
        A corrupt artifact at that path is quarantined here, by the run that rebuilds it.
        """
        inputs = self.fingerprint_inputs()
        target = self.target_for(canonical_hash(inputs))
        self.reused_from = None
        with target.build_guard(exclusive=self.exclusive_after_save):
            if target.exists():
                log.info(
                    "%s: artifact already present (built earlier, or by another process meanwhile)",
                    self.get_task_family(),
                )
            else:
                if target.quarantine_if_corrupt():
                    log.warning("%s: the stored artifact was corrupt; rebuilding it", self.get_task_family())
                target.remove_temporaries()
                started = time.time()
                extra: dict = {}
                # all upstream artifacts are stored now: the content key is known (early cutoff)
                digests = cutoff.upstream_digests(inputs) if self.early_cutoff else None
                if digests is not None:
                    key = cutoff.content_key(inputs, digests)
                    extra = {"content_key": key, "upstream_sha256": digests}
                    if digests:  # with no upstream stage, the same content key is the same fingerprint
                        self.reused_from = cutoff.reuse(
                            self, target, lambda more: self.manifest_for(inputs, started, more), key, digests
                        )
                if self.reused_from is None:
                    self.run_target = target
                    try:
                        with self.building(target):
                            continued = self.continue_shorter_build(target, inputs)
                            result = self.build(self.load_inputs())
                    finally:
                        self.run_target = None
                    with critical():  # a stop (SIGTERM) arriving now waits until the artifact is saved
                        if self.continues_along:
                            extra |= {"training_state": self.keep_training_state(target), "continued_from": continued}
                        self.save(result, started, inputs, target, extra)
                hooks.stage_saved.fire(self, target)
            with critical():
                self.after_save(target)

    @property
    def priority(self) -> float:  # type: ignore[override]
        """Luigi's scheduling priority: with :attr:`continues_along`, minus its value, so that of several
        builds of one lineage ready at once the shorter ones run first and the longer ones continue from
        them. (A stage's dependents lift its priority to theirs: then the order in which they were
        scheduled decides.)"""
        if not self.continues_along:
            return 0
        try:
            return -float(getattr(self, self.continues_along))
        except (TypeError, ValueError):
            return 0

    def continue_shorter_build(self, target: ArtifactTarget, inputs: dict) -> dict | None:
        """With :attr:`continues_along`, and no checkpoint of its own yet (a killed build resumes from its
        own): copy the final training state of the largest shorter build of the same lineage into
        ``target``'s checkpoints. What was continued from (for the manifest), or None."""
        if not self.continues_along or continuation.is_disabled() or target.checkpointer().epochs():
            return None
        source = continuation.find_source(self, inputs, target)
        if source is None or not continuation.continue_from(source, target.checkpointer(), self.get_task_family()):
            return None
        return {"fingerprint": source.fingerprint, self.continues_along: source.value}

    def keep_training_state(self, target: ArtifactTarget) -> dict | None:
        """Keep only the newest checkpoint of ``target`` (its final training state); its checkpoint number and
        size in bytes, or None when the build saved none. Runs before the manifest is written: a build killed
        in between resumes from that checkpoint and ends at once."""
        kept = target.checkpointer().keep_latest()
        if kept is None:
            return None
        checkpoint, size = kept
        log.info(
            "%s: kept its final training state (checkpoint %d, %s bytes)",
            self.get_task_family(),
            checkpoint,
            f"{size:,}",
        )
        return {"checkpoint": checkpoint, "bytes": size}

    @contextlib.contextmanager
    def building(self, target: ArtifactTarget):
        """Context around loading the inputs and building ``target``, under its build guard.

        A configuration that failed with one of :attr:`divergence_errors` before (its record beside
        ``target``) is refused at once; such a failure now is recorded. Subclasses may add to this.
        """
        if not self.divergence_errors:
            yield
            return
        record = target.read_divergence()
        if record is not None:
            raise divergence.refusal(self.get_task_family(), target, record)
        try:
            yield
        except self.divergence_errors as exc:
            divergence.write_record(
                target, task=self.get_task_family(), params=self.params_dict(significant_only=True), error=exc
            )
            raise

    def result_link(self) -> str | None:
        """A link to what a run of this stage published for people to read (a report page), once it exists;
        the run's last line names it. None for most stages."""
        return None

    def after_save(self, target: ArtifactTarget) -> None:
        """Runs under the lock once ``target`` (this run's artifact) exists: subclasses publish or clean up here."""

    def save(self, result, started: float, inputs: dict, target: ArtifactTarget, extra: dict | None = None) -> None:
        """Write ``result`` to ``target`` with a manifest recording parameters, inputs, code and environment
        (and ``extra``: the content key, the training state kept and what the build continued from)."""
        target.write(result, self.manifest_for(inputs, started, extra))
        log.info("%s: wrote %s", self.get_task_family(), target.location)

    def manifest_for(self, inputs: dict, started: float, extra: dict | None = None) -> dict:
        """The manifest of an artifact with fingerprint inputs ``inputs``, made since ``started``, with ``extra``."""
        return {
            "task": self.get_task_family(),
            "fingerprint": canonical_hash(inputs),
            "params": self.params_dict(),
            "significant_params": inputs["params"],
            "upstream": inputs["upstream"],
            "code": inputs["code"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - started, 3),
            **environment(),
            **(extra or {}),
        }


def in_point(cls: type[ArtifactTask], point: str, **kwargs) -> ArtifactTask:
    """``cls(**kwargs)`` in ``point`` restricted to the sections its part of the DAG reads (see :meth:`ArtifactTask.stage`)."""
    if not point:
        return cls(**kwargs)
    full = cls(point=point, **kwargs)
    sections = {t.get_task_family() for t in walk(full)}
    return cls(point=points.restrict(point, sections), **kwargs)


def dependencies(task: ArtifactTask) -> list[ArtifactTask]:
    """The stages ``task`` requires: a dependency that is a job building a stage itself
    (:class:`stagecache.experiments.point_jobs.PointJob`) stands for that stage."""
    return [dep.root() if hasattr(dep, "builds_itself") else dep for dep in flatten(task.requires())]


def walk(root: ArtifactTask) -> list[ArtifactTask]:
    """Every stage ``root`` depends on (see :func:`dependencies`), dependencies before dependents, each once."""
    order: list[ArtifactTask] = []
    seen: set[str] = set()

    def visit(task):
        if task.task_id in seen:
            return
        seen.add(task.task_id)
        for dep in dependencies(task):
            visit(dep)
        order.append(task)

    visit(root)
    return order


__all__ = ["ArtifactCorruptError", "ArtifactTask", "ArtifactTarget", "dependencies", "in_point", "walk"]
