"""The search page on a made-up search artifact: the best trial and what it was chosen on, the best-so-far
curve, the parameter importances, the rungs and the trials, and how it lays out in Chromium."""

import pytest

from pipeline.experiments.search_report import (
    best_so_far,
    build_search_report,
    importance_table,
    rung_rows,
    slice_points,
)
from tests import chromium


def made_up_search() -> dict:
    """Four trials on rungs 1, 3, 9: trial 1 reaches the last rung, trial 3 failed, the rest stopped early."""
    jobs = [
        {"trial": 0, "rung": 0, "value": 0.80, "seconds": 2.0, "epochs_trained": 1, "continued_from": None},
        {"trial": 1, "rung": 0, "value": 0.85, "seconds": 2.0, "epochs_trained": 1, "continued_from": None},
        {"trial": 2, "rung": 0, "value": 0.70, "seconds": 2.0, "epochs_trained": 1, "continued_from": None},
        {"trial": 3, "rung": 0, "value": None, "seconds": 1.0, "epochs_trained": 1, "continued_from": None},
        {"trial": 1, "rung": 1, "value": 0.90, "seconds": 3.0, "epochs_trained": 2, "continued_from": 1},
        {"trial": 1, "rung": 2, "value": 0.88, "seconds": 9.0, "epochs_trained": 6, "continued_from": 3},
    ]
    trial = {"state": "stopped early", "failure": None}
    return {
        "name": "made-up",
        "file": "searches/made-up.cfg",
        "objective": "val_accuracy",
        "direction": "maximize",
        "sampler": "tpe",
        "seed": 0,
        "fidelity": {"parameter": "TrainDeepMLP.epochs", "rungs": [1, 3, 9], "reduction": 3.0},
        "space": [
            {"name": "TrainDeepMLP.lr", "kind": "loguniform", "values": [0.0001, 0.01]},
            {"name": "TrainDeepMLP.hidden", "kind": "choice", "values": ["[256, 256]", "[625, 625]"]},
        ],
        "budget": {"trials": 4, "budget_epochs": None, "trials_used": 4, "epochs_used": 12},
        "trials": [
            {
                **trial,
                "number": 0,
                "values": {"TrainDeepMLP.lr": "0.00123456789", "TrainDeepMLP.hidden": "[256, 256]"},
                "results": {"1": 0.8},
            },
            {
                **trial,
                "number": 1,
                "values": {"TrainDeepMLP.lr": "0.002", "TrainDeepMLP.hidden": "[625, 625]"},
                "results": {"1": 0.85, "3": 0.9, "9": 0.88},
                "state": "finished",
            },
            {
                **trial,
                "number": 2,
                "values": {"TrainDeepMLP.lr": "0.0001", "TrainDeepMLP.hidden": "[625, 625]"},
                "results": {"1": 0.7},
            },
            {
                **trial,
                "number": 3,
                "values": {"TrainDeepMLP.lr": "0.009", "TrainDeepMLP.hidden": "[256, 256]"},
                "results": {"1": None},
                "state": "failed",
                "failure": "training loss is nan in epoch 1",
            },
        ],
        "jobs": jobs,
        # as if three results were enough: the page shows what the artifact holds
        "importances": {
            "method": "fANOVA (Optuna)",
            "min_trials": 3,
            "rungs": [
                {
                    "rung": 0,
                    "epochs": 1,
                    "trials": 3,
                    "importances": {"TrainDeepMLP.lr": 0.8125, "TrainDeepMLP.hidden": 0.1875},
                    "unvaried": [],
                }
            ],
        },
        "best": {
            "trial": 1,
            "rung": 2,
            "epochs": 9,
            "value": 0.88,
            "values": {"TrainDeepMLP.lr": "0.002", "TrainDeepMLP.hidden": "[625, 625]"},
            "reported": {"TrainDeepMLP val_accuracy": 0.88, "TrainDeepMLP test_accuracy": 0.87},
        },
    }


@pytest.fixture(scope="module")
def files():
    links = {0: "trials/0.json", 1: "trials/1.json"}
    return build_search_report(made_up_search(), links, generated_at="now", title="Search made-up")


