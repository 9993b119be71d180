"""The server really enforces conditional writes; wrong endpoint, credentials or config fail clearly."""

from __future__ import annotations

import sys
import time

import boto3
import botocore.exceptions
import pytest
from luigi.configuration import LuigiConfigParser
from luigi.task_register import Register

from stagecache.storage.stores import (
    StoreAccessDenied,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    open_store,
    parse_root,
    store_from_config,
)
from stagecache.storage.stores.s3 import S3Store, check_conditional_support
from tests.services import free_ports
from tests.stores.conftest import BUCKET


def test_the_server_enforces_if_none_match_and_if_match(seaweed):
    """Against a server that ignored the conditions, the second write would succeed here."""
    client = boto3.client("s3", endpoint_url=seaweed.endpoint, region_name="us-east-1")
    first = client.put_object(Bucket=BUCKET, Key="raw/enforced", Body=b"one", IfNoneMatch="*")
    for condition in ({"IfNoneMatch": "*"}, {"IfMatch": '"0123456789abcdef0123456789abcdef"'}):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.put_object(Bucket=BUCKET, Key="raw/enforced", Body=b"two", **condition)
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=BUCKET, Key="raw/enforced")["Body"].read() == b"one"
    client.put_object(Bucket=BUCKET, Key="raw/enforced", Body=b"three", IfMatch=first["ETag"])
    assert client.get_object(Bucket=BUCKET, Key="raw/enforced")["Body"].read() == b"three"


def test_server_down_gives_a_clear_error_naming_the_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "something")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (port,) = free_ports(1)
    store = S3Store(BUCKET, "p", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", max_attempts=1)
    start = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"cannot reach the S3 endpoint http://127.0.0.1:{port}"):
        store.check()
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
        store.put_if_absent("k", b"x")
    assert time.monotonic() - start < 10


def test_wrong_credentials_give_a_clear_error(seaweed, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = seaweed.store()
    for call in (store.check, lambda: store.put_if_absent("k", b"x"), lambda: store.get("k")):
        with pytest.raises(StoreAccessDenied, match=f"{seaweed.endpoint} refused the credentials.*AWS_ACCESS_KEY_ID"):
            call()


def test_missing_credentials_give_a_clear_error(seaweed, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreAccessDenied, match="no usable AWS credentials.*never from luigi.cfg"):
        seaweed.store().check()


def test_missing_bucket_is_named(seaweed):
    store = S3Store("no-such-bucket", "p", endpoint_url=seaweed.endpoint, region_name="us-east-1")
    for call in (store.check, lambda: store.put_if_absent("k", b"x")):
        with pytest.raises(StoreError, match=f"bucket no-such-bucket does not exist at {seaweed.endpoint}"):
            call()


@pytest.mark.parametrize(
    "root, expected",
    [
        ("s3://bucket/some/prefix/", ("s3", "bucket", "some/prefix")),
        ("s3://bucket", ("s3", "bucket", "")),
        ("artifacts", ("local", "artifacts", "")),
        ("/abs/path", ("local", "/abs/path", "")),
    ],
)
def test_parse_root(root, expected):
    assert parse_root(root) == expected


@pytest.mark.parametrize(
    "root, message",
    [
        ("", "empty"),
        ("gs://bucket/x", "unsupported scheme 'gs'"),
        ("s3:///x", "names no bucket"),
        ("s3://Bad_Bucket/x", "invalid S3 bucket name"),
    ],
)
def test_bad_roots_are_refused(root, message):
    with pytest.raises(StoreConfigError, match=message):
        open_store(root)


@pytest.fixture
def luigi_config(monkeypatch, tmp_path):
    monkeypatch.setattr(LuigiConfigParser, "_instance", None)
    monkeypatch.setattr(LuigiConfigParser, "_config_paths", [])
    config = LuigiConfigParser.instance()
    Register.clear_instance_cache()
    yield config
    Register.clear_instance_cache()


def test_store_from_config_reads_artifacts_root_and_s3_section(seaweed, luigi_config, tmp_path):
    luigi_config.set("artifacts", "root", f"s3://{BUCKET}/from-config")
    luigi_config.set("s3", "endpoint_url", seaweed.endpoint)
    luigi_config.set("s3", "region_name", "us-east-1")
    luigi_config.set("object_store", "cache_dir", str(tmp_path / "cache"))
    store = store_from_config()
    assert isinstance(store, S3Store) and store.prefix == "from-config" and store.endpoint == seaweed.endpoint
    assert store.cache_dir == tmp_path / "cache"
    store.check()
    luigi_config.set("artifacts", "root", str(tmp_path / "root"))
    Register.clear_instance_cache()
    with pytest.raises(StoreConfigError, match="is a directory, not an object store"):
        store_from_config()


def test_an_s3_root_without_boto3_names_the_extra_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` finds where it is not installed
    with pytest.raises(StoreConfigError) as info:
        open_store("s3://bucket/p")
    assert str(info.value) == (
        "[artifacts] root 's3://bucket/p' needs boto3, which is not installed: pip install 'stagecache[s3]' "
        "(the engine's s3 extra)"
    )


def test_credentials_in_luigi_cfg_are_refused(luigi_config):
    luigi_config.set("artifacts", "root", "s3://bucket/p")
    luigi_config.set("s3", "aws_secret_access_key", "oops")
    with pytest.raises(StoreConfigError, match="aws_secret_access_key: credentials are never read from luigi.cfg"):
        store_from_config()


def test_a_botocore_without_conditional_writes_is_named():
    class Model:  # the part of botocore's service model that the check reads, minus If-Match
        def operation_model(self, name):
            members = {"PutObject": {"IfNoneMatch": 1}, "DeleteObject": {"IfMatch": 1}}[name]
            return type("Op", (), {"input_shape": type("Shape", (), {"members": members})})()

    client = type("Client", (), {"meta": type("Meta", (), {"service_model": Model()})})()
    with pytest.raises(StoreError, match="cannot send IfMatch on PutObject.*boto3>=1.36"):
        check_conditional_support(client)
    check_conditional_support(boto3.client("s3", region_name="us-east-1"))  # the installed one can
