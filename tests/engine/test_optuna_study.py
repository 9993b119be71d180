"""A search's trials as Optuna's (stagecache/experiments/optuna_study.py), on a hand-made study and ledger: the
journal file holds each trial in the state its finished jobs give it, with its values per rung, and is never
written over unless asked to. (A real search served by optuna-dashboard: tests/tasks/test_search_journal.py.)"""

from __future__ import annotations

import os

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from stagecache.experiments import optuna_study
from stagecache.experiments.asha import Ledger
from stagecache.experiments.searches import Dimension, SearchDefinition

DEFINITION = SearchDefinition(
    path="searches/hand.cfg",
    name="hand-made",
    stage="Evaluate",
    objective="val_loss",
    direction="minimize",
    sampler="tpe",
    seed=3,
    trials=4,
    budget_epochs=None,
    batch=2,
    promotion="continue",
    fidelity_family="Train",
    fidelity_key="epochs",
    rungs=[1, 3, 9],
    reduction=3.0,
    space=[
        Dimension("Train", "lr", "loguniform", (0.001, 0.1)),
        Dimension("Train", "hidden", "choice", ("[8]", "[16, 16]")),
        Dimension("Train", "batch_size", "int", (16, 64)),
    ],
)
TRIALS = [
    {"number": 0, "params": {"Train.lr": 0.01, "Train.hidden": "[8]", "Train.batch_size": 32}},
    {"number": 1, "params": {"Train.lr": 0.05, "Train.hidden": "[16, 16]", "Train.batch_size": 16}},
    {"number": 2, "params": {"Train.lr": 0.002, "Train.hidden": "[8]", "Train.batch_size": 64}},
    {"number": 3, "params": {"Train.lr": 0.02, "Train.hidden": "[16, 16]", "Train.batch_size": 40}},
]
# trial 0 reached the last rung; 1 stopped at the first; 2 failed at the second; 3 has no finished job yet
LEDGER = Ledger({(0, 0): 0.9, (1, 0): 1.2, (2, 0): 1.0, (0, 1): 0.5, (2, 1): None, (0, 2): 0.25}, 4)


def load(path) -> optuna.Study:
    return optuna.load_study(study_name=None, storage=optuna.storages.JournalStorage(JournalFileBackend(str(path))))


def test_a_journal_holds_each_trial_in_the_state_its_jobs_give_it(tmp_path):
    path = tmp_path / "hand.journal"
    attrs = {0: {"rung": 2, "epochs": 9}, 2: {"failure": "training loss inf at epoch 2"}}
    states = optuna_study.write_journal(
        str(path), DEFINITION, TRIALS, LEDGER, study_attrs={"objective": "val_loss"}, user_attrs=attrs
    )
    assert states == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 1, "RUNNING": 1}
    study = load(path)
    assert study.study_name == "hand-made" and study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.user_attrs == {"objective": "val_loss"}
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "FAIL", "RUNNING"]
    assert [t.params for t in trials] == [t["params"] for t in TRIALS]
    assert trials[0].distributions["Train.lr"] == optuna.distributions.FloatDistribution(0.001, 0.1, log=True)
    assert trials[0].distributions["Train.hidden"].choices == ("[8]", "[16, 16]")
    assert trials[0].distributions["Train.batch_size"] == optuna.distributions.IntDistribution(16, 64)
    # the value at the last rung for a complete trial only; every finished rung as an intermediate value per epochs
    assert [t.value for t in trials] == [0.25, None, None, None]
    assert [t.intermediate_values for t in trials] == [{1: 0.9, 3: 0.5, 9: 0.25}, {1: 1.2}, {1: 1.0}, {}]
    assert study.best_trial.number == 0
    assert [t.user_attrs for t in trials] == [attrs[0], {}, attrs[2], {}]
    assert sorted(os.listdir(tmp_path)) == ["hand.journal"]  # nothing left beside it


def test_the_sampler_and_the_journal_see_the_same_trials(tmp_path):
    path = tmp_path / "hand.journal"
    optuna_study.write_journal(str(path), DEFINITION, TRIALS, LEDGER)
    memory = optuna_study.new_study(DEFINITION)
    optuna_study.add_trials(memory, DEFINITION, TRIALS, LEDGER)

    def seen(study):
        return [(t.state, t.params, t.values, t.intermediate_values, t.distributions) for t in study.get_trials()]

    assert seen(memory) == seen(load(path)) and len(seen(memory)) == 4


def test_an_existing_journal_is_kept_unless_replace_is_asked(tmp_path):
    path = tmp_path / "hand.journal"
    optuna_study.write_journal(str(path), DEFINITION, TRIALS[:2], LEDGER)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        optuna_study.write_journal(str(path), DEFINITION, TRIALS, LEDGER)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["hand.journal"]
    optuna_study.write_journal(str(path), DEFINITION, TRIALS, LEDGER, replace=True)
    assert len(load(path).get_trials()) == 4 and sorted(os.listdir(tmp_path)) == ["hand.journal"]
