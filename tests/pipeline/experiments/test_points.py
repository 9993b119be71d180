"""summarize_point on made-up artifacts shaped like the real ones (those of tests/pipeline/test_report_build.py)."""

import json

import pytest

from pipeline.experiments.points import summarize_point
from pipeline.report.summary import metrics
from tests.pipeline.names import MODELS
from tests.pipeline.test_report_build import made_up_inputs

PARAMS = {"TrainMLP.learning_rate": "0.05", "TrainMLP.epochs": 3}


@pytest.fixture(scope="module")
def inputs():
    return made_up_inputs()


def test_a_full_point_holds_every_model_as_plain_json(inputs):
    point = summarize_point("lr=0.05", PARAMS, inputs["trained"], inputs["evaluated"], inputs["moons"], models=MODELS)
    assert json.loads(json.dumps(point, allow_nan=False)) == point  # plain JSON, no numpy, no NaN
    assert point["label"] == "lr=0.05"
    assert point["params"] == {"TrainMLP.learning_rate": "0.05", "TrainMLP.epochs": "3"}
    m = point["metrics"]
    assert m["TrainLogReg test_accuracy"] == 0.9 and m["TrainDeepMLP test_accuracy"] == pytest.approx(0.96)
    assert m["TrainMoonsMLP test_accuracy"] == 0.95 and m["TrainMoonsMLP epochs"] == 4
    assert m["TrainCharRNN val_loss (nats/char)"] == 1.69 and m["TrainCharRNN bits_per_char"] == 2.44
    assert m["TrainCharRNN perplexity"] == 5.4 and m["TrainCharRNN kept_epoch"] == 2
    assert m["TrainMLP parameters"] == 784 * 625 + 625 * 10 and m["TrainMLP seconds_per_epoch"] == 1.0
    assert all(type(v) is float for v in m.values())
    assert list(point["curves"]) == ["TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP"]
    assert point["curves"]["TrainCharRNN"] == {
        "epoch": [1, 2, 3],
        "val_loss": [2.5, 1.69, 1.71],
        "train_loss": [2.0, 1.5, 1.0],
    }
    assert point["curves"]["TrainMoonsMLP"]["test_accuracy"] == [0.7, 0.8, 0.9, 0.95]
    # the metrics come from the report's own function: the same numbers as metrics.json
    rows = metrics(inputs["trained"], inputs["evaluated"], inputs["moons"], models=MODELS)
    assert m["TrainMLP test_accuracy"] == rows["TrainMLP"]["test_accuracy"]
    assert m["TrainCharRNN epochs"] == rows["TrainCharRNN"]["epochs"]


def test_a_point_of_some_models_only(inputs):
    only = {"TrainCharRNN"}
    point = summarize_point(
        "rnn",
        {},
        {f: a for f, a in inputs["trained"].items() if f in only},
        {f: a for f, a in inputs["evaluated"].items() if f in only},
        models=MODELS,
    )
    assert set(point["curves"]) == {"TrainCharRNN"}
    assert {name.split()[0] for name in point["metrics"]} == {"TrainCharRNN"}
    assert point["metrics"]["TrainCharRNN val_loss (nats/char)"] == 1.69

    trained_only = summarize_point("mlp", {}, {"TrainMLP": inputs["trained"]["TrainMLP"]}, models=MODELS)
    assert set(trained_only["metrics"]) == {"TrainMLP epochs", "TrainMLP seconds_per_epoch", "TrainMLP parameters"}
    assert trained_only["curves"]["TrainMLP"]["test_accuracy"] == pytest.approx([0.91, 0.92, 0.93])

    moons = summarize_point("moons", {"TrainMoonsMLP.hidden": "32"}, moons=inputs["moons"], models=MODELS)
    assert set(moons["curves"]) == {"TrainMoonsMLP"} and moons["metrics"]["TrainMoonsMLP test_accuracy"] == 0.95
    assert summarize_point("nothing", {}, models=MODELS) == {
        "label": "nothing",
        "params": {},
        "metrics": {},
        "curves": {},
    }
