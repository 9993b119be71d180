"""Command line: ``python -m tasks status [TASK]`` and ``python -m tasks artifacts {list,gc}``."""
from __future__ import annotations

import argparse
import sys

from luigi.task_register import Register, TaskClassNotFoundException

import tasks  # noqa: F401 -- registers the task classes
from tasks.config import artifacts as artifacts_config
from tasks.housekeeping import collect_garbage, list_table, stored_artifacts, used_keys
from tasks.status import format_plan, plan


def _root_task(name: str):
    try:
        return Register.get_task_cls(name)()
    except TaskClassNotFoundException as exc:
        raise SystemExit(f"unknown task {name!r}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="dry run: which stages are cached, which will run and why")
    status.add_argument("task", nargs="?", default="FullReport")
    arts = commands.add_parser("artifacts", help="list stored artifacts or remove unused ones")
    arts.add_argument("action", choices=["list", "gc"])
    arts.add_argument("task", nargs="?", default="FullReport",
                      help="the stage whose DAG counts as in use (default FullReport)")
    arts.add_argument("--keep", type=int, default=1, help="unused artifacts to keep per task (newest first)")
    arts.add_argument("--dry-run", action="store_true", help="only print what gc would remove")
    args = parser.parse_args(argv)

    root_task = _root_task(args.task)
    if args.command == "status":
        print(format_plan(plan(root_task)))
        return 0
    try:
        items = stored_artifacts(artifacts_config().root)
    except ValueError as exc:  # an unreadable champion or report: gc must not guess what it refers to
        raise SystemExit(f"error: {exc}") from None
    used = used_keys(root_task)
    if args.action == "list":
        print(list_table(items, used))
        return 0
    removed = collect_garbage(items, used, keep=args.keep, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for item in removed:
        print(f"{verb} {item.family}/{item.stem}")
    print(f"{verb} {len(removed)} artifact(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
