"""A search's progress lines: each batch as it is planned (new trials, promotions, budget used, best so far, an
ETA), and the search's last line (its best trial)."""

from __future__ import annotations

import logging

from stagecache.experiments import asha
from stagecache.experiments.searches import SearchDefinition

log = logging.getLogger(__name__)


def log_batch(
    d: SearchDefinition, study: dict, ledger: asha.Ledger, batch: list, trials: int, pace: float | None
) -> None:
    """``search NAME: batch k: n new trials, promoted ...; trials t of T, epochs e of E used; best ...; ETA``:
    the batch planned now, the budget used, the best so far, and (``pace``: training seconds per epoch so far)
    an ETA."""
    used = asha.epochs_used(d.rungs, ledger)
    planned = sum(asha.cost(d.rungs, r) for _, r in batch)
    new = sum(1 for t, r in batch if r == 0)
    promoted = [f"{t} to {d.rungs[r]}" for t, r in batch if r > 0]
    leader = asha.best(ledger, d.direction == "maximize")
    best = (
        f"best {d.objective} {leader[2]:.4f} (trial {leader[0]}, {d.fidelity_key} {d.rungs[leader[1]]})"
        if leader
        else "no result yet"
    )
    left = (d.budget_epochs - used) if d.budget_epochs is not None else planned
    eta = (
        f"; ETA ~{round(pace * left)}s for {'the rest of the budget' if d.budget_epochs else 'this batch'}"
        if pace
        else ""
    )
    log.info(
        "search %s: batch %d: %d new trial%s, %s; trials %d%s, %s %d%s used; %s%s",
        d.name,
        len(study["batches"]) + 1,
        new,
        "" if new == 1 else "s",
        f"promoted {', '.join(promoted)}" if promoted else "none promoted",
        trials,
        f" of {d.trials}" if d.trials else "",
        d.fidelity_key,
        used,
        f" of {d.budget_epochs}" if d.budget_epochs else "",
        best,
        eta,
    )


def log_result(d: SearchDefinition, result: dict) -> None:
    """The search's last line: its best trial and what the search cost, or that no trial gave a result."""
    failed = sum(1 for t in result["trials"] if t["state"] == "failed")
    best = result["best"]
    if best is None:
        log.warning(
            "search %s: no trial gave a result (%d of %d failed); nothing to choose",
            d.name,
            failed,
            len(result["trials"]),
        )
        return
    log.info(
        "search %s: best %s %.4f: trial %d (%s) at %s %d; %d trials (%d failed), %d %s trained",
        d.name,
        d.objective,
        best["value"],
        best["trial"],
        ", ".join(f"{k}={v}" for k, v in best["values"].items()),
        d.fidelity_key,
        best[d.fidelity_key],
        len(result["trials"]),
        failed,
        result["budget"]["epochs_used"],
        d.fidelity_key,
    )
