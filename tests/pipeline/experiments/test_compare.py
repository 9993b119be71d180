"""Tables over small hand-made points: differing parameters, best values, sorting, and the three formats."""

import csv
import io

import pytest

from pipeline.experiments.compare import (
    better,
    default_sort,
    diff_configurations,
    differing_params,
    format_csv,
    format_markdown,
    format_text,
    table,
)
from tests.pipeline.names import MODELS

ACC, LOSS, EPOCHS = "TrainMLP val_accuracy", "TrainCharRNN val_loss (nats/char)", "TrainMLP epochs"


def point(label, params, **metrics):
    names = {"acc": ACC, "loss": LOSS, "epochs": EPOCHS, "secs": "TrainMLP seconds_per_epoch"}
    return {
        "label": label,
        "params": params,
        "curves": {},
        "metrics": {names[k]: float(v) for k, v in metrics.items() if v is not None},
    }


POINTS = [
    point(
        "a",
        {"TrainMLP.learning_rate": "0.1", "TrainMLP.epochs": "3", "TrainMLP.seed": "0"},
        acc=0.93,
        loss=1.7,
        epochs=3,
        secs=2.5,
    ),
    point(
        "b",
        {"TrainMLP.learning_rate": "0.05", "TrainMLP.epochs": "3", "TrainMLP.seed": "0"},
        acc=0.975,
        loss=1.65,
        epochs=3,
        secs=2.25,
    ),
    point(
        "c",
        {"TrainMLP.learning_rate": "0.2", "TrainMLP.epochs": "10", "TrainMLP.seed": "0"},
        acc=0.961,
        loss=1.8,
        epochs=10,
        secs=3.0,
    ),
    point(
        "d",
        {"TrainMLP.learning_rate": "0.01", "TrainMLP.epochs": "3", "TrainMLP.seed": "0", "Extra.k": "x"},
        acc=None,
        loss=1.65,
        epochs=3,
        secs=2.75,
    ),
]


def column(t, name):
    return [row[t["columns"].index(name)] for row in t["rows"]]


def best_labels(t, name):
    c = t["columns"].index(name)
    return [row[0] for row, flags in zip(t["rows"], t["best"]) if flags[c]]


def test_which_way_is_better_follows_the_name():
    assert better(ACC) == better("TrainDeepMLP val_accuracy") == "higher"
    assert better(LOSS) == "lower"
    # issue 31: test figures are reported, never chosen on; timings and sizes have no best
    assert better("TrainMoonsMLP test_accuracy") is better("TrainMLP test_accuracy") is None
    assert better("TrainMLP seconds_per_epoch") is better("TrainCharRNN bits_per_char") is None
    assert better(EPOCHS) is better("TrainMLP parameters") is better("TrainCharRNN kept_epoch") is None


def test_differing_params_are_sorted_and_count_a_missing_one():
    assert differing_params(POINTS) == ["Extra.k", "TrainMLP.epochs", "TrainMLP.learning_rate"]
    assert differing_params(POINTS[:2]) == ["TrainMLP.learning_rate"]
    assert differing_params(POINTS[:1]) == []


def test_table_columns_cells_and_best_values():
    t = table(POINTS, models=MODELS)
    assert t["columns"] == [
        "label",
        "Extra.k",
        "TrainMLP.epochs",
        "TrainMLP.learning_rate",
        ACC,
        EPOCHS,
        "TrainMLP seconds_per_epoch",
        LOSS,
    ]  # metrics by family, headline first
    assert t["kinds"] == ["label", "param", "param", "param", "metric", "metric", "metric", "metric"]
    assert column(t, "label") == ["a", "b", "c", "d"]  # no sort_by: the points' order
    assert column(t, ACC) == [0.93, 0.975, 0.961, None] and column(t, "Extra.k") == [None, None, None, "x"]
    assert best_labels(t, ACC) == ["b"]  # the highest accuracy
    assert best_labels(t, LOSS) == ["b", "d"]  # the lowest loss; a tie marks both
    assert best_labels(t, "TrainMLP seconds_per_epoch") == []  # a timing has no best
    assert best_labels(t, EPOCHS) == []  # no direction
    assert not any(f for flags in t["best"] for f in flags[:4])  # labels and parameters are never "best"
    assert t["better"] == {ACC: "higher", EPOCHS: None, "TrainMLP seconds_per_epoch": None, LOSS: "lower"}
    same = table([point("x", {}, acc=0.9), point("y", {}, acc=0.9)], models=MODELS)
    assert same["best"] == [[False, False], [False, False]]  # all equal: nothing to choose


