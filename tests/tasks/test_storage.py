import json

import pytest

from tasks import storage
from tasks.base import ArtifactCorruptError, ArtifactTarget


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "a" / "x.bin"
    storage.atomic_write_bytes(path, b"old")

    def failing(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write(path, failing)
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]


def test_target_round_trip_and_manifest(tmp_path):
    target = ArtifactTarget(tmp_path, "Fam", "ab" * 32)
    assert not target.exists()
    target.write({"w": [1, 2, 3]}, {"task": "Fam"})
    assert target.path.name == "abababababababab.joblib"
    manifest = json.loads(target.manifest_path.read_text())
    assert manifest["task"] == "Fam" and manifest["artifact"]["bytes"] == target.path.stat().st_size
    assert target.exists() and target.load() == {"w": [1, 2, 3]}


def test_artifact_without_manifest_is_not_complete(tmp_path):
    target = ArtifactTarget(tmp_path, "Fam", "cd" * 32)
    target.write({"x": 1}, {})
    target.manifest_path.unlink()
    assert not target.exists()


class Exploder:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('ran')",))


def test_tampered_artifact_is_quarantined_and_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = ArtifactTarget(tmp_path, "Fam", "ef" * 32)
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
    storage.publish_directory(out, {"a.txt": b"1", "b.txt": b"2"})
    storage.publish_directory(out, {"a.txt": b"3"})
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert (out / "a.txt").read_bytes() == b"3"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
