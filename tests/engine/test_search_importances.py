"""A search's parameter importances (stagecache/experiments/importances.py) on hand-made results: per rung, Optuna's
fANOVA finds the parameter that drives the objective at that rung, leaves out rungs too few trials finished, takes
a choice, and survives a parameter that never varied and an objective that never did. No training: a few seconds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from stagecache.experiments import asha
from stagecache.experiments.importances import MIN_TRIALS, search_importances
from stagecache.experiments.searches import Dimension, SearchDefinition

LR, DROPOUT, HIDDEN = "TrainDeepMLP.lr", "TrainDeepMLP.p_drop_hidden", "TrainDeepMLP.hidden"
CHOICES = ["[256, 256]", "[625, 625]"]
DISTRIBUTIONS = {
    LR: FloatDistribution(1e-4, 1e-2, log=True),
    DROPOUT: FloatDistribution(0.2, 0.6),
    HIDDEN: CategoricalDistribution(CHOICES),
}


def definition(seed: int = 0) -> SearchDefinition:
    space = [
        Dimension("TrainDeepMLP", "lr", "loguniform", (1e-4, 1e-2)),
        Dimension("TrainDeepMLP", "p_drop_hidden", "uniform", (0.2, 0.6)),
        Dimension("TrainDeepMLP", "hidden", "choice", tuple(CHOICES)),
    ]
    return SearchDefinition(
        "s.cfg", "s", "EvaluateDeepMLP", "val_accuracy", "maximize", "random", seed, 20, None, 4, "continue",
        "TrainDeepMLP", "epochs", [1, 3, 9], 3.0, space,
    )  # fmt: skip


def made_up(trials: int = 20, seed: int = 1) -> tuple[list[dict], asha.Ledger]:
    """``trials`` random configurations. Rung 0 (1 epoch): every trial, the objective a function of lr alone
    (best at 1e-3), one trial failed. Rung 1 (3 epochs): the first 8 (at most), the objective a function of the
    width alone. Rung 2 (9 epochs): one trial short of the minimum."""
    rng = np.random.default_rng(seed)
    params = [
        {LR: float(10 ** rng.uniform(-4, -2)), DROPOUT: float(rng.uniform(0.2, 0.6)), HIDDEN: CHOICES[k % 2]}
        for k in range(trials)
    ]
    results: dict[tuple[int, int], float | None] = {}
    for t, p in enumerate(params):
        results[(t, 0)] = 0.9 - 0.05 * (math.log10(p[LR]) + 3) ** 2
    results[(trials - 1, 0)] = None  # a failed job counts for nothing
    for t in range(min(8, trials - 1)):
        results[(t, 1)] = 0.95 if params[t][HIDDEN] == CHOICES[1] else 0.93
    for t in range(MIN_TRIALS - 1):
        results[(t, 2)] = 0.96 + 0.001 * t
    return [{"params": p} for p in params], asha.Ledger(results, trials)


@pytest.fixture(scope="module")
def computed() -> dict:
    trials, ledger = made_up()
    return search_importances(definition(), trials, ledger, DISTRIBUTIONS)


def test_at_each_rung_the_parameter_that_drives_the_objective_there_dominates(computed):
    assert computed["method"] == "fANOVA (Optuna)" and computed["min_trials"] == MIN_TRIALS
    first, second = computed["rungs"]
    assert (first["rung"], first["epochs"], first["trials"]) == (0, 1, 19)  # the failed job left out
    assert (second["rung"], second["epochs"], second["trials"]) == (1, 3, 8)
    assert list(first["importances"]) == [LR, DROPOUT, HIDDEN]  # every parameter, in the space's order
    assert math.isclose(sum(first["importances"].values()), 1.0) and first["unvaried"] == []
    # lr alone drives rung 0 (dropout and the width are noise there); the width alone (a choice) drives rung 1
    assert first["importances"][LR] > 0.8, first
    assert second["importances"][HIDDEN] > 0.8, second
    assert second["importances"][LR] < 0.2 and first["importances"][HIDDEN] < 0.2


def test_a_rung_fewer_than_the_minimum_finished_has_no_entry(computed):
    assert [r["rung"] for r in computed["rungs"]] == [0, 1]  # rung 2: MIN_TRIALS - 1 trials
    trials, ledger = made_up(trials=MIN_TRIALS + 1)  # rung 0: exactly MIN_TRIALS results (one failed)
    assert [
        (r["rung"], r["trials"]) for r in search_importances(definition(), trials, ledger, DISTRIBUTIONS)["rungs"]
    ] == [
        (0, MIN_TRIALS),
        (1, MIN_TRIALS),
    ]


def test_the_same_results_give_the_same_importances():
    trials, ledger = made_up()
    assert search_importances(definition(), trials, ledger, DISTRIBUTIONS) == search_importances(
        definition(), trials, ledger, DISTRIBUTIONS
    )


def test_a_parameter_that_never_varied_and_a_single_valued_one_are_reported_as_unvaried():
    trials, ledger = made_up()
    for trial in trials:
        trial["params"][HIDDEN] = CHOICES[0]
        trial["params"]["TrainDeepMLP.depth"] = "2"
    space = {**DISTRIBUTIONS, "TrainDeepMLP.depth": CategoricalDistribution(["2"])}
    first = search_importances(definition(), trials, ledger, space)["rungs"][0]
    assert first["unvaried"] == [HIDDEN, "TrainDeepMLP.depth"]
    assert first["importances"][HIDDEN] == first["importances"]["TrainDeepMLP.depth"] == 0.0
    assert first["importances"][LR] > 0.8


def test_an_objective_that_never_varied_gives_every_parameter_importance_0_and_says_why():
    trials, ledger = made_up()
    flat = asha.Ledger({key: 0.9 for key, v in ledger.results.items() if key[1] == 0}, ledger.trials)
    (rung,) = search_importances(definition(), trials, flat, DISTRIBUTIONS)["rungs"]
    assert set(rung["importances"].values()) == {0.0} and rung["note"] == "every trial gave the same objective"
