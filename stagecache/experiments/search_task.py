"""The luigi task of a search: successive halving whose promotions continue cached builds, sampled by Optuna.

``luigi --module <dag> <its subclass> --file searches/NAME.cfg`` runs the search of a search file
(:mod:`stagecache.experiments.searches`). Every trial at every rung is an ordinary point of the DAG: the stage in
that point, whose upstream stages are shared with every other trial that has the same values, and whose
training at rung *k + 1* continues the same trial's training at rung *k* (:mod:`stagecache.stages.continuation`).

The run is a loop of batches (luigi's dynamic dependencies): plan a batch from what the jobs so far gave
(:func:`stagecache.experiments.asha.next_batch`), record it, yield one :class:`SearchJob` per job (luigi spreads them
over ``--workers N``, luigid's worker processes and hosts), read their results, plan the next. luigi
restarts the loop from the top each time a batch is done, and every step of it only reads the study: so a
search killed at any moment and run again picks up where it stopped, and one whose budget was raised goes
on with the same study.

The study is a JSON document in the artifact root (``searches/NAME.study.json``: the definition it was
started with, every trial's proposed values, and the batches of jobs), no database. Proposals come from
Optuna's samplers through ask-and-tell, on an in-memory study rebuilt from the document, with the
sampler seeded from the search's seed and the trial's number: with one batch size, the proposals are a
function of the seed and the results alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import luigi

from stagecache.configcheck.errors import ConfigError
from stagecache.core import ranges
from stagecache.experiments import asha, optuna_study, search_progress
from stagecache.experiments.definition_file import DefinitionFile
from stagecache.experiments.importances import search_importances
from stagecache.experiments.point_jobs import PointJob, failure_of, stage_in_point
from stagecache.experiments.searches import SearchDefinition, read_search
from stagecache.stages import continuation
from stagecache.stages.cutoff import build_seconds
from stagecache.stages.project import current
from stagecache.stages.task import ArtifactTask, fingerprint_scope, walk
from stagecache.storage.roots import configured_root

log = logging.getLogger(__name__)
SEARCHES = "searches"


def study_name(name: str) -> str:
    """Where a search's study document lives in the artifact root (beside its page, ``searches/NAME/``, which is
    replaced whole each time it is published)."""
    return f"{SEARCHES}/{name}.study.json"


class SearchJob(PointJob):
    """One job of a search: build ``stage`` in ``point`` (trial ``trial`` at rung ``rung``); a training that
    diverges makes the job a failed trial, recorded beside the training (:mod:`stagecache.stages.divergence`), not a
    failure of the run."""

    search = luigi.Parameter(description="the search's name")
    trial = luigi.IntParameter(description="the trial's number in the study")
    rung = luigi.IntParameter(description="the rung, from 0")
    restart = luigi.BoolParameter(
        default=False, significant=False, description="train from scratch instead of continuing the previous rung"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ranges.at_least(self, 0, trial=self.trial, rung=self.rung)

    def run(self) -> None:
        with continuation.disabled() if self.restart else contextlib.nullcontext():
            super().run()

    def diverged(self, exc: BaseException) -> None:
        log.warning(
            "search %s: trial %d failed at rung %d: %s (recorded; the search goes on)",
            self.search,
            self.trial,
            self.rung,
            str(exc).splitlines()[0],
        )


class SearchTask(DefinitionFile[SearchDefinition], ArtifactTask):
    """``luigi --module <dag> <its subclass> --file searches/NAME.cfg``: an adaptive search (see the module).

    A pipeline subclasses it once, like :class:`stagecache.experiments.sweep_task.SweepTask`, and may add to what the
    artifact keeps of the best trial (:meth:`describe_best`) and publish a page (:meth:`after_save`)."""

    file = luigi.Parameter(significant=False, description="the search definition (see stagecache.experiments.searches)")
    kind = "search"
    #: The folder under the root that holds the studies (``NAME.study.json``); a pipeline may publish its pages there.
    folder = SEARCHES
    early_cutoff = False  # its artifact names its jobs' fingerprints, and its build reads the study in the root

    def validate(self) -> None:
        definition = self.definition
        stored = configured_root().read_json(study_name(definition.name))
        if stored is not None and stored.get("study") != self.study_identity():
            raise ConfigError(
                [
                    f"{self.file}: the study {definition.name!r} in {configured_root().location} was started "
                    f"from {stored.get('file')!r} with another stage, objective, space, fidelity, sampler or seed, "
                    "or under another configuration or code of the stage: give this search another name (a changed "
                    "budget or batch is fine)"
                ]
            )

    def read_definition(self) -> SearchDefinition:
        return read_search(self.file)

    # the study ----------------------------------------------------------------------------------------------
    def base_fingerprint(self) -> str:
        """The stage's fingerprint with the space's first corner at rung 0: what the configuration in effect
        contributes to every trial (so a study is never continued under another configuration)."""
        return self.corner_root().fingerprint()

    def corner_root(self) -> ArtifactTask:
        """The stage at the space's first corner and rung 0."""
        d = self.definition
        return stage_in_point(d.stage, d.point(d.corner(), 0))

    def study_identity(self) -> dict:
        return {**self.definition.study(), "configuration": self.base_fingerprint()}

    def read_study(self) -> dict:
        stored = configured_root().read_json(study_name(self.definition.name))
        return stored or {"study": self.study_identity(), "file": self.file, "trials": [], "batches": []}

    def job_root(self, trial: dict, rung: int) -> ArtifactTask:
        return stage_in_point(self.definition.stage, self.definition.point(trial["values"], rung))

    def results(self, study: dict) -> tuple[asha.Ledger, list[tuple[int, int]]]:
        """The ledger of the finished jobs, and the jobs issued but not finished, in their batches' order."""
        ledger = asha.Ledger({}, len(study["trials"]))
        pending = []
        with fingerprint_scope():
            for batch in study["batches"]:
                for trial, rung in batch:
                    value = self.job_value(study["trials"][trial], rung)
                    if value is _PENDING:
                        pending.append((trial, rung))
                    else:
                        ledger.results[(trial, rung)] = value
        return ledger, pending

    def job_value(self, trial: dict, rung: int) -> Any:
        """The objective a finished job gave, None for a failed one, ``_PENDING`` for one not finished."""
        root = self.job_root(trial, rung)
        target = root.output()
        if target.exists():
            value = target.load().get(self.definition.objective)
            try:
                value = float(value)
            except (TypeError, ValueError):
                return None
            return value if math.isfinite(value) else None
        return None if failure_of(root) is not None else _PENDING

    def plan(self) -> list[tuple[int, int, str]]:
        """The jobs to run now, as (trial, rung, point): the unfinished ones of the last batch, or a new batch
        (recorded first)."""
        d = self.definition
        study = self.read_study()
        ledger, pending = self.results(study)
        if pending:
            return [(t, r, d.point(study["trials"][t]["values"], r)) for t, r in pending]
        jobs = asha.next_batch(
            ledger,
            rungs=d.rungs,
            reduction=d.reduction,
            maximize=d.direction == "maximize",
            batch=d.batch,
            max_trials=d.max_trials,
            max_epochs=d.budget_epochs,
        )
        if not jobs:
            return []
        new = sum(1 for j in jobs if j.trial == asha.NEW)
        proposed = optuna_study.propose(d, study["trials"], ledger, new)
        numbers = iter(range(len(study["trials"]), len(study["trials"]) + new))
        batch = [[next(numbers) if j.trial == asha.NEW else j.trial, j.rung] for j in jobs]

        trials = [*study["trials"], *proposed]
        stems = {
            (t.get_task_family(), t.fingerprint()[:16])
            for number, rung in batch
            for t in walk(self.job_root(trials[number], rung))
        }

        def record(current):
            current = current or study
            if len(current["trials"]) != len(study["trials"]) or len(current["batches"]) != len(study["batches"]):
                raise RuntimeError(f"search {d.name}: the study changed under this run (two runs of one search?)")
            return {
                **current,
                "file": self.file,
                "trials": trials,
                "batches": [*current["batches"], batch],
                # every stage a job builds, so that gc keeps the study's artifacts while the study lives
                "stages": sorted({*map(tuple, current.get("stages", [])), *stems}),
            }

        configured_root().update_json(study_name(d.name), record)
        search_progress.log_batch(
            d, study, ledger, batch, len(study["trials"]) + new, self.seconds_per_epoch(study, ledger)
        )
        return [(t, r, d.point(trials[t]["values"], r)) for t, r in batch]

    def seconds_per_epoch(self, study: dict, ledger: asha.Ledger) -> float | None:
        """Training seconds per epoch over the finished jobs' builds (None before any)."""
        seconds = epochs = 0.0
        for trial, rung in ledger.results:
            built = self.job_training(study["trials"][trial], rung)
            if built is not None:
                seconds += built["seconds"]
                epochs += built["epochs"]
        return seconds / epochs if epochs else None

    def job_training(self, trial: dict, rung: int) -> dict | None:
        """The job's build of the fidelity's stage: its seconds, the epochs it trained (after what it continued
        from), and what it continued from."""
        d = self.definition
        for task in walk(self.job_root(trial, rung)):
            if task.get_task_family() == d.fidelity_family:
                manifest = task.output().manifest()
                if manifest is None:
                    return None
                source = manifest.get("continued_from") or {}
                start = int(source.get(d.fidelity_key, 0))
                return {
                    "seconds": float(build_seconds(manifest) or 0.0),
                    "epochs": d.rungs[rung] - start,
                    "continued_from": start or None,
                    "fingerprint": manifest["fingerprint"],
                }
        return None

    # luigi ----------------------------------------------------------------------------------------------------
    def requires(self):
        """The stages every trial shares (no searched value reaches them: built once, first), and the finished jobs'
        stages (cached: so ``status`` lists them, and a run's claims cover them)."""
        study = self.read_study()  # validate() refused a study of another identity
        ledger, _ = self.results(study)
        done = [self.job_root(study["trials"][t], r) for (t, r), v in sorted(ledger.results.items()) if v is not None]
        return [*(t for t in walk(self.corner_root()) if not t.point), *done]

    def upstream_fingerprints(self) -> dict[str, str]:
        return {"configuration": self.base_fingerprint()}

    def fingerprint_inputs(self) -> dict:
        return {**super().fingerprint_inputs(), "search": self.definition.definition()}

    def load_inputs(self):
        return None

    def run(self):
        d = self.definition
        while True:
            jobs = self.plan()
            if not jobs:
                break
            yield [
                SearchJob(search=d.name, stage=d.stage, point=p, trial=t, rung=r, restart=d.promotion == "restart")
                for t, r, p in jobs
            ]
        ArtifactTask.run(self)
        search_progress.log_result(self.definition, self.output().load())

    def build(self, inputs):
        d = self.definition
        study = self.read_study()
        ledger, _ = self.results(study)
        maximize = d.direction == "maximize"
        trials = []
        for number, trial in enumerate(study["trials"]):
            reached = ledger.of(number)
            failure = None
            if any(v is None for v in reached.values()):
                record = failure_of(self.job_root(trial, max(reached)))
                failure = (record or {}).get("error") or "no finite objective"
            state = "failed" if failure else "finished" if len(d.rungs) - 1 in reached else "stopped early"
            trials.append(
                {
                    "number": number,
                    "values": trial["values"],
                    "results": {str(d.rungs[r]): v for r, v in sorted(reached.items())},
                    "rung": max(reached, default=0),  # the highest it reached
                    "state": state,
                    "failure": failure,
                }
            )
        jobs = []
        for batch_number, batch in enumerate(study["batches"], 1):
            for t, r in batch:
                built = self.job_training(study["trials"][t], r) or {}
                jobs.append(
                    {
                        "batch": batch_number,
                        "trial": t,
                        "rung": r,
                        d.fidelity_key: d.rungs[r],
                        "value": ledger.results.get((t, r)),
                        "seconds": built.get("seconds"),
                        "epochs_trained": built.get("epochs"),
                        "continued_from": built.get("continued_from"),
                    }
                )
        leader = asha.best(ledger, maximize)
        best = None
        if leader is not None:
            trial, rung, value = leader
            root = self.job_root(study["trials"][trial], rung)
            best = {
                "trial": trial,
                "rung": rung,
                d.fidelity_key: d.rungs[rung],
                "value": value,
                "values": study["trials"][trial]["values"],
                "point": root.point,
                "fingerprint": root.fingerprint(),
                **self.describe_best(root),
            }
        return {
            "name": d.name,
            "file": self.file,
            "stage": d.stage,
            "objective": d.objective,
            "direction": d.direction,
            "fidelity": {
                "parameter": f"{d.fidelity_family}.{d.fidelity_key}",
                "rungs": d.rungs,
                "reduction": d.reduction,
            },
            "space": [{"name": dim.name, "kind": dim.kind, "values": list(dim.values)} for dim in d.space],
            "sampler": d.sampler,
            "seed": d.seed,
            "budget": {
                "trials": d.trials,
                "budget_epochs": d.budget_epochs,
                "trials_used": len(study["trials"]),
                "epochs_used": asha.epochs_used(d.rungs, ledger),
            },
            "trials": trials,
            "jobs": jobs,
            "best": best,
            # per rung, fANOVA's share of the objective's variance each parameter explains
            "importances": search_importances(d, study["trials"], ledger, optuna_study.distributions(d)),
        }

    def describe_best(self, root: ArtifactTask) -> dict:
        """What the artifact keeps of the best trial's stage besides its values and fingerprint (a pipeline adds
        its test figures here: reported, never chosen on)."""
        return {}

    def after_a_stop(self) -> str:
        """What a rerun does after this search was stopped (the stop line's words): it goes on from its study."""
        location = configured_root().link(study_name(self.definition.name))
        return f"goes on from its study ({location}): a rerun runs no finished job again"

    def trial_attrs(self, number: int) -> dict:
        """What a journal export (``search-journal``) adds to trial ``number``'s user attributes, besides its rung,
        its fidelity there, its artifact and its failure (a pipeline names where it publishes the trial's
        provenance)."""
        return {}


def search_class() -> type[SearchTask]:
    """The project's search task: the one registered subclass of :class:`SearchTask` that none subclasses
    (:class:`LookupError` when there is none, or more than one)."""
    from luigi.task_register import Register

    found = [c for c in Register._get_reg().values() if isinstance(c, type) and issubclass(c, SearchTask)]
    leaves = sorted((c for c in found if not any(o is not c and issubclass(o, c) for o in found)), key=str)
    if len(leaves) != 1:
        names = ", ".join(c.get_task_family() for c in leaves) or "none"
        raise LookupError(f"{current().module} must define exactly one SearchTask subclass (found {names})")
    return leaves[0]


class _Pending:
    def __repr__(self) -> str:
        return "pending"


_PENDING = _Pending()
