"""``artifacts gc``: what the configuration uses, what the project refers to or always keeps, and
divergence records stay; the other artifacts go beyond ``--keep`` per family, newest kept first."""

from __future__ import annotations

import math

from stagecache.stages import divergence
from tests.engine.conftest import FAMILIES


def stems(toy, *stages) -> dict[str, tuple[str, str]]:
    return {s.get_task_family(): tuple(toy.output(s).stem.split("/")) for s in stages}


def test_gc_keeps_what_is_used_pinned_always_kept_or_diverged(toy):
    from toydag.arith import Diverged
    from toydag.project import DRAWN, PINNED, PINS

    pkg = toy.package
    toy.build()
    old = stems(toy, pkg.MakeNumbers(), pkg.Square(), pkg.Total())
    root = toy.root()
    root.update_json(PINS, lambda _: [toy.output(pkg.Total()).reference()])  # the project refers to it
    toy.set("Square", "power", "9")
    diverged = toy.output(pkg.Square())
    divergence.write_record(diverged, task="Square", params={"power": "9"}, error=Diverged(1, math.inf))
    toy.set("Square", "power", "2")
    toy.set("MakeNumbers", "count", "6")
    assert toy.build() == FAMILIES
    new = stems(toy, pkg.MakeNumbers(), pkg.Square(), pkg.Total())
    assert toy.stored() == set(old.values()) | set(new.values())

    listing = toy.cli("artifacts", "list")
    rows = {tuple(line.split()[:2]): line for line in listing.splitlines()[1:]}
    assert rows[(old["MakeNumbers"][0], old["MakeNumbers"][1])].endswith(DRAWN)
    assert rows[old["Total"]].endswith(PINNED)
    # TASK FINGERPRINT SIZE (2) STATE ("-": no training state) AGE USED: unused, kept by nothing
    assert rows[old["Square"]].split()[4:] == ["-", rows[old["Square"]].split()[5], "no"]
    assert rows[new["Square"]].split()[6:] == ["yes"]
    assert "diverged" in rows[tuple(diverged.stem.split("/"))]

    assert toy.cli("artifacts", "gc").splitlines() == ["removed 0 artifact(s)"]  # --keep 1: the newest unused stays
    assert toy.cli("artifacts", "gc", "--keep", "0", "--dry-run").splitlines() == [
        f"would remove {'/'.join(old['Square'])}",
        "would remove 1 artifact(s)",
    ]
    assert toy.stored() == set(old.values()) | set(new.values())  # a dry run removes nothing
    assert toy.cli("artifacts", "gc", "--keep", "0").splitlines() == [
        f"removed {'/'.join(old['Square'])}",
        "removed 1 artifact(s)",
    ]
    assert toy.stored() == set(new.values()) | {old["MakeNumbers"], old["Total"]}
    assert diverged.read_divergence()["epoch"] == 1  # the record stays
    assert toy.build() == set()  # what the configuration uses is still there

    root.update_json(PINS, lambda _: [])  # unpinned: the old Total goes now, the drawn numbers never
    assert toy.cli("artifacts", "gc", "--keep", "0").splitlines() == [
        f"removed {'/'.join(old['Total'])}",
        "removed 1 artifact(s)",
    ]
    assert toy.stored() == set(new.values()) | {old["MakeNumbers"]}
    assert diverged.read_divergence() is not None


def test_gc_refuses_to_guess_when_the_published_references_cannot_be_read(toy):
    from toydag.project import PINS

    toy.build()
    toy.set("Square", "power", "3")
    toy.build()
    toy.root().update_file(PINS, lambda _: b"{not json")
    before = toy.stored()
    try:
        toy.cli("artifacts", "gc", "--keep", "0")
    except SystemExit as exc:
        assert str(exc).startswith("error: ")
    else:
        raise AssertionError("gc ran although the pins could not be read")
    assert toy.stored() == before
