"""Bytes on disk and in buckets: atomic files, manifests, checkpoints, artifact roots, object stores."""
