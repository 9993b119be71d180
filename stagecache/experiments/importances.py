"""Parameter importances of a search: for each rung, Optuna's fANOVA over the trials that finished it.

At each rung that at least :data:`MIN_TRIALS` trials finished with a result, an in-memory Optuna study holds
those trials, each COMPLETE with its objective at that rung (its params with the space's distributions), and
:func:`optuna.importance.get_param_importances` assesses them with :class:`~optuna.importance.FanovaImportanceEvaluator`
(Hutter et al. 2014: a random forest fit to the objective, each parameter's share of the variance its main
effect explains, normalized to sum to 1), seeded by the search's seed, so a page shows the same figures each
time. fANOVA is named, not left to Optuna's default: since Optuna 5 that is PED-ANOVA, which looks at the top
10 % of the trials and wants at least 5 of them there, fifty trials, beyond most searches here.

A parameter whose values were all equal among a rung's trials is left out of the analysis and reported with
importance 0 under ``unvaried`` (a value that never changed explains nothing, and the forest cannot split on
it); a rung whose trials all gave the same objective has importance 0 for every parameter and a ``note``. Optuna, and the scikit-learn its fANOVA fits its forest with, are imported only here, when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stagecache.experiments import asha, optuna_study
from stagecache.experiments.searches import SearchDefinition

METHOD = "fANOVA (Optuna)"
#: Trials a rung needs before its importances are computed. Measured with benchmarks/importance_min_trials.py
#: (100 draws of random trials over three parameters, the objective a function of one of them; the forest seeded
#: per draw): the driving parameter ranked first in 34-40 % of the draws at 3 trials, which is chance, 42-65 % at 4,
#: 58-84 % at 5 and 72-98 % at 8 (the lower figure for an objective peaked inside the range, the higher for a
#: monotone one). From 5 trials on the ranking says something more often than not, whatever the objective's shape.
MIN_TRIALS = 5


def search_importances(
    definition: SearchDefinition,
    trials: list[dict],
    ledger: asha.Ledger,
    distributions: Mapping[str, Any],
    min_trials: int = MIN_TRIALS,
) -> dict:
    """``{"method", "min_trials", "rungs": [...]}``: per rung with at least ``min_trials`` results, in rung
    order, ``{"rung", <fidelity key>, "trials", "importances": {parameter: share}, "unvaried": [parameter]}``
    (and a ``note`` when the objective did not vary). ``trials`` are the study's (their ``params`` as Optuna
    holds them), ``distributions`` the space's Optuna distributions by parameter name."""
    rungs = []
    for rung, fidelity in enumerate(definition.rungs):
        finished = sorted((t, v) for (t, r), v in ledger.results.items() if r == rung and v is not None)
        if len(finished) < min_trials:
            continue
        params = [{name: trials[t]["params"][name] for name in distributions} for t, _ in finished]
        values = [v for _, v in finished]
        entry: dict[str, Any] = {"rung": rung, definition.fidelity_key: fidelity, "trials": len(finished)}
        entry.update(_rung_importances(definition, params, values, distributions))
        rungs.append(entry)
    return {"method": METHOD, "min_trials": min_trials, "rungs": rungs}


def _rung_importances(
    definition: SearchDefinition, params: list[dict], values: list[float], distributions: Mapping[str, Any]
) -> dict:
    """One rung's importances (every parameter of the space, in its order), its unvaried parameters and note."""
    unvaried = [name for name in distributions if len({p[name] for p in params}) == 1]
    varied = [name for name in distributions if name not in unvaried]
    zero = dict.fromkeys(distributions, 0.0)
    if len(set(values)) == 1 or not varied:
        note = "every trial gave the same objective" if len(set(values)) == 1 else "no parameter varied"
        return {"importances": zero, "unvaried": unvaried, "note": note}

    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    study = optuna_study.new_study(definition)
    for p, value in zip(params, values):
        study.add_trial(optuna.trial.create_trial(params=p, distributions=dict(distributions), value=value))
    found = get_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=definition.seed % 2**32), params=varied
    )
    return {"importances": {**zero, **{name: float(share) for name, share in found.items()}}, "unvaried": unvaried}
