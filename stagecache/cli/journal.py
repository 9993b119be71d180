"""``python -m <dag> search-journal searches/NAME.cfg PATH``: a search's study as an Optuna journal file, which
``optuna-dashboard PATH`` serves.

It reads what the artifact root in effect holds (a directory or an ``s3://`` bucket): the study document and the
trial stages' artifacts; it builds and changes nothing there. The journal is a snapshot: export again once the
search has gone on (``--replace``), and restart a dashboard that serves the old file (it reads a journal on from
where it was). Its study is named after the search, in the search's direction; its trials are those Optuna's
sampler is asked over (:mod:`stagecache.experiments.optuna_study`), with user attributes saying the rung each
reached, the fidelity there, the artifact that holds its objective and why it failed.

Exit codes: 0 written; 3 a bad search file or configuration, or ``PATH`` exists (``--replace`` replaces it in one
rename) or cannot be written; 25 the search has no study in the root yet.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from stagecache.configcheck import ConfigError, check_files, exit_on_config_error
from stagecache.experiments import optuna_study
from stagecache.experiments.point_jobs import failure_of
from stagecache.experiments.search_task import SearchTask, search_class, study_name
from stagecache.experiments.searches import read_search
from stagecache.stages.project import current
from stagecache.stages.task import fingerprint_scope
from stagecache.storage.roots import configured_root

NOT_STARTED_EXIT = 25  # luigi's [retcode] not_run: what is asked for has not been built (as compare's)


class NotStarted(LookupError):
    """The search has no study in the artifact root; the message names the command that starts it."""


def export(task: SearchTask, path: str, *, replace: bool = False) -> Counter:
    """Write ``task``'s study as a journal file at ``path``; the number of trials in each of Optuna's states.
    :class:`NotStarted` when the root holds no study of it; :class:`ConfigError` when ``path`` exists (and not
    ``replace``) or cannot be written."""
    d = task.definition
    root = configured_root()
    study = root.read_json(study_name(d.name))
    if study is None:
        raise NotStarted(
            f"{task.file}: the search {d.name} has no study in {root.location} yet: run "
            f"luigi --module {current().module} {task.get_task_family()} --file {task.file}"
        )
    ledger, _ = task.results(study)
    attrs: dict[int, dict] = {}
    with fingerprint_scope():
        for number, trial in enumerate(study["trials"]):
            reached = ledger.of(number)
            found: dict = {}
            if reached:
                rung = max(reached)
                job = task.job_root(trial, rung)
                found = {
                    "rung": rung,
                    d.fidelity_key: d.rungs[rung],
                    "artifact": f"{job.get_task_family()}/{job.fingerprint()[:16]}",
                }
                if reached[rung] is None:
                    error = (failure_of(job) or {}).get("error") or "no finite objective"
                    found["failure"] = str(error).splitlines()[0]
            attrs[number] = {**found, **task.trial_attrs(number)}
    try:
        return optuna_study.write_journal(
            path,
            d,
            study["trials"],
            ledger,
            study_attrs={
                "file": task.file,
                "stage": d.stage,
                "objective": d.objective,
                "fidelity": f"{d.fidelity_family}.{d.fidelity_key}",
                "rungs": d.rungs,
                "reduction": d.reduction,
                "sampler": d.sampler,
                "seed": d.seed,
                "root": root.location,
                "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            },
            user_attrs=attrs,
            replace=replace,
        )
    except FileExistsError:
        raise ConfigError(
            [f"{path} exists: name another file, or pass --replace to replace it (the journal is a snapshot)"]
        ) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot write the journal: {exc.strerror or exc}"]) from None


def search_journal(file: str, path: str, *, replace: bool = False) -> int:
    """The command: write the study of the search in ``file`` as a journal at ``path``; the exit code."""
    with exit_on_config_error(always=True):
        problems = check_files()
        if problems:
            raise ConfigError(problems)
        read_search(file)  # one line per mistake, naming the file and line
        try:
            cls: Any = search_class()  # luigi's parameters are keyword arguments that mypy does not see
            task: SearchTask = cls(file=file)
            task.validate()  # refuses a study started from another definition (luigi may reuse an instance)
        except (LookupError, ValueError) as exc:  # no search task; a stage's range check at the space's corner
            raise ConfigError([f"{file}: {str(exc).splitlines()[0]}"]) from None
        try:
            states = export(task, path, replace=replace)
        except NotStarted as exc:
            sys.stderr.write(f"not started: {exc}\n")
            return NOT_STARTED_EXIT
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
    print(
        f"wrote {path}: study {task.definition.name}, {sum(states.values())} trials ({counts or 'none'}); "
        f"serve it with: optuna-dashboard {path}"
    )
    return 0
