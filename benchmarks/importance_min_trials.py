"""How many trials a rung needs before a search's parameter importances (Optuna's fANOVA,
stagecache/experiments/importances.py) say anything: how often they rank first the one parameter that drives the
objective, by the number of trials.

    python benchmarks/importance_min_trials.py [--draws 100] [--output FILE]

Each draw is ``n`` random trials over the deep net's three searched parameters (lr log-uniform 1e-4..1e-2, hidden
dropout uniform 0.2..0.6, the width one of two choices) whose objective is a function of lr alone, either peaked
inside the range (best at 1e-3) or monotone; the forest is seeded by the draw's number. Ranking by chance puts lr
first a third of the time. No training; about a minute and a half on one core. Prints a table and one JSON line per shape and
trial count (``--output`` appends them).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution
from results_file import append_results  # benchmarks/, beside this script

from stagecache.experiments import asha
from stagecache.experiments.importances import MIN_TRIALS, search_importances
from stagecache.experiments.searches import SearchDefinition

LR, DROPOUT, HIDDEN = "TrainDeepMLP.lr", "TrainDeepMLP.p_drop_hidden", "TrainDeepMLP.hidden"
CHOICES = ["[256, 256]", "[625, 625]"]
DISTRIBUTIONS = {
    LR: FloatDistribution(1e-4, 1e-2, log=True),
    DROPOUT: FloatDistribution(0.2, 0.6),
    HIDDEN: CategoricalDistribution(CHOICES),
}
SHAPES = {
    "peaked": lambda lr: 0.9 - 0.05 * (math.log10(lr) + 3) ** 2,
    "monotone": lambda lr: 0.9 + 0.02 * math.log10(lr),
}


def definition(seed: int) -> SearchDefinition:
    """What the importances read of a search: its rungs, fidelity, direction and seed."""
    return SearchDefinition(
        "bench.cfg", "bench", "EvaluateDeepMLP", "val_accuracy", "maximize", "random", seed, None, None, 4,
        "continue", "TrainDeepMLP", "epochs", [1], 3.0, [],
    )  # fmt: skip


def lr_share(shape: str, trials: int, draw: int) -> tuple[bool, float]:
    """Whether lr ranks first, and its share, for one draw of ``trials`` trials."""
    rng = np.random.default_rng(1000 + draw)
    params = [
        {LR: float(10 ** rng.uniform(-4, -2)), DROPOUT: float(rng.uniform(0.2, 0.6)), HIDDEN: CHOICES[rng.integers(2)]}
        for _ in range(trials)
    ]
    ledger = asha.Ledger({(t, 0): SHAPES[shape](p[LR]) for t, p in enumerate(params)}, trials)
    found = search_importances(definition(draw), [{"params": p} for p in params], ledger, DISTRIBUTIONS, min_trials=1)
    shares = found["rungs"][0]["importances"]
    return max(shares, key=shares.__getitem__) == LR, shares[LR]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    print(f"{'shape':<9} {'trials':>6} {'lr first':>9} {'median lr share':>16}")
    for shape in SHAPES:
        for trials in (3, 4, 5, 6, 8, 10):
            outcomes = [lr_share(shape, trials, draw) for draw in range(args.draws)]
            first = sum(f for f, _ in outcomes) / args.draws
            median = statistics.median(s for _, s in outcomes)
            print(f"{shape:<9} {trials:>6} {first:>8.0%} {median:>16.2f}")
            rows.append(
                {
                    "benchmark": "importance_min_trials",
                    "date": when,
                    "host": platform.node(),
                    "shape": shape,
                    "trials": trials,
                    "draws": args.draws,
                    "lr_first": first,
                    "median_lr_share": round(median, 4),
                    "min_trials": MIN_TRIALS,
                }
            )
    append_results(args.output, rows)


if __name__ == "__main__":
    main()
