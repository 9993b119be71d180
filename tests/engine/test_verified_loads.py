"""An artifact is unpickled only after its bytes matched its manifest: a damaged one is shown as
corrupt, moved under ``_quarantine`` (never loaded) and rebuilt by the run that needs it."""

from __future__ import annotations

import pickle

import pytest

from stagecache.storage import manifest as manifests
from stagecache.storage.roots import ArtifactCorruptError


class Booby:
    """Unpickling this creates the file ``path`` (stands for any code a forged artifact could run)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def replace_artifact(toy, target, change) -> str:
    """Replace the stored bytes of ``target``'s artifact by ``change(bytes)``; where the artifact was."""
    if toy.kind == "directory":
        target.path.write_bytes(change(target.path.read_bytes()))
        manifests._verified.clear()  # as a new process would: this one hashed the intact bytes already
        return target.path.name
    key = target.manifest()["artifact"]["key"]
    data, info = toy.store.get(key)
    toy.store.put_if_match(key, change(data), info.etag)
    return key


def quarantined(toy) -> list[str]:
    if toy.kind == "directory":
        folder = toy.root().path / "_quarantine"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return sorted(toy.store.list("_quarantine/"))


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_a_flipped_byte_shows_as_corrupt_is_quarantined_and_rebuilt(toy):
    toy.build()
    total = toy.output(toy.package.Total())
    expected = total.load()
    where = replace_artifact(toy, total, flip_last_byte)  # same size: only the checksum (or ETag) tells
    assert total.verdict().state == "corrupt"
    plan = toy.plan()
    assert plan["Total"].label == "corrupt (will rebuild)" and plan["Total"].reasons[0].startswith("artifact corrupt")
    assert {f: s.state for f, s in plan.items()} == {"MakeNumbers": "cached", "Square": "cached", "Total": "will run"}
    assert quarantined(toy) == []  # status changes nothing
    assert toy.build() == {"Total"}
    assert any(where in name for name in quarantined(toy))
    assert toy.output(toy.package.Total()).load() == expected
    assert toy.build() == set()


def test_a_forged_artifact_is_never_unpickled(toy, tmp_path):
    toy.build()
    numbers = toy.output(toy.package.MakeNumbers())
    marker = tmp_path / "pwned"
    where = replace_artifact(toy, numbers, lambda _: pickle.dumps(Booby(marker)))
    with pytest.raises(ArtifactCorruptError, match="quarantined"):
        numbers.load()
    assert not marker.exists()
    assert any(where in name for name in quarantined(toy))
    assert toy.plan()["MakeNumbers"].state == "missing"  # nothing that will run needs it


def test_the_run_that_needs_a_forged_artifact_quarantines_and_rebuilds_it(toy, tmp_path):
    toy.build()
    numbers = [int(n) for n in toy.output(toy.package.MakeNumbers()).load()]  # a copy: loads memory-map
    marker = tmp_path / "pwned"
    where = replace_artifact(toy, toy.output(toy.package.MakeNumbers()), lambda _: pickle.dumps(Booby(marker)))
    toy.set("Square", "power", "3")  # Square must read the numbers again
    assert toy.build() == {"MakeNumbers", "Square", "Total"}
    assert not marker.exists()
    assert any(where in name for name in quarantined(toy))
    assert list(toy.output(toy.package.Square()).load()) == [n**3 for n in numbers]
