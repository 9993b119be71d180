"""A training that diverged, remembered beside its artifact, so that a retry of the same configuration
fails at once instead of training into the same NaN again.

The record (``<Family>/<fingerprint>.diverged.json`` in either kind of root) is keyed by the
fingerprint of the artifact the run was building: any change of a significant parameter, an
upstream artifact or the code gives a new fingerprint, and that configuration trains normally.
Deleting the record allows one more try; ``artifacts gc`` never removes one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from stagecache.storage.roots import ArtifactTarget

log = logging.getLogger(__name__)


class DivergedBeforeError(RuntimeError):
    """This stage's configuration diverged in an earlier run; it is not trained again."""


def write_record(target: ArtifactTarget, *, task: str, params: dict, error) -> str:
    """Store the record of ``error`` (an exception with ``epoch`` and ``loss``) for ``target``; where it went."""
    record = {
        "task": task,
        "fingerprint": target.stem.rpartition("/")[2],
        "epoch": getattr(error, "epoch", None),
        "loss": str(getattr(error, "loss", "")),  # nan and inf are not JSON numbers
        "error": str(error),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "params": params,
    }
    where = target.write_divergence(record)
    log.warning("%s: recorded the divergence in %s; a retry of this configuration will fail at once", task, where)
    return where


def describe(record: dict) -> str:
    """``epoch 1, loss nan, 2026-01-30T06:00:00+00:00`` (or why the record is unreadable)."""
    if "unreadable" in record:
        return f"unreadable record: {record['unreadable']}"
    return f"epoch {record.get('epoch', '?')}, loss {record.get('loss', '?')}, {record.get('time', '?')}"


def refusal(task: str, target: ArtifactTarget, record: dict) -> DivergedBeforeError:
    """The one-line error that a retry of a diverged configuration fails with."""
    return DivergedBeforeError(
        f"{task}: this configuration diverged in an earlier run ({describe(record)}; "
        f"recorded in {target.divergence_location}); not building it again: change a significant parameter "
        f"(or the code it runs), or delete that record to force a retry"
    )
