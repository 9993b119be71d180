"""The engine's command line, run for a pipeline as ``python -m <its DAG module> ...``:

``status [TASK [--param VALUE ...]]``, ``artifacts {list,gc} [TASK]`` and ``search-journal FILE PATH``
(a search's study as an Optuna journal file: :mod:`stagecache.cli.journal`). TASK and its parameters
are given as on luigi's command line: ``status Daily --date 2026-12-01``, ``status Report
--Train-epochs 3``; without one, the project's default task. A configuration or
command-line mistake prints one line per problem and exits with code 3.
"""

from __future__ import annotations

import argparse
import sys

from stagecache.cli.gc import collect_garbage, stored_artifacts, trim_training_states, used_keys
from stagecache.cli.journal import search_journal
from stagecache.cli.listing import list_table, size
from stagecache.configcheck import ConfigError, checked_task, exit_on_config_error
from stagecache.stages.project import current
from stagecache.stages.status import format_plan, plan
from stagecache.stages.task import ArtifactTask
from stagecache.storage.roots import configured_root


def _task_args(args: list[str]) -> list[str]:
    """``[TASK, --param, VALUE, ...]``, with the project's default task when none is named."""
    return args if args and not args[0].startswith("-") else [current().default_task, *args]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run one command; the process's exit code."""
    project = current()
    prog = prog or f"python -m {project.module}"
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="dry run: which stages are cached, which will run and why")
    status.add_argument(
        "task",
        nargs=argparse.REMAINDER,
        help=f"TASK [--param VALUE ...] as on luigi's command line (default {project.default_task})",
    )
    arts = commands.add_parser("artifacts", help="list stored artifacts or remove unused ones")
    arts.add_argument("action", choices=["list", "gc"])
    arts.add_argument(
        "task",
        nargs="?",
        default=project.default_task,
        help=f"the stage whose DAG counts as in use (default {project.default_task})",
    )
    arts.add_argument("--keep", type=int, default=1, help="unused artifacts to keep per task (newest first)")
    arts.add_argument("--dry-run", action="store_true", help="only print what gc would remove")
    journal = commands.add_parser(
        "search-journal",
        help="write a search's study as an Optuna journal file, for optuna-dashboard (exit 25: no study yet)",
    )
    journal.add_argument("file", help="the search file (searches/NAME.cfg)")
    journal.add_argument("path", help="the journal file to write; then: optuna-dashboard PATH")
    journal.add_argument(
        "--replace",
        action="store_true",
        help="replace PATH if it exists, in one rename (restart a dashboard serving it)",
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["status"] and not {"-h", "--help"} & set(argv[1:]):
        args, task_args = argparse.Namespace(command="status"), _task_args(argv[1:])  # luigi's parser reads them
    else:
        args = parser.parse_args(argv)
        if args.command == "search-journal":
            return search_journal(args.file, args.path, replace=args.replace)
        task_args = [args.task]

    if args.command == "artifacts" and args.keep < 0:
        with exit_on_config_error(always=True):
            raise ConfigError([f"--keep: must be an integer >= 0 (unused artifacts kept per stage), got {args.keep}"])
    with exit_on_config_error(always=True), checked_task(task_args) as root_task:
        if not isinstance(root_task, ArtifactTask):
            raise ConfigError(
                [
                    f"{args.command} takes a pipeline stage ({', '.join(project.task_names())}), "
                    f"not {root_task.get_task_family()}"
                ]
            )
        if args.command == "status":
            print(format_plan(plan(root_task)))
            return 0
        root = configured_root()
        try:
            items = stored_artifacts(root)
        except ValueError as exc:  # an unreadable champion or report: gc must not guess what it refers to
            raise SystemExit(f"error: {exc}") from None
        used = used_keys(root_task)
    if args.action == "list":
        print(list_table(items, used))
        return 0
    removed, busy = collect_garbage(root, items, used, keep=args.keep, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for item in removed:
        print(f"{verb} {item.family}/{item.fingerprint}")
    for item in busy:
        print(f"skipped {item.family}/{item.fingerprint}: {item.busy}")
    print(f"{verb} {len(removed)} artifact(s)" + (f"; skipped {len(busy)} in use" if busy else ""))
    trimmed, _ = trim_training_states(root, items, used, removed, dry_run=args.dry_run)
    for item in trimmed:
        print(
            f"{'would drop' if args.dry_run else 'dropped'} the training state of {item.family}/{item.fingerprint} "
            f"({size(item.checkpoint_bytes)}): the configuration no longer uses it"
        )
    return 0
