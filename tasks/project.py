"""This pipeline, declared to the engine (:mod:`stagecache.stages.project`): its DAG module, default task, the
code fingerprints hash, what cannot change a result, what gc keeps, and the loggers to format.

Result-neutral itself: it declares, it computes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from stagecache import KeptArtifacts, Project

if TYPE_CHECKING:
    from stagecache.storage.roots import Root

CHAMPION, HISTORY, REPORT = "champion", "history", "report"
SCHEDULED_DAY = "scheduled day"

# The one place that declares project code result-neutral: left out of every fingerprint, with the reason.
# (The engine, stagecache, is a library: none of it is hashed; see docs/engine.md.)
RESULT_NEUTRAL = {
    "pipeline.compile": "chooses how graphs are compiled (the [pytensor] backend, itself a cosmetic setting), "
    "caches compiled work (JAX's XLA executables, PyTensor's rewritten graphs, both checked "
    "before use) and records what compiling cost; the numbers a model computes are defined "
    "by the model modules' graphs, not by it (tests: a warm start computes what a cold one "
    "did to the last bit; the jax and numba backends train the same model)",
    "tasks.compiling": "opens the compile layer's caches for a stage and collects its compile records: "
    "compile machinery, like pipeline.compile",
    "tasks.project": "declares this pipeline to the engine (names, keep rules, these reasons): it computes nothing",
    "tasks.published": "names and reads what the pipeline publishes (report, champions, history) through the "
    "engine's root; the stages that decide from it hash pipeline.champions and the report code",
}


def _key(family: str, fingerprint: str) -> tuple[str, str]:
    return family, fingerprint[:16]


def _read_json(root: Root, name: str) -> dict:
    try:
        data = json.loads(root.read_file(name) or b"")
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{root.link(name)} cannot be read ({exc}); gc removes nothing while it cannot tell what "
            f"it refers to: repair or move the file"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{root.link(name)} is not a JSON object; gc removes nothing while it cannot tell what it refers to"
        )
    return data


def references(root: Root) -> KeptArtifacts:
    """(family, fingerprint prefix) -> why it must be kept: champion, history and/or report.

    Champions name their training and evaluation artifacts; history records name the model
    trained (``model``, ``fingerprint``) and, since decisions are taken one day at a time, the
    training and evaluation artifacts they judged (``artifacts``); the published report names every stage it was built
    from and its own artifact. An unreadable champion or report raises ``ValueError`` (gc must
    not guess); a history line cut short by a crash is skipped.
    """
    from stagecache.storage.roots import parse_reference
    from tasks.published import CHAMPIONS, PROVENANCE, parse_history
    from tasks.published import HISTORY as HISTORY_FILE
    from tasks.published import REPORT as REPORT_DIR
    from tasks.search import INDEX as SEARCH_INDEX
    from tasks.search import SEARCHES
    from tasks.sweep import INDEX as SWEEP_INDEX

    kept: KeptArtifacts = {}

    def keep(key: tuple[str, str], why: str) -> None:
        kept.setdefault(key, set()).add(why)

    for name in root.list_files(CHAMPIONS, ".json"):
        champion = _read_json(root, name)
        for field in ("artifact", "evaluation"):
            if champion.get(field):
                keep(parse_reference(champion[field]), CHAMPION)
        if champion.get("model") and champion.get("fingerprint"):
            keep(_key(champion["model"], champion["fingerprint"]), CHAMPION)
    history = root.read_log(HISTORY_FILE)
    for record in parse_history(history.decode(errors="replace"), root.link(HISTORY_FILE)):
        if record.get("model") and record.get("fingerprint"):
            keep(_key(record["model"], record["fingerprint"]), HISTORY)
        artifacts = record.get("artifacts")
        for reference in artifacts.values() if isinstance(artifacts, dict) else ():
            if isinstance(reference, str) and reference:
                keep(parse_reference(reference), HISTORY)
    for name in root.list_files(SEARCHES, ".study.json"):  # a search's study, finished or not
        study = _read_json(root, name)
        for family, stem in study.get("stages", []):
            keep((family, stem), f"search {name.rsplit('/', 1)[-1].removesuffix('.study.json')}")
    for kind, index_name in (("sweep", SWEEP_INDEX), ("search", SEARCH_INDEX)):
        if root.read_file(index_name) is not None:
            for name, published_ in _read_json(root, index_name).items():
                for family, stem in published_.get("stages", []) if isinstance(published_, dict) else []:
                    keep((family, stem), f"{kind} {name}")
    provenance = f"{REPORT_DIR}/{PROVENANCE}"
    if root.read_file(provenance) is not None:
        report = _read_json(root, provenance)
        if report.get("fingerprint"):
            keep(_key("FullReport", report["fingerprint"]), REPORT)
        for stage in report.get("stages", []):
            if stage.get("task") and stage.get("fingerprint"):
                keep(_key(stage["task"], stage["fingerprint"]), REPORT)
    return kept


def not_families() -> set[str]:
    """Names under the root that hold no artifacts: the published report and champions, the compile cache."""
    from tasks.config import pytensor
    from tasks.published import CHAMPIONS, REPORTS
    from tasks.published import REPORT as REPORT_DIR
    from tasks.search import SEARCHES
    from tasks.sweep import SWEEPS

    names = {REPORT_DIR, REPORTS, CHAMPIONS, SWEEPS, SEARCHES}
    cache = pytensor().compile_cache_dir()
    if cache is not None:
        names.add(Path(cache).name)
    return names


PROJECT = Project(
    module="tasks",
    default_task="FullReport",
    code_packages=("pipeline", "tasks"),
    result_neutral=RESULT_NEUTRAL,
    loggers=("pipeline", "tasks"),
    not_families=not_families,
    references=references,
    # A dated stage's artifact holds what its day's check found and what the run decided (whether a day
    # ran is history.jsonl's to say: Retrain.complete reads it); gc keeps every one (a few KiB each).
    always_kept={"Retrain": SCHEDULED_DAY, "CheckSources": SCHEDULED_DAY},
    # What the training, evaluation and report stages import inside run() (PyTensor, JAX's dispatch, matplotlib:
    # about 1.5 s of CPU per process): imported once before luigi forks the stages of a --workers N run.
    preload=(
        "pipeline.models.logreg",
        "pipeline.models.mlp",
        "pipeline.models.deep_mlp",
        "pipeline.models.char_rnn",
        "pipeline.models.moons",
        "pipeline.evaluate.classifier",
        "pipeline.evaluate.char_rnn",
        "pipeline.compile.backend",
        "pytensor.link.jax.dispatch",
        "pipeline.report.build",
    ),
)
