"""Command line: ``python -m tasks status [TASK [--param VALUE ...]]`` and ``python -m tasks artifacts {list,gc}``.

TASK and its parameters are given as on luigi's command line: ``status Retrain --date
2026-12-01``, ``status FullReport --TrainDeepMLP-epochs 3``. A configuration or
command-line mistake prints one line per problem and exits with code 3.
"""
from __future__ import annotations

import argparse
import sys

import tasks  # registers the task classes
from tasks.config import artifacts as artifacts_config
from tasks.base import ArtifactTask
from tasks.configcheck import ConfigError, checked_task, exit_on_config_error
from tasks.housekeeping import collect_garbage, list_table, stored_artifacts, used_keys
from tasks.status import format_plan, plan


def _task_args(args: list[str]) -> list[str]:
    """``[TASK, --param, VALUE, ...]``, with FullReport when no task is named."""
    return args if args and not args[0].startswith("-") else ["FullReport", *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="dry run: which stages are cached, which will run and why")
    status.add_argument("task", nargs=argparse.REMAINDER,
                        help="TASK [--param VALUE ...] as on luigi's command line (default FullReport)")
    arts = commands.add_parser("artifacts", help="list stored artifacts or remove unused ones")
    arts.add_argument("action", choices=["list", "gc"])
    arts.add_argument("task", nargs="?", default="FullReport",
                      help="the stage whose DAG counts as in use (default FullReport)")
    arts.add_argument("--keep", type=int, default=1, help="unused artifacts to keep per task (newest first)")
    arts.add_argument("--dry-run", action="store_true", help="only print what gc would remove")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["status"] and not {"-h", "--help"} & set(argv[1:]):
        args, task_args = argparse.Namespace(command="status"), _task_args(argv[1:])  # luigi's parser reads them
    else:
        args = parser.parse_args(argv)
        task_args = [args.task]

    with exit_on_config_error(always=True), checked_task(task_args) as root_task:
        if not isinstance(root_task, ArtifactTask):
            raise ConfigError([f"{args.command} takes a pipeline stage ({', '.join(tasks.__all__)}), "
                               f"not {root_task.get_task_family()}"])
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
