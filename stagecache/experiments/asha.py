"""Successive halving over rungs of a fidelity (epochs), planned one batch of jobs at a time.

Pure: given what every (trial, rung) job gave so far, which jobs to run next. The rule is ASHA's
(Li et al., "A System for Massively Parallel Hyperparameter Tuning", 2020): a trial that finished
rung *k* is promoted to rung *k + 1* once it is among the best ``floor(n_k / η)`` of the ``n_k``
trials that finished rung *k*; the higher rungs are served first, and with nothing to promote a new
trial starts at rung 0 while the budget allows; once neither is possible, the best trial of the highest
rung reached goes on up until one trial reaches the last rung (:func:`finishing`). Promotions are never final refusals: a trial left
behind today is promoted later when more trials finish its rung and it is still among the best.

Here the jobs of a batch are planned together and the next batch from their results, so the plan
depends on the results and the batch size only, never on how many workers ran the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

NEW = -1  # the trial number of a job that starts a trial not proposed yet


@dataclass(frozen=True)
class Job:
    """Train ``trial`` up to rung ``rung`` (continuing from its previous rung), and evaluate it there."""

    trial: int
    rung: int


@dataclass
class Ledger:
    """What the jobs so far gave: ``results[(trial, rung)]`` is the objective, or None for a failed job (a
    diverged training, a value that is not a number)."""

    results: dict[tuple[int, int], float | None]
    trials: int  # trials proposed so far (numbered 0..trials-1)

    def of(self, trial: int) -> dict[int, float | None]:
        """``{rung: result}`` of every job of ``trial`` that finished."""
        return {r: v for (t, r), v in self.results.items() if t == trial}

    def rung_of(self, trial: int) -> int:
        """The highest rung ``trial`` finished (-1: none)."""
        return max(self.of(trial), default=-1)


def cost(rungs: list[int], rung: int) -> int:
    """Epochs a job to ``rung`` trains, continuing from the trial's previous rung."""
    return rungs[rung] - (rungs[rung - 1] if rung else 0)


def epochs_used(rungs: list[int], ledger: Ledger) -> int:
    """Epochs the finished jobs trained (a failed job counts as its whole cost)."""
    return sum(cost(rungs, r) for (_, r) in ledger.results)


def promotable(ledger: Ledger, rung: int, reduction: float, maximize: bool, taken: set[int]) -> list[int]:
    """Trials that finished ``rung``, are among its best ``floor(n / η)`` and have not gone higher, best first."""
    finished = [(t, v) for (t, r), v in ledger.results.items() if r == rung]
    top = int(len(finished) // reduction)
    ranked = sorted(
        ((t, v) for t, v in finished if v is not None),
        key=lambda item: (-item[1] if maximize else item[1], item[0]),
    )[:top]
    return [t for t, _ in ranked if ledger.rung_of(t) == rung and t not in taken]


def next_batch(
    ledger: Ledger,
    *,
    rungs: list[int],
    reduction: float,
    maximize: bool,
    batch: int,
    max_trials: int | None,
    max_epochs: int | None,
) -> list[Job]:
    """Up to ``batch`` jobs, in ASHA's order, within the budget; ``Job(NEW, 0)`` starts a new trial."""
    jobs: list[Job] = []
    taken: set[int] = set()
    used = epochs_used(rungs, ledger)
    new = 0
    while len(jobs) < batch:
        job = None
        for rung in reversed(range(len(rungs) - 1)):
            found = promotable(ledger, rung, reduction, maximize, taken)
            if found:
                job = Job(found[0], rung + 1)
                break
        if job is None and (max_trials is None or ledger.trials + new < max_trials):
            job = Job(NEW, 0)
        if job is None and not jobs:
            job = finishing(ledger, rungs, maximize)
        if job is None or (max_epochs is not None and used + cost(rungs, job.rung) > max_epochs):
            break
        used += cost(rungs, job.rung)
        if job.trial == NEW:
            new += 1
        else:
            taken.add(job.trial)
        jobs.append(job)
    return jobs


def finishing(ledger: Ledger, rungs: list[int], maximize: bool) -> Job | None:
    """With no trial left to start and none to promote, while no trial has reached the last rung: the best
    trial of the highest rung reached, one rung up (so a search ends with a trial at the full fidelity)."""
    leader = best(ledger, maximize)
    if leader is None or leader[1] == len(rungs) - 1:
        return None
    return Job(leader[0], leader[1] + 1)


def best(ledger: Ledger, maximize: bool) -> tuple[int, int, float] | None:
    """``(trial, rung, value)`` of the best result at the highest rung any trial reached, or None."""
    done = [(r, t, v) for (t, r), v in ledger.results.items() if v is not None]
    if not done:
        return None
    top = max(r for r, _, _ in done)
    rung, trial, value = sorted(
        ((r, t, v) for r, t, v in done if r == top), key=lambda x: (-x[2] if maximize else x[2], x[1])
    )[0]
    return trial, rung, value
