import gzip
import hashlib

import pytest

from pipeline.data.download import DownloadError, fetch_verified

PAYLOAD = b"0123456789" * 100
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_directory_mirror_gzipped_or_plain(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "f.bin").write_bytes(PAYLOAD)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "f.bin.gz").write_bytes(gzip.compress(PAYLOAD))
    assert fetch_verified({"f.bin": SHA}, [str(tmp_path / "plain")]) == {"f.bin": PAYLOAD}
    assert fetch_verified({"f.bin": SHA}, [(tmp_path / "gz").as_uri()]) == {"f.bin": PAYLOAD}


def test_wrong_bytes_are_skipped_and_logged(tmp_path, caplog):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "f.bin").write_bytes(PAYLOAD[:-1] + b"X")
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "f.bin").write_bytes(PAYLOAD)
    out = fetch_verified({"f.bin": SHA}, [str(tmp_path / "bad"), str(tmp_path / "good")])
    assert out == {"f.bin": PAYLOAD}
    assert any("sha256 mismatch" in r.message and "bad" in r.message for r in caplog.records)


def test_every_attempt_is_listed_when_all_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on PATH
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "f.bin").write_bytes(b"nope")
    mirrors = [
        "http://example.invalid/",
        str(tmp_path / "missing"),
        str(tmp_path / "bad"),
        "npm:some-pkg@1.0.0",
        "ftp://example.invalid/",
    ]
    with pytest.raises(DownloadError) as err:
        fetch_verified({"f.bin": SHA}, mirrors)
    text = str(err.value)
    assert "could not fetch f.bin from any mirror" in text
    assert len(err.value.attempts) == len(mirrors)
    assert "plain http is refused" in text
    assert "neither f.bin.gz nor f.bin" in text
    assert "sha256 mismatch" in text
    assert "npm is not installed" in text
    assert "unsupported mirror scheme 'ftp'" in text


def test_vendored_shakespeare_copy():
    out = fetch_verified(
        {"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"}, ["package:tinyshakespeare"]
    )
    assert len(out["input.txt"]) == 1115394


def test_no_mirrors():
    with pytest.raises(ValueError, match="no mirrors"):
        fetch_verified({"f.bin": SHA}, [])


def test_unreachable_mirror_is_not_retried_for_later_files(tmp_path, caplog):
    (tmp_path / "a.bin").write_bytes(PAYLOAD)
    (tmp_path / "b.bin").write_bytes(PAYLOAD)
    dead = "https://127.0.0.1:9/"  # discard port: connection refused at once
    out = fetch_verified({"a.bin": SHA, "b.bin": SHA}, [dead, str(tmp_path)], timeout=5)
    assert set(out) == {"a.bin", "b.bin"}
    assert sum(dead in r.message for r in caplog.records) == 1


def test_tarball_members_never_escape(tmp_path, monkeypatch):
    import io
    import tarfile

    from pipeline.data.download import tar_data_members

    tgz = tmp_path / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:

        def add(name, data=b"x", kind=tarfile.REGTYPE, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("package/data/good.bin", b"good")
        add("package/data/../../evil.bin")
        add("/abs/package/data/abs.bin")
        add("package/data/link.bin", kind=tarfile.SYMTYPE, link="/etc/passwd")
        add("package/data/hard.bin", kind=tarfile.LNKTYPE, link="package/data/good.bin")
        add("package/other/x.bin")
    monkeypatch.chdir(tmp_path)
    assert tar_data_members(tgz) == {"good.bin": b"good"}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["pkg.tgz"]