def test_sorting_best_first_by_default_missing_values_last():
    t = table(POINTS, sort_by=ACC, models=MODELS)
    assert column(t, "label") == ["b", "c", "a", "d"] and t["descending"] is True
    assert column(table(POINTS, sort_by=ACC, descending=False, models=MODELS), "label") == ["a", "c", "b", "d"]
    t = table(POINTS, sort_by=LOSS, models=MODELS)
    assert column(t, "label") == ["b", "d", "a", "c"] and t["descending"] is False  # stable on ties
    assert best_labels(t, ACC) == ["b"]  # marks follow their rows
    # parameters sort by value, numerically when they are numbers
    assert column(table(POINTS, sort_by="TrainMLP.learning_rate", models=MODELS), "label") == ["d", "b", "a", "c"]
    assert column(table(POINTS, sort_by="label", descending=True, models=MODELS), "label") == ["d", "c", "b", "a"]
    with pytest.raises(ValueError, match="cannot sort by 'nope'"):
        table(POINTS, sort_by="nope", models=MODELS)


def test_chosen_params_and_metrics():
    t = table(POINTS, params=["TrainMLP.seed"], metrics=[LOSS], models=MODELS)
    assert t["columns"] == ["label", "TrainMLP.seed", LOSS] and column(t, "TrainMLP.seed") == ["0"] * 4


def test_default_sort_picks_the_first_headline_metric_that_differs():
    assert default_sort(POINTS, models=MODELS) == ACC
    same_acc = [point("x", {}, acc=0.9, loss=1.5), point("y", {}, acc=0.9, loss=1.4)]
    assert default_sort(same_acc, models=MODELS) == LOSS
    assert default_sort([point("x", {}, epochs=3)], models=MODELS) is None


def test_csv_reads_back_as_the_same_numbers():
    t = table(POINTS, sort_by=ACC, models=MODELS)
    rows = list(csv.reader(io.StringIO(format_csv(t))))
    assert rows[0] == t["columns"]
    for row, expected in zip(rows[1:], t["rows"]):
        for cell, value in zip(row, expected):
            if value is None:
                assert cell == ""
            elif isinstance(value, float):
                assert float(cell) == value  # exact
            else:
                assert cell == value
    assert format_csv(table([point("x", {}, acc=1 / 3)], models=MODELS)).splitlines()[1] == f"x,{1 / 3!r}"


def _markdown_rows(text):
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return split[0], lines[1], split[2:]


def test_markdown_reads_back_with_the_best_in_bold():
    t = table(POINTS, sort_by=LOSS, models=MODELS)
    header, rule, rows = _markdown_rows(format_markdown(t))
    assert header == t["columns"]
    assert rule == "|---|---|---|---|---:|---:|---:|---:|"  # numbers right-aligned
    for row, expected, flags in zip(rows, t["rows"], t["best"]):
        for cell, value, best in zip(row, expected, flags):
            assert cell.startswith("**") == best
            cell = cell.strip("*")
            if value is None:
                assert cell == "—"
            elif isinstance(value, float):
                assert float(cell) == pytest.approx(value, rel=1e-6)
            else:
                assert cell == value
    assert "Bold: best per validation metric" in format_markdown(t)
    assert "a \\| b" in format_markdown(
        table([point("a | b", {}, acc=0.5)], models=MODELS)
    )  # a pipe never splits a cell


