"""``python -m tasks compare``: the parameters that differ and every metric, side by side, for the points of a
sweep or for two or more configuration files (like ``dvc params diff`` + ``metrics diff``).

    python -m tasks compare sweeps/deep-epochs.cfg [--sort "TrainDeepMLP val_accuracy"] [--md | --csv]
    python -m tasks compare searches/smoke-deep.cfg
    python -m tasks compare configs/smoke.cfg my-experiment.cfg

A sweep or a search (each trial at the highest rung it reached) is read from its built artifact (``luigi --module tasks Sweep --file ...`` first); a configuration
file from the artifacts that configuration built (``LUIGI_CONFIG_PATH=FILE luigi --module tasks FullReport``).
Nothing is built here. Exit codes: 0, 3 (a bad file or flag), 25 (something to compare is not built yet).
"""

from __future__ import annotations

import argparse
import configparser
import sys

from stagecache import current, read_sweep
from stagecache.configcheck import ConfigError, exit_on_config_error
from stagecache.configcheck.files import read_text

NOT_BUILT_EXIT = 25  # luigi's [retcode] not_run: what is asked for has not been built


class NotBuilt(LookupError):
    """Something to compare has no artifact yet; the message names the command that builds it."""


def _is_sweep(path: str) -> bool:
    """A sweep file or a search file (either is compared alone)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return True  # read_sweep reports what is wrong with it
    return parser.has_section("sweep") or parser.has_section("search")


def _is_search(path: str) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return False
    return parser.has_section("search")


def search_points(path: str) -> list[dict]:
    """One point per trial of a built search that gave a result, at the highest rung it reached."""
    from pipeline.experiments.points import summarize_point
    from stagecache import read_search
    from tasks.pages import point_artifacts
    from tasks.report import MODELS
    from tasks.search import Search

    read_search(path)  # one line per mistake, before anything else
    task = Search(file=path)
    if not task.output().exists():
        raise NotBuilt(f"the search in {path} is not built: run luigi --module tasks Search --file {path}")
    found = []
    for trial in task.output().load()["trials"]:
        if trial["state"] == "failed":
            continue
        trained, evaluated, _ = point_artifacts(task.job_root(trial, trial["rung"]))
        found.append(summarize_point(f"trial {trial['number']}", trial["values"], trained, evaluated, models=MODELS))
    return found


def sweep_points(path: str) -> list[dict]:
    """The point summaries of a built sweep."""
    from tasks.sweep import Sweep

    read_sweep(path, current().default_task)  # one line per mistake, before anything else
    task = Sweep(file=path)
    if not task.output().exists():
        raise NotBuilt(f"the sweep in {path} is not built: run luigi --module tasks Sweep --file {path}")
    return task.output().load()["points"]


def configuration_point(path: str) -> dict:
    """The summary of what the configuration ``luigi.cfg`` + ``path`` built (its FullReport's stages)."""
    from pipeline.experiments.points import summarize_point
    from stagecache import configuration, walk
    from tasks.report import EVALUATIONS, MODELS, TRAININGS, FullReport
    from tasks.train import TrainMoonsMLP

    with configuration(path):
        report = FullReport()
        stages = {t.get_task_family(): t for t in walk(report)}
        missing = [f for f, t in stages.items() if f != "FullReport" and not t.output().exists()]
        if missing:
            raise NotBuilt(
                f"{path}: {', '.join(missing)} not built: run LUIGI_CONFIG_PATH={path} luigi --module tasks FullReport"
            )
        params = {f"{f}.{k}": v for f, t in stages.items() for k, v in t.params_dict(significant_only=True).items()}
        trained = {f: stages[f].output().load() for f in TRAININGS}
        evaluated = {f: stages[e.get_task_family()].output().load() for f, e in EVALUATIONS.items()}
        moons = stages[TrainMoonsMLP.get_task_family()].output().load()
        return summarize_point(path, params, trained, evaluated, moons, models=MODELS)


def main(argv: list[str]) -> int:
    from pipeline.experiments.compare import (
        default_sort,
        diff_configurations,
        differing_metrics,
        format_csv,
        format_markdown,
        format_text,
        table,
    )
    from tasks.report import MODELS

    parser = argparse.ArgumentParser(
        prog="python -m tasks compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", help="one sweep file, or two or more configuration files")
    parser.add_argument("--sort", help="the metric to sort by (best first)")
    parser.add_argument(
        "--all", action="store_true", help="also the metrics equal in every row (left out of a sweep's table otherwise)"
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--md", action="store_true", help="a Markdown table")
    form.add_argument("--csv", action="store_true", help="comma-separated values")
    args = parser.parse_args(argv)
    with exit_on_config_error(always=True):
        for path in args.files:  # a missing file, or one that is not UTF-8: one line naming it
            read_text(path, "file")
        sweeps = [f for f in args.files if _is_sweep(f)]
        if sweeps and len(args.files) > 1:
            raise ConfigError(
                [f"{sweeps[0]}: compare takes one sweep or search file, or two or more configuration files"]
            )
        if not sweeps and len(args.files) < 2:
            raise ConfigError([f"{args.files[0]}: a configuration file is compared with another: name two or more"])
        try:
            if sweeps:
                found = search_points(sweeps[0]) if _is_search(sweeps[0]) else sweep_points(sweeps[0])
            else:
                found = [configuration_point(f) for f in args.files]
        except NotBuilt as exc:
            sys.stderr.write(f"not built: {exc}\n")
            return NOT_BUILT_EXIT
        try:
            sort_by = args.sort or default_sort(found, models=MODELS)
            metrics = None if args.all else differing_metrics(found, keep=sort_by, models=MODELS)
            rows = (
                table(found, sort_by=sort_by, metrics=metrics, models=MODELS)
                if sweeps
                else diff_configurations(found, models=MODELS)
            )
        except ValueError as exc:
            raise ConfigError([f"--sort: {exc}"]) from None
    print((format_markdown if args.md else format_csv if args.csv else format_text)(rows), end="")
    for point in found:
        if point.get("failed"):  # on stderr: the table on stdout stays machine-readable (--csv, --md)
            sys.stderr.write(f"failed: {point['label']}: {point['failed']['why']} ({point['failed']['record']})\n")
    return 0
