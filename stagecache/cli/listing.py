"""``artifacts list``: a table of what a root stores, whether the configuration uses it, and why gc keeps it."""

from __future__ import annotations

from datetime import datetime, timezone

from stagecache.storage.roots import StoredArtifact


def age(created: str) -> str:
    """``3d``, ``5h``, ``12m`` or ``40s`` since an ISO timestamp (``?`` when unknown)."""
    if not created:
        return "?"
    seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(created)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def size(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ... ``2.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def list_table(items: list[StoredArtifact], used: set[tuple[str, str]]) -> str:
    """A table of artifacts: task, fingerprint, size, of that the training state kept for a longer build to
    continue from (its checkpoints), age, whether the configuration uses it, and what refers to it (why gc keeps
    it whatever ``--keep`` says)."""
    lines = [f"{'TASK':<20}  {'FINGERPRINT':<16}  {'SIZE':>10}  {'STATE':>10}  {'AGE':>5}  {'USED':<10}  KEPT BECAUSE"]
    for item in sorted(items, key=lambda i: (i.family, i.created)):
        key = (item.family, item.fingerprint)
        state = "yes" if key in used else "no" if item.manifest else "diverged" if item.diverged else "incomplete"
        why = " / ".join(sorted(item.kept | ({item.busy} if item.busy else set())))
        state_size = size(item.checkpoint_bytes) if item.checkpoint_names else "-"
        lines.append(
            f"{item.family:<20}  {item.fingerprint[:16]:<16}  {size(item.bytes):>10}  {state_size:>10}  "
            f"{age(item.created):>5}  {state:<10}  {why}".rstrip()
        )
    return "\n".join(lines)
