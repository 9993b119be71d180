"""A search on an ``s3://`` root: its study document lives in the bucket beside the artifacts, promotions continue
trainings kept in the store, a rerun trains nothing, and ``search-journal`` exports it from the bucket."""

from __future__ import annotations

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

import tasks
from stagecache.cli.journal import export
from stagecache.experiments.search_task import study_name
from stagecache.storage.roots import configured_root
from tests.tasks.test_search import search_file


def test_a_search_keeps_its_study_in_the_bucket_and_continues_through_the_store(s3pipeline, tmp_path):
    path = search_file(tmp_path, trials=3)
    s3pipeline.build(tasks.Search(file=path))
    assert configured_root().location.startswith("s3://")
    study = configured_root().read_json(study_name("logreg-lr"))
    assert len(study["trials"]) == 3 and study["stages"]
    assert s3pipeline.store.head("searches/logreg-lr.study.json") is not None
    search = tasks.Search(file=path).output().load()
    promoted = [j for j in search["jobs"] if j["rung"] > 0]
    assert promoted and all(j["continued_from"] for j in promoted)  # the shorter training's state, from the bucket
    assert s3pipeline.build(tasks.Search(file=path)) == set()
    journal = tmp_path / "study.journal"
    states = export(tasks.Search(file=path), str(journal))  # what python -m tasks search-journal writes
    assert sum(states.values()) == 3 and states["COMPLETE"] >= 1
    exported = optuna.load_study(study_name="logreg-lr", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert exported.user_attrs["root"].startswith("s3://") and len(exported.trials) == 3
    assert [t.intermediate_values for t in exported.trials] == [
        {int(epochs): value for epochs, value in trial["results"].items()} for trial in search["trials"]
    ]
