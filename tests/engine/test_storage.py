import json

import pytest

from stagecache.stages.task import ArtifactCorruptError, ArtifactTask
from stagecache.storage import localfs
from stagecache.storage.roots.directory import DirectoryRoot


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "a" / "x.bin"
    localfs.atomic_write_bytes(path, b"old")

    def failing(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        localfs.atomic_write(path, failing)
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]


def test_target_round_trip_and_manifest(tmp_path):
    target = DirectoryRoot(tmp_path).target("Fam", "ab" * 32)
    assert not target.exists()
    target.write({"w": [1, 2, 3]}, {"task": "Fam"})
    assert target.path.name == "abababababababab.joblib"
    manifest = json.loads(target.manifest_path.read_text())
    assert manifest["task"] == "Fam" and manifest["artifact"]["bytes"] == target.path.stat().st_size
    assert target.exists() and target.load() == {"w": [1, 2, 3]}


def test_artifact_without_manifest_is_not_complete(tmp_path):
    target = DirectoryRoot(tmp_path).target("Fam", "cd" * 32)
    target.write({"x": 1}, {})
    target.manifest_path.unlink()
    assert not target.exists()


class Exploder:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('ran')",))


def test_tampered_artifact_is_quarantined_and_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = DirectoryRoot(tmp_path).target("Fam", "ef" * 32)
    target.write({"x": 1}, {})
    import joblib

    joblib.dump(Exploder(), target.path)  # same path, different bytes: the manifest no longer matches
    with pytest.raises(ArtifactCorruptError, match="failed its checksum"):
        target.load()
    assert not (tmp_path / "PWNED").exists()
    assert not target.path.exists()
    assert len(list((tmp_path / "_quarantine").iterdir())) == 2


def test_publish_directory_replaces_whole(tmp_path):
    out = tmp_path / "report"
    localfs.publish_directory(out, {"a.txt": b"1", "b.txt": b"2"})
    localfs.publish_directory(out, {"a.txt": b"3"})
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert (out / "a.txt").read_bytes() == b"3"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_verifying_a_corrupt_artifact_moves_nothing_and_quarantine_is_explicit(tmp_path):
    from stagecache.storage.manifest import CORRUPT, MISSING, PRESENT

    target = DirectoryRoot(tmp_path).target("Fam", "12" * 32)
    assert target.verdict().state == MISSING
    target.write({"x": 1}, {})
    assert target.verdict().state == PRESENT
    data = bytearray(target.path.read_bytes())
    data[-2] ^= 0xFF  # same size, other bytes
    target.path.write_bytes(bytes(data))

    before = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "Fam").iterdir())
    for _ in range(2):
        verdict = target.verdict()
        assert verdict.state == CORRUPT and "sha256" in verdict.problem
        assert not target.exists()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "Fam").iterdir()) == before
    assert not (tmp_path / "_quarantine").exists()

    assert target.quarantine_if_corrupt()
    assert target.verdict().state == MISSING and not target.path.exists()
    assert len(list((tmp_path / "_quarantine").iterdir())) == 2
    assert not target.quarantine_if_corrupt()


def test_unreadable_manifest_is_corrupt_and_a_lost_artifact_missing(tmp_path):
    from stagecache.storage.manifest import CORRUPT, MISSING

    target = DirectoryRoot(tmp_path).target("Fam", "34" * 32)
    target.write({"x": 1}, {})
    target.manifest_path.write_text('{"task": "Fa')
    assert target.verdict().state == CORRUPT
    target.write({"x": 1}, {})
    target.path.unlink()
    assert target.verdict().state == MISSING
    with pytest.raises(ArtifactCorruptError, match="is missing"):
        target.load()


class RelabelledDuringBuild(ArtifactTask):
    """A stage whose fingerprint changes while it builds (as when a source file is edited during training)."""

    version = 0
    seen: dict = {}

    def fingerprint_inputs(self):
        return {"family": "RelabelledDuringBuild", "params": {}, "upstream": {}, "code": {}, "v": type(self).version}

    def requires(self):
        return []

    def build(self, inputs):
        type(self).seen["build"] = self.run_target
        type(self).version += 1
        return {"x": 1}

    def after_save(self, target):
        type(self).seen["after_save"] = target


def test_run_hands_the_target_it_fixed_to_the_build_and_after_save(toy_dir):
    task = RelabelledDuringBuild()
    fixed = task.output().path
    task.run()
    seen = RelabelledDuringBuild.seen
    assert seen["build"].path == seen["after_save"].path == fixed
    assert fixed.exists() and task.output().path != fixed  # the fingerprint moved on; the artifact did not
    assert task.run_target is None