def test_best_so_far_follows_the_highest_rung_reached_not_the_highest_value():
    curve = best_so_far(made_up_search())
    # the last rung's 0.88 replaces the lower rung's 0.90: a longer training is what the search chose
    assert curve["best"] == [0.80, 0.85, 0.85, 0.85, 0.90, 0.88]
    assert curve["epochs"] == [1, 2, 3, 4, 6, 12] and curve["seconds"][-1] == 19.0


def test_rungs_count_jobs_failures_promotions_and_continuations():
    assert rung_rows(made_up_search()) == [[0, 1, 4, 1, 1, 0], [1, 3, 1, 0, 1, 1], [2, 9, 1, 0, 0, 1]]


def test_the_page_says_what_was_chosen_on_and_that_test_figures_are_only_reported(files):
    page = files["index.html"].decode()
    assert "<title>Search made-up</title>" in page and "<h1>Search made-up</h1>" in page
    assert "Chosen on <strong>val_accuracy</strong> (validation data, maximize)" in page
    assert "The test figures are reported only" in page and "TrainDeepMLP test_accuracy" in page
    assert "<a href='trials/1.json'>1</a>" in page and "failed: training loss is nan" in page
    assert "title='0.00123456789'>0.001235</span>" in page  # four digits shown, the exact value on hover
    assert files["progress.png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_the_page_fits_a_phone_and_a_desktop(files, tmp_path):
    site = tmp_path / "search"
    site.mkdir()
    for name, data in files.items():
        (site / name).write_bytes(data)
    for width, seen in chromium.layout(site / "index.html", (420, 1400), tmp_path).items():
        assert seen["scrollWidth"] <= width, f"the page is {seen['scrollWidth']} px wide in a {width} px window"
        assert [i["src"] for i in seen["images"]] == ["progress.png", "slice.png", "importances.png"]
        assert all(i["complete"] and i["naturalWidth"] > 0 for i in seen["images"])


def test_each_parameter_s_slice_shows_every_trial_with_a_result_at_its_highest_rung(files):
    """Trial 1 at rung 2 (0.88, not its best 0.9 at rung 1: what the search compares), the failed one left out."""
    found = slice_points(made_up_search(), "TrainDeepMLP.lr")
    assert sorted(found) == [("0.0001", 0.7, 0), ("0.00123456789", 0.8, 0), ("0.002", 0.88, 2)]
    assert files["slice.png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert "<img src='slice.png'" in files["index.html"].decode()


def test_the_importances_section_says_what_they_are_and_shows_the_numbers_per_rung(files):
    page = files["index.html"].decode()
    section = page[page.index("<h2>Parameter importances</h2>") : page.index("<h2>Rungs</h2>")]
    assert "fANOVA (Optuna) over the trials that finished each rung, on the validation val_accuracy" in section
    assert "<th>epochs 1 (3 trials)</th>" in section
    assert "<td>TrainDeepMLP.lr</td><td>0.81</td>" in section and "<td>TrainDeepMLP.hidden</td><td>0.19</td>" in section
    assert "<img src='importances.png'" in section and files["importances.png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_an_unvaried_parameter_a_search_without_importances_yet_and_an_older_artifact():
    search = made_up_search()
    rung = search["importances"]["rungs"][0]
    rung["unvaried"] = ["TrainDeepMLP.hidden"]
    rung["importances"] = {"TrainDeepMLP.lr": 1.0, "TrainDeepMLP.hidden": 0.0}
    assert importance_table(search) == (
        ["parameter", "epochs 1 (3 trials)"],
        [["TrainDeepMLP.lr", "1.00"], ["TrainDeepMLP.hidden", "not varied"]],
    )
    search["importances"]["rungs"] = []
    files = build_search_report(search, {}, title="Search made-up")
    assert "None yet: they are computed at each rung that at least 3 trials finished" in files["index.html"].decode()
    assert "importances.png" not in files
    del search["importances"]  # an artifact built before the search computed them
    assert "Parameter importances" not in build_search_report(search, {}, title="Search made-up")["index.html"].decode()
