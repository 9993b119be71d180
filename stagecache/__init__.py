"""stagecache: an incremental-artifact engine for luigi pipelines.

Each stage is an :class:`stagecache.task.ArtifactTask` whose output is one joblib artifact under a
fingerprint of its code, significant parameters and upstream artifacts, written atomically with a
manifest and loaded only after its checksum matched, in a directory or an S3-compatible bucket
(:mod:`stagecache.roots`). A pipeline declares itself once (:mod:`stagecache.project`); the engine
knows no task family of its own. Importing this package sets nothing up (see docs/engine.md).
"""

__version__ = "0.2.0"
