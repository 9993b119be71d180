"""``status`` (the dry run) for the toy pipeline: each stage's state and the reasons it will run."""

from __future__ import annotations

import math

from stagecache.stages import divergence
from tests.engine.conftest import FAMILIES


def states(plan: dict) -> dict[str, str]:
    return {family: s.state for family, s in plan.items()}


def test_status_says_never_built_then_cached(toy):
    plan = toy.plan()
    assert list(plan) == ["MakeNumbers", "Square", "Total"]  # dependencies first
    assert all(s.state == "will run" and s.reasons == ["never built"] for s in plan.values())
    toy.build()
    assert states(toy.plan()) == dict.fromkeys(FAMILIES, "cached")
    lines = toy.cli("status").splitlines()
    assert lines[0].split() == ["TASK", "STATE", "FINGERPRINT", "REASON"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["MakeNumbers", "cached"],
        ["Square", "cached"],
        ["Total", "cached"],
    ]


def test_status_names_the_changed_parameter_and_the_upstream_that_will_rerun(toy):
    toy.build()
    square, total = (toy.output(stage).stem.split("/")[1] for stage in (toy.package.Square(), toy.package.Total()))
    toy.set("MakeNumbers", "count", "6")
    plan = toy.plan()
    assert plan["MakeNumbers"].reasons == ["parameter count: 5 → 6"]
    # what status cannot know before MakeNumbers runs: whether its bytes change (early cutoff)
    assert plan["Square"].reasons == [
        "upstream MakeNumbers will rerun",
        f"reruns if MakeNumbers's bytes change, else reuses {square}… without running (early cutoff)",
    ]
    assert plan["Total"].reasons == [
        "upstream Square will rerun",
        f"reruns if Square's bytes change, else reuses {total}… without running (early cutoff)",
    ]
    assert all(s.state == "will run" for s in plan.values())
    # the same through the command line, with a parameter given as on luigi's command line
    out = toy.cli("status", "Total", "--Square-power", "3")
    assert "parameter count: 5 → 6" in out and "parameter power: 2 → 3" in out
    assert toy.build() == FAMILIES  # what status said would run is what runs
    assert toy.reused == []  # six numbers: other bytes
    assert states(toy.plan()) == dict.fromkeys(FAMILIES, "cached")


def test_status_of_a_stage_nothing_needs_says_so(toy):
    toy.build()
    root = toy.root()
    [numbers] = [i for i in root.inventory({"published"}) if i.family == "MakeNumbers"]
    root.remove(numbers)
    plan = toy.plan()
    assert states(plan) == {"MakeNumbers": "missing", "Square": "cached", "Total": "cached"}
    assert plan["MakeNumbers"].reasons == ["not built, and nothing that will run needs it"]
    assert toy.build() == set()


def test_a_divergence_is_recorded_shown_by_status_and_refused_next_time(toy):
    """The engine records a failure of a stage's ``divergence_errors`` beside its artifact, status shows it,
    and the next run of that configuration fails at once without building."""
    import toydag.arith

    toy.build()
    toy.set("Square", "power", "9")
    calls = len(toydag.arith.CALLS)
    assert toy.build_failing() == "Square"
    assert toydag.arith.CALLS[calls:] == [9]
    record = toy.output(toy.package.Square()).read_divergence()
    assert record is not None and record["loss"] == "inf" and record["params"]["power"] == "9"
    assert toy.plan()["Square"].label == "diverged (will fail)"
    assert toy.build_failing() == "Square" and toydag.arith.CALLS[calls:] == [9]  # refused: not built again
    toy.set("Square", "power", "3")
    assert toy.build() == {"Square", "Total"}


def test_a_divergence_record_is_read_back_and_shown_by_status(toy):
    from toydag.arith import Diverged

    toy.build()
    toy.set("Square", "power", "9")
    target = toy.output(toy.package.Square())
    where = divergence.write_record(target, task="Square", params={"power": "9"}, error=Diverged(3, math.nan))
    assert where == target.divergence_location
    record = target.read_divergence()
    assert record["epoch"] == 3 and record["loss"] == "nan" and record["params"] == {"power": "9"}
    assert record["fingerprint"] == target.stem.rpartition("/")[2]
    plan = toy.plan()
    assert plan["Square"].label == "diverged (will fail)" and plan["Square"].diverged == where
    assert "epoch 3, loss nan" in plan["Square"].reasons[0]
    assert "diverged (will fail)" in toy.cli("status")
    # another configuration has no record
    toy.set("Square", "power", "2")
    assert toy.output(toy.package.Square()).read_divergence() is None
    assert states(toy.plan()) == dict.fromkeys(FAMILIES, "cached")
