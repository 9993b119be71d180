"""Object stores for artifacts: a local directory or an S3-compatible bucket, one interface.

``open_store(root)`` / ``store_from_config()`` pick the store; :mod:`stagecache.stores.publish`
(object, then manifest as commit marker), :mod:`stagecache.stores.leases` (build once across
hosts) and :mod:`stagecache.stores.cas` (champions, history) work on either.
"""

from stagecache.stores.base import (
    IntegrityError,
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    Store,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
)
from stagecache.stores.config import StoreConfigError, open_store, parse_root, store_from_config

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
