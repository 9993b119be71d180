"""Object stores for artifacts: the :class:`Store` interface, served by an S3-compatible bucket.

``open_store(root)`` / ``store_from_config()`` open the store of an ``s3://`` root (boto3, the ``s3``
extra, is imported only then); :mod:`stagecache.storage.stores.publish` (object, then manifest as commit
marker), :mod:`stagecache.storage.stores.leases` (build once across hosts) and :mod:`stagecache.storage.stores.cas`
(champions, history) work on any store. A directory root is no store: see :mod:`stagecache.storage.roots`.
"""

from stagecache.storage.stores.base import (
    IntegrityError,
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    Store,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
)
from stagecache.storage.stores.config import StoreConfigError, open_store, parse_root, store_from_config

__all__ = [
    "IntegrityError",
    "ObjectInfo",
    "ObjectNotFound",
    "PreconditionFailed",
    "Store",
    "StoreAccessDenied",
    "StoreError",
    "StoreUnavailable",
    "StoreConfigError",
    "open_store",
    "parse_root",
    "store_from_config",
]
