"""Early cutoff: a stage whose upstream was rebuilt to the very bytes it was built from reuses its artifact
instead of running, on both kinds of root; other bytes rebuild it; status says what it can predict."""

from __future__ import annotations

import logging

import pytest

from stagecache.cli.gc import collect_garbage, stored_artifacts, used_keys
from stagecache.stages import fingerprint
from tests.engine.conftest import FAMILIES, edit

#: An edit of MakeNumbers' code that changes its fingerprint, not the numbers it draws.
SAME_BYTES = ("make.py", "range(self.count)]", "range(int(self.count))]")


def stems(toy) -> dict[str, str]:
    """``{family: fingerprint prefix}`` of each stage as configured now."""
    return {s.family: s.fingerprint[:16] for s in toy.plan().values()}


def manifests(toy) -> dict[str, dict]:
    """``{family: manifest}`` of each stage's artifact as configured now (each asserted present)."""
    found = {}
    for stage in (toy.package.MakeNumbers(), toy.package.Square(), toy.package.Total()):
        target = toy.output(stage)
        assert target.exists(), target.location
        found[stage.get_task_family()] = target.manifest()
    return found


def test_an_upstream_rebuilt_to_the_same_bytes_cuts_off_what_depends_on_it(toy, toy_source, caplog):
    import toydag.arith

    toy.build()
    before, old = manifests(toy), stems(toy)
    assert all(m["content_key"] for m in before.values())  # every build records its content key
    edit(toy_source / SAME_BYTES[0], *SAME_BYTES[1:])
    plan = toy.plan()
    assert plan["Square"].reasons == [
        "upstream MakeNumbers will rerun",
        f"reruns if MakeNumbers's bytes change, else reuses {old['Square']}… without running (early cutoff)",
    ]
    calls = len(toydag.arith.CALLS)
    with caplog.at_level(logging.INFO):
        assert toy.build() == FAMILIES
    assert toy.reused == ["Square", "Total"]
    assert toydag.arith.CALLS[calls:] == []  # Square's build() never ran
    after, new = manifests(toy), stems(toy)
    assert all(new[f] != old[f] for f in FAMILIES)  # every fingerprint changed, and every byte stayed
    assert all(after[f]["artifact"]["sha256"] == before[f]["artifact"]["sha256"] for f in FAMILIES)
    for family in ("Square", "Total"):
        assert after[family]["content_key"] == before[family]["content_key"]
        assert after[family]["early_cutoff"]["reused"] == before[family]["fingerprint"]
        assert after[family]["early_cutoff"]["build_s"] == before[family]["duration_s"]
        assert f"{family}: inputs byte-identical to those of {old[family]}…: reused without running" in caplog.text
    assert "early_cutoff" not in after["MakeNumbers"]
    assert "stage 2/3: Square reused" in caplog.text
    table = caplog.text[caplog.text.rindex("summary of this run:") :]  # this run's (caplog may hold the first's)
    assert [line.split()[-3:-1] for line in table.splitlines()[2:5]] == [
        ["MakeNumbers", "ran"],
        ["Square", "reused"],
        ["Total", "reused"],
    ]
    assert toy.output(toy.package.Total()).load() == sum(toy.output(toy.package.Square()).load())
    assert toy.build() == set()
    assert len(toy.stored()) == 6

    # other bytes: rebuilt, never reused
    toy.set("MakeNumbers", "seed", "1")
    assert toy.build() == FAMILIES and toy.reused == []
    assert toydag.arith.CALLS[calls:] == [2]


def test_status_names_the_artifact_a_stage_will_reuse_once_its_upstream_is_built(toy_dir, toy_source):
    toy = toy_dir
    toy.build()
    old = stems(toy)
    edit(toy_source / SAME_BYTES[0], *SAME_BYTES[1:])
    assert toy.build(toy.package.MakeNumbers()) == {"MakeNumbers"}
    plan = toy.plan()
    assert plan["Square"].state == "will run"
    assert plan["Square"].reasons == [
        f"reuses {old['Square']}… without running: its inputs' bytes are those that artifact was built from "
        "(early cutoff)",
        "upstream MakeNumbers differs from the one the last build used",
    ]
    assert plan["Total"].reasons[-1].startswith(f"reruns if Square's bytes change, else reuses {old['Total']}")
    assert toy.build() == {"Square", "Total"} and toy.reused == ["Square", "Total"]


def test_a_reused_artifact_is_an_ordinary_one_for_gc_and_for_reuse(toy_dir, toy_source):
    """gc removes the artifacts a cutoff copied from like any unused ones; going back to the first code then
    reuses the copies (a cutoff of a cutoff: the build's time is the first build's)."""
    toy = toy_dir
    toy.build()
    first = manifests(toy)
    source = toy_source / SAME_BYTES[0]
    original = source.read_text()
    edit(source, *SAME_BYTES[1:])
    toy.build()
    root = toy.root()
    removed, _ = collect_garbage(root, stored_artifacts(root), used_keys(toy.package.Total()), keep=0, dry_run=False)
    assert sorted(i.family for i in removed) == ["Square", "Total"]  # MakeNumbers is always kept
    source.write_text(original)
    fingerprint.clear_code_cache()
    assert toy.build() == {"Square", "Total"} and toy.reused == ["Square", "Total"]
    again = manifests(toy)
    assert all(again[f]["fingerprint"] == first[f]["fingerprint"] for f in FAMILIES)
    assert again["Square"]["early_cutoff"]["build_s"] == first["Square"]["duration_s"]
    assert toy.build() == set()


def test_a_damaged_artifact_is_not_reused_the_stage_builds(toy_dir, toy_source, caplog):
    import toydag.arith

    toy = toy_dir
    toy.build()
    square = toy.output(toy.package.Square())
    data = bytearray(square.path.read_bytes())
    data[-1] ^= 1
    square.path.write_bytes(bytes(data))
    edit(toy_source / SAME_BYTES[0], *SAME_BYTES[1:])
    calls = len(toydag.arith.CALLS)
    with caplog.at_level(logging.WARNING):
        assert toy.build() == FAMILIES
    assert "Square: could not reuse" in caplog.text and "does not match its sha256" in caplog.text
    assert toydag.arith.CALLS[calls:] == [2]  # built, from the same numbers: the same bytes as before the damage
    assert toy.reused == ["Total"]


def test_a_stage_that_opts_out_is_rebuilt_and_records_no_content_key(toy_dir, toy_source, monkeypatch):
    toy = toy_dir
    monkeypatch.setattr(toy.package.Total, "early_cutoff", False)
    toy.build()
    edit(toy_source / SAME_BYTES[0], *SAME_BYTES[1:])
    plan = toy.plan()
    assert plan["Total"].reasons == ["upstream Square will rerun"]
    assert toy.build() == FAMILIES and toy.reused == ["Square"]
    assert "content_key" not in manifests(toy)["Total"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("content_key", "abc"),
        ("upstream_sha256", {"MakeNumbers": 3}),
        ("early_cutoff", {"reused": "abc"}),
        ("early_cutoff", {"reused": "XYZ", "build_s": 1.0}),
        ("early_cutoff", {"reused": "abc", "build_s": -1}),
    ],
)
def test_the_manifest_fields_of_early_cutoff_are_validated_like_every_other(field, value):
    from stagecache.storage.manifest import manifest_problem

    manifest = {"artifact": {"sha256": "0" * 64, "bytes": 1}, "content_key": "1" * 64}
    assert manifest_problem(manifest) == ""
    assert manifest_problem({**manifest, field: value}).startswith(f"{field} is ")
