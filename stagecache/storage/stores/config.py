"""The store an ``[artifacts] root`` names, opened with ``[s3]`` and ``[object_store]`` (:mod:`stagecache.core.settings`)."""

from __future__ import annotations

from pathlib import Path

import luigi

from stagecache.core.settings import artifacts, object_store, s3
from stagecache.storage.stores.base import Store

#: Keys of ``[s3]`` that luigi's own S3 client accepts but this project refuses: secrets stay out of luigi.cfg.
CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_role_arn",
    "aws_role_session_name",
)


class StoreConfigError(ValueError):
    """A wrong ``[artifacts] root`` or ``[s3]`` setting."""


def parse_root(root: str) -> tuple[str, str, str]:
    """``("s3", bucket, prefix)`` for ``s3://bucket/prefix``, ``("local", path, "")`` for a path."""
    root = root.strip()
    if not root:
        raise StoreConfigError("[artifacts] root is empty: give a directory or s3://bucket/prefix")
    scheme, sep, rest = root.partition("://")
    if not sep:
        return "local", root, ""
    if scheme.lower() != "s3":
        raise StoreConfigError(
            f"[artifacts] root {root!r}: unsupported scheme {scheme!r}; use a directory or s3://bucket/prefix"
        )
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StoreConfigError(f"[artifacts] root {root!r} names no bucket: use s3://bucket/prefix")
    return "s3", bucket, prefix.strip("/")


def open_store(
    root: str, *, endpoint_url: str = "", region_name: str = "", cache_dir: Path | str | None = None
) -> Store:
    """The :class:`S3Store` of ``s3://bucket/prefix``. A directory is no store: :mod:`stagecache.storage.roots` opens it
    as a directory root."""
    kind, where, prefix = parse_root(root)
    if kind == "local":
        raise StoreConfigError(f"[artifacts] root {root!r} is a directory, not an object store (s3://bucket/prefix)")
    try:
        import boto3  # noqa: F401 -- only here: a directory root never needs it
    except ImportError:
        raise StoreConfigError(
            f"[artifacts] root {root!r} needs boto3, which is not installed: pip install 'stagecache[s3]' "
            "(the engine's s3 extra)"
        ) from None
    from stagecache.storage.stores.s3 import S3Store

    try:
        return S3Store(where, prefix, endpoint_url=endpoint_url, region_name=region_name, cache_dir=cache_dir)
    except ValueError as exc:
        raise StoreConfigError(f"[artifacts] root {root!r}: {exc}") from None


def store_from_config() -> Store:
    """The store of ``[artifacts] root``, with ``[s3]`` and ``[object_store]`` applied."""
    parser = luigi.configuration.get_config()
    leaked = [k for k in CREDENTIAL_KEYS if parser.has_option("s3", k)]
    if leaked:
        raise StoreConfigError(
            f"[s3] {', '.join(leaked)}: credentials are never read from luigi.cfg; remove them and use "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    settings = s3()
    return open_store(
        artifacts().root,
        endpoint_url=settings.endpoint_url,
        region_name=settings.region_name,
        cache_dir=Path(object_store().cache_dir).expanduser(),
    )
