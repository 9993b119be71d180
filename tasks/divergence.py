"""A training that diverged, remembered beside its artifact, so that a retry of the same configuration
fails at once instead of training into the same NaN again.

The record ``<Family>/<fingerprint>.diverged.json`` is keyed by the fingerprint of the artifact the
run was building: any change of a significant parameter, an upstream artifact or the code gives a
new fingerprint, and that configuration trains normally. Deleting the record allows one more try.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from tasks import storage

log = logging.getLogger(__name__)
SUFFIX = ".diverged.json"


class DivergedBeforeError(RuntimeError):
    """This stage's configuration diverged in an earlier run; it is not trained again."""


def record_path(artifact_path: Path) -> Path:
    """The divergence record beside artifact ``<fingerprint>.joblib``."""
    return Path(artifact_path).with_suffix(SUFFIX)


def read_record(artifact_path: Path) -> dict | None:
    """The divergence record of an artifact, or None when there is none.

    A record that cannot be parsed (edited by hand, say) still counts: it is returned as
    ``{"unreadable": reason}`` rather than silently allowing the retry.
    """
    path = record_path(artifact_path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"unreadable": str(exc)}
    try:
        record = json.loads(text)
    except ValueError as exc:
        return {"unreadable": str(exc)}
    return record if isinstance(record, dict) else {"unreadable": "not a JSON object"}


def write_record(artifact_path: Path, *, task: str, fingerprint: str, params: dict, error) -> Path:
    """Atomically write the record of ``error`` (a ``TrainingDivergedError``); its path."""
    path = record_path(artifact_path)
    record = {
        "task": task,
        "fingerprint": fingerprint,
        "epoch": getattr(error, "epoch", None),
        "loss": str(getattr(error, "loss", "")),  # nan and inf are not JSON numbers
        "error": str(error),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "params": params,
    }
    storage.atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    log.warning("%s: recorded the divergence in %s; a retry of this configuration will fail at once", task, path)
    return path


def describe(record: dict) -> str:
    """``epoch 1, loss nan, 2026-01-30T06:00:00+00:00`` (or why the record is unreadable)."""
    if "unreadable" in record:
        return f"unreadable record: {record['unreadable']}"
    return f"epoch {record.get('epoch', '?')}, loss {record.get('loss', '?')}, {record.get('time', '?')}"


def refusal(task: str, artifact_path: Path, record: dict) -> DivergedBeforeError:
    """The one-line error that a retry of a diverged configuration fails with."""
    return DivergedBeforeError(
        f"{task}: this configuration diverged in an earlier run ({describe(record)}; "
        f"recorded in {record_path(artifact_path)}); not training it again: change lr, seed or another "
        f"parameter, or delete that file to force a retry")