def test_text_aligns_columns_and_stars_the_best():
    t = table(POINTS, sort_by=ACC, models=MODELS)
    lines = format_text(t).splitlines()
    assert lines[0].split("  ")[0] == "label" and set(lines[1].replace(" ", "")) == {"-"}
    b = lines[2]
    assert b.startswith("b ") and "0.975*" in b and "1.65*" in b and "2.25 " in b
    assert "—" in lines[5]  # d has no accuracy
    assert len({len(line) for line in lines[:2]}) == 1  # the rule is as wide as the header
    assert (
        lines[-1].startswith("* best per validation metric")
        and "sorted by TrainMLP val_accuracy, descending" in lines[-1]
    )
    assert "0.333333" in format_text(table([point("x", {}, acc=1 / 3)], models=MODELS))  # six significant digits


def test_diff_of_two_configurations_puts_them_side_by_side():
    d = diff_configurations(POINTS[:2], models=MODELS)
    assert d["columns"] == ["name", "a", "b", "change"]
    assert [r[0] for r in d["rows"]] == ["TrainMLP.learning_rate", ACC, EPOCHS, "TrainMLP seconds_per_epoch", LOSS]
    assert d["kinds"] == ["param", "metric", "metric", "metric", "metric"]
    assert d["rows"][0] == ["TrainMLP.learning_rate", "0.1", "0.05", None]
    assert d["rows"][1][:3] == [ACC, 0.93, 0.975] and d["rows"][1][3] == pytest.approx(0.045)
    assert d["best"][1] == [False, False, True, False] and d["best"][4] == [False, False, True, False]
    assert d["best"][2] == [False] * 4  # epochs: no direction
    changed = diff_configurations(POINTS[:2], all_metrics=False, models=MODELS)
    assert [r[0] for r in changed["rows"]] == ["TrainMLP.learning_rate", ACC, "TrainMLP seconds_per_epoch", LOSS]
    assert "0.975*" in format_text(d) and float(
        next(r for r in csv.reader(io.StringIO(format_csv(d))) if r[0] == LOSS)[3]
    ) == pytest.approx(-0.05)


def test_diff_of_more_configurations_has_no_change_column():
    d = diff_configurations(POINTS, models=MODELS)
    assert d["columns"] == ["name", "a", "b", "c", "d"]
    assert [r[0] for r in d["rows"] if r[0] in ("Extra.k", ACC)] == ["Extra.k", ACC]
    assert next(r for r in d["rows"] if r[0] == ACC)[1:] == [0.93, 0.975, 0.961, None]
    with pytest.raises(ValueError, match="two or more"):
        diff_configurations(POINTS[:1], models=MODELS)


def test_no_points_give_an_empty_table_in_every_format():
    t = table([], models=MODELS)
    assert (t["columns"], t["rows"], t["best"]) == (["label"], [], [])
    assert format_text(t).startswith("label\n-----\n") and format_csv(t) == "label\n"
    assert format_markdown(t).startswith("| label |\n|---|\n")


def test_metrics_equal_in_every_point_are_told_apart_from_those_that_differ():
    """Issue 31: a sweep's table showed 28 columns, most of them the same in every row."""
    from pipeline.experiments.compare import constant_metrics, differing_metrics

    points = [
        {"label": "a", "params": {}, "metrics": {"M val_accuracy": 0.9, "M epochs": 3.0, "N val_loss": 1.0}},
        {"label": "b", "params": {}, "metrics": {"M val_accuracy": 0.8, "M epochs": 3.0}},
    ]
    assert differing_metrics(points, models=MODELS) == [
        "M val_accuracy",
        "N val_loss",
    ]  # one point lacks N: that differs
    assert differing_metrics(points, keep="M epochs", models=MODELS) == ["M epochs", "M val_accuracy", "N val_loss"]
    assert constant_metrics(points, models=MODELS) == {"M epochs": 3.0}
    assert differing_metrics(points[:1], models=MODELS) == ["M epochs", "M val_accuracy", "N val_loss"]
    assert not constant_metrics(points[:1], models=MODELS)
