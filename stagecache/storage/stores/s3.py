"""The object store in an S3-compatible bucket, with S3 conditional writes.

``put_if_absent`` sends ``If-None-Match: *`` and ``put_if_match`` sends ``If-Match: <etag>``;
the server answers 412 (or 409 for a concurrent conditional write) when the condition
fails, which becomes :class:`PreconditionFailed`. Credentials come only from the standard
AWS chain (environment variables, ``AWS_PROFILE`` / shared files, instance roles).
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from stagecache.storage.stores.base import (
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    Store,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
    check_key,
)

log = logging.getLogger(__name__)
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CONDITIONAL_PARAMETERS = {"PutObject": ("IfNoneMatch", "IfMatch"), "DeleteObject": ("IfMatch",)}
DENIED_CODES = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}
CREDENTIALS_HINT = (
    "credentials come only from the AWS chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or AWS_PROFILE with ~/.aws/credentials (never from luigi.cfg)"
)


_LOADER: list = []


def _new_session():
    """A fresh boto3 session (credentials resolved anew) sharing one loader of the service models."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    if _LOADER:
        core.register_component("data_loader", _LOADER[0])
    else:
        _LOADER.append(core.get_component("data_loader"))
    return boto3.session.Session(botocore_session=core)


def check_conditional_support(client) -> None:
    """Raise :class:`StoreError` when the installed botocore cannot send conditional writes."""
    model = client.meta.service_model
    for operation, names in CONDITIONAL_PARAMETERS.items():
        members = model.operation_model(operation).input_shape.members
        missing = [n for n in names if n not in members]
        if missing:
            import botocore

            raise StoreError(
                f"botocore {botocore.__version__} cannot send {', '.join(missing)} on {operation}; "
                "S3 artifact roots need boto3>=1.36 (pip install -U boto3)"
            )


class S3Store(Store):
    """Objects under ``s3://bucket/prefix/`` at an S3-compatible endpoint."""

    #: LastModified and the Date header have one-second resolution.
    time_resolution = 1.0

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        cache_dir: Path | str | None = None,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        session=None,
    ):
        super().__init__(cache_dir)
        if not BUCKET_NAME.match(bucket):
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self.client = (session or _new_session()).client(
            "s3", endpoint_url=endpoint_url or None, region_name=region_name or None, config=config
        )
        self.endpoint = self.client.meta.endpoint_url
        check_conditional_support(self.client)

    @property
    def location(self) -> str:
        prefix = f"/{self.prefix}" if self.prefix else ""
        return f"s3://{self.bucket}{prefix} at {self.endpoint}"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, operation: str, key: str | None = None, **kwargs):
        """Call the client, turning botocore's exceptions into the store's clear ones."""
        import botocore.exceptions as bx

        what = f"{self.location}: {operation}" + (f" {key}" if key else "")
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except (
            bx.EndpointConnectionError,
            bx.ConnectTimeoutError,
            bx.ReadTimeoutError,
            bx.ConnectionClosedError,
        ) as exc:
            raise StoreUnavailable(
                f"{what}: cannot reach the S3 endpoint {self.endpoint} ({exc}); is the "
                "server running and [s3] endpoint_url right?"
            ) from None
        except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
            raise StoreAccessDenied(f"{what}: no usable AWS credentials ({exc}); {CREDENTIALS_HINT}") from None
        except bx.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if (
                status == 412
                or code in ("PreconditionFailed", "ConditionalRequestConflict")
                or (status == 409 and code != "BucketAlreadyExists")
            ):
                raise PreconditionFailed(f"{what}: condition not met ({code})") from None
            if code in DENIED_CODES or status == 403:
                raise StoreAccessDenied(
                    f"{what}: the S3 endpoint {self.endpoint} refused the credentials "
                    f"({code}: {error.get('Message', '')}); {CREDENTIALS_HINT}"
                ) from None
            if code == "NoSuchBucket" or operation == "head_bucket" and status == 404:
                raise StoreError(f"{what}: bucket {self.bucket} does not exist at {self.endpoint}") from None
            if code in ("NoSuchKey", "404") or status == 404:
                raise ObjectNotFound(f"{what}: no such object") from None
            raise StoreError(f"{what}: {code} {error.get('Message', '')}".rstrip()) from None

    @staticmethod
    def _server_time(response: dict) -> float:
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        return email.utils.parsedate_to_datetime(date).timestamp() if date else 0.0

    def _info(self, key: str, response: dict, size: int | None = None) -> ObjectInfo:
        modified = response.get("LastModified")
        return ObjectInfo(
            key=key,
            etag=response["ETag"],
            size=response.get("ContentLength", size or 0),
            metadata=dict(response.get("Metadata", {})),
            last_modified=modified.timestamp() if modified else 0.0,
            observed_at=self._server_time(response),
        )

    def check(self) -> None:
        """Fail early and clearly when the endpoint, the bucket or the credentials are wrong."""
        self._call("head_bucket")

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return self._info(key, self._call("head_object", key, Key=self._key(key)))
        except ObjectNotFound:
            return None

    def get(self, key: str) -> tuple[bytes, ObjectInfo]:
        response = self._call("get_object", key, Key=self._key(key))
        try:
            data = response["Body"].read()
        except Exception as exc:
            raise StoreUnavailable(f"{self.location}: reading {key} failed ({exc})") from None
        return data, self._info(key, response)

    def _put(self, key: str, data: bytes, metadata: dict | None, **condition) -> ObjectInfo:
        response = self._call(
            "put_object",
            key,
            Key=self._key(key),
            Body=data,
            Metadata={k: str(v) for k, v in (metadata or {}).items()},
            **condition,
        )
        # A PUT does not return LastModified; the server's Date is when it was written.
        return ObjectInfo(
            key=key,
            etag=response["ETag"],
            size=len(data),
            metadata=dict(metadata or {}),
            last_modified=self._server_time(response),
            observed_at=self._server_time(response),
        )

    def put_if_absent(self, key: str, data: bytes, metadata: dict | None = None) -> ObjectInfo:
        return self._put(key, data, metadata, IfNoneMatch="*")

    def put_if_match(self, key: str, data: bytes, etag: str, metadata: dict | None = None) -> ObjectInfo:
        return self._put(key, data, metadata, IfMatch=etag)

    def delete(self, key: str, if_match: str | None = None) -> None:
        try:
            self._call("delete_object", key, Key=self._key(key), **({"IfMatch": if_match} if if_match else {}))
        except ObjectNotFound:
            if if_match:
                raise PreconditionFailed(f"{self.location}: {key} vanished; not deleted") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        token = None
        while True:
            extra: dict[str, str] = {"ContinuationToken": token} if token else {}
            response = self._call("list_objects_v2", prefix or None, Prefix=full, **extra)
            keys.extend(item["Key"][strip:] for item in response.get("Contents", []))
            if not response.get("IsTruncated"):
                return iter(sorted(keys))
            token = response["NextContinuationToken"]
