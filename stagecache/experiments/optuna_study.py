"""A search's trials as Optuna's trials: what the sampler is asked over, and what a journal export holds.

The study of a search is a JSON document in the artifact root (:mod:`stagecache.experiments.search_task`), its
results the trial stages' artifacts, gathered in an :class:`~stagecache.experiments.asha.Ledger`. Both Optuna
studies made from them, the in-memory one each proposal is asked of and the journal file
``python -m <dag> search-journal`` writes for optuna-dashboard, get their trials from :func:`add_trials`, so they
hold the same trials: one that reached the last rung is complete, with its value there; one that stopped below it
is pruned; one with a failed job is failed; one with no finished job yet is running. Every trial carries its
objective at each rung it finished as intermediate values keyed by the rung's epochs (Optuna's samplers read those
of pruned trials only).

Optuna is imported only when these functions run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from stagecache.experiments.asha import Ledger
from stagecache.experiments.searches import Dimension, SearchDefinition


def distribution(dimension: Dimension):
    """The Optuna distribution of one dimension of the space."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dimension.kind == "choice":
        return CategoricalDistribution(list(dimension.values))
    if dimension.kind == "int":
        return IntDistribution(int(dimension.values[0]), int(dimension.values[1]))
    return FloatDistribution(float(dimension.values[0]), float(dimension.values[1]), log=dimension.kind == "loguniform")


def distributions(definition: SearchDefinition) -> dict:
    """``{"Family.key": distribution}`` of the whole space."""
    return {d.name: distribution(d) for d in definition.space}


def new_study(definition: SearchDefinition, **kwargs: Any):
    """An empty Optuna study in the search's direction (``kwargs``: a sampler, a storage, a study name)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction=optuna.study.StudyDirection[definition.direction.upper()], **kwargs)


def add_trials(
    study,
    definition: SearchDefinition,
    trials: Sequence[dict],
    ledger: Ledger,
    user_attrs: Mapping[int, dict] | None = None,
) -> None:
    """Add ``trials`` (the study document's, in order: trial *k* becomes Optuna's trial *k*) to ``study``, each in
    the state its finished jobs in ``ledger`` give it (see the module), with ``user_attrs[k]`` when given."""
    import optuna

    space = distributions(definition)
    top = len(definition.rungs) - 1
    for k, trial in enumerate(trials):
        reached = ledger.of(k)
        kwargs: dict[str, Any] = {}
        if any(v is None for v in reached.values()):
            state = optuna.trial.TrialState.FAIL
        elif top in reached:
            state, kwargs["value"] = optuna.trial.TrialState.COMPLETE, reached[top]
        elif reached:
            state = optuna.trial.TrialState.PRUNED
        else:
            state = optuna.trial.TrialState.RUNNING
        study.add_trial(
            optuna.trial.create_trial(
                params=trial["params"],
                distributions=space,
                system_attrs=trial.get("system_attrs", {}),
                user_attrs=dict((user_attrs or {}).get(k, {})),
                intermediate_values={definition.rungs[r]: v for r, v in sorted(reached.items()) if v is not None},
                state=state,
                **kwargs,
            )
        )


def write_journal(
    path: str,
    definition: SearchDefinition,
    trials: Sequence[dict],
    ledger: Ledger,
    *,
    study_attrs: Mapping[str, Any] | None = None,
    user_attrs: Mapping[int, dict] | None = None,
    replace: bool = False,
) -> Counter:
    """Write the search as an Optuna journal file at ``path`` (one study, named after the search), complete before
    it appears there: written beside it, then linked into place. An existing ``path`` raises
    :class:`FileExistsError` unless ``replace``, which replaces it in one rename. The number of trials in each of
    Optuna's states (``"COMPLETE"``, ``"PRUNED"``, ``"FAIL"``, ``"RUNNING"``)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    temporary = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        storage = optuna.storages.JournalStorage(JournalFileBackend(temporary))
        study = new_study(definition, storage=storage, study_name=definition.name)
        for key, value in (study_attrs or {}).items():
            study.set_user_attr(key, value)
        add_trials(study, definition, trials, ledger, user_attrs)
        states = Counter(t.state.name for t in study.get_trials(deepcopy=False))
        if replace:
            os.replace(temporary, path)
        else:
            _link(temporary, path)
        return states
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _link(source: str, path: str) -> None:
    """Give ``source`` the name ``path`` too, never replacing a file there (:class:`FileExistsError`), even one made
    meanwhile; where the file system has no hard links, after a check."""
    try:
        os.link(source, path)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(source, path)


def sampler(definition: SearchDefinition, seed: int):
    """The search's Optuna sampler, seeded with ``seed`` (TPE with ``constant_liar``, random, or grid)."""
    import optuna

    if definition.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if definition.sampler == "grid":
        return optuna.samplers.GridSampler({d.name: list(d.values) for d in definition.space}, seed=definition.seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def propose(definition: SearchDefinition, trials: list[dict], ledger: Ledger, count: int) -> list[dict]:
    """``count`` new trials from Optuna's sampler (ask-and-tell), each asked of a study rebuilt from ``trials``
    and their results (:func:`add_trials`), with the sampler seeded by the
    search's seed and the trial's number."""
    space = distributions(definition)
    dimensions = {d.name: d for d in definition.space}
    made: list[dict] = []
    for _ in range(count):
        number = len(trials) + len(made)
        study = new_study(definition, sampler=sampler(definition, definition.seed * 1_000_003 + number))
        add_trials(study, definition, [*trials, *made], ledger)
        asked = study.ask(space)
        params = dict(asked.params)
        made.append(
            {
                "number": number,
                "params": params,
                "values": {name: dimensions[name].text(value) for name, value in params.items()},
                "system_attrs": dict(study.trials[-1].system_attrs),
            }
        )
    return made
