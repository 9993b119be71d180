"""The whole DAG on tiny data: first build, no-op rerun, and exactly-downstream reruns."""

import json

import numpy as np

import tasks
from tests.tasks.conftest import ALL_TASKS


def test_build_rerun_and_parameter_changes(pipeline):
    assert pipeline.build() == ALL_TASKS

    report = pipeline.root / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics) == {"TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP"}
    for family in ("TrainLogReg", "TrainMLP", "TrainDeepMLP"):
        assert metrics[family]["epochs"] == 2 and 0.0 <= metrics[family]["test_accuracy"] <= 1.0
        assert metrics[family]["seconds_per_epoch"] > 0
    assert metrics["TrainCharRNN"]["val_loss"] > 0
    # the tiny digits are easy: the deep net must have learned something real
    assert metrics["TrainDeepMLP"]["test_accuracy"] > 0.5
    for name in (
        "index.html",
        "learning_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
        "filters_mlp.png",
        "filters_deep_mlp.png",
        "char_rnn_loss.png",
        "per_class_accuracy.png",
        "decision_boundary.png",
    ):
        assert (report / name).stat().st_size > 0, name

    # a second run computes nothing
    assert pipeline.build() == set()

    # one training parameter: that model, its evaluation, the report
    pipeline.set("TrainDeepMLP", "epochs", "3")
    assert pipeline.build() == {"TrainDeepMLP", "EvaluateDeepMLP", "FullReport"}
    assert json.loads((report / "metrics.json").read_text())["TrainDeepMLP"]["epochs"] == 3

    # cosmetic parameters rerun nothing
    pipeline.set("FullReport", "dpi", "50")
    pipeline.set("DownloadMNIST", "timeout", "5")
    assert pipeline.build() == set()

    # going back to a configuration already built recomputes nothing but republishes the report
    pipeline.set("TrainDeepMLP", "epochs", "2")
    assert pipeline.build() == {"FullReport"}
    assert json.loads((report / "metrics.json").read_text())["TrainDeepMLP"]["epochs"] == 2
    # (a preprocessing or text-side parameter reruns exactly its downstream: every parameter's status, three
    # of them built for real, in tests/tasks/test_status.py::test_every_parameter_reruns_exactly_its_downstream)


def test_artifacts_hold_weights_history_and_parameters(pipeline):
    pipeline.set("pytensor", "compile_cache", "compile_cache")  # the default: inside the artifacts root
    pipeline.build(tasks.EvaluateDeepMLP())
    trained = tasks.TrainDeepMLP().output().load()
    assert set(trained["weights"]) == {"w_h", "w_h2", "w_o"}
    assert trained["weights"]["w_h"].shape == (784, 32) and trained["weights"]["w_h"].dtype == np.float32
    h = trained["history"]
    assert h["epoch"] == [1, 2] and len(h["train_loss"]) == len(h["test_accuracy"]) == len(h["epoch_seconds"]) == 2
    assert trained["params"]["p_drop_hidden"] == "0.5" and trained["backend"] in ("jax", "numba")

    # what compiling cost, and how long the task took to reach its first batch
    compiled = {f["name"]: f for f in trained["compile"]["functions"]}
    assert {"deep_mlp_train", "deep_mlp_predict"} <= set(compiled)
    assert all(f["seconds"] > 0 and f["cache"] in ("hit", "miss", "memory") for f in compiled.values())
    assert 0 < compiled["deep_mlp_train"]["seconds"] < trained["compile"]["seconds_to_first_batch"]
    assert compiled["deep_mlp_train"]["cache_dir"] == str((pipeline.root / "compile_cache").resolve())
    assert any((pipeline.root / "compile_cache").glob("*-cache"))
    assert all(f["graph_cache"] in ("hit", "miss") for f in compiled.values())  # PyTensor's rewritten graphs
    assert any((pipeline.root / "compile_cache" / "pytensor-graphs").glob("deep_mlp_train-*.pkl.z"))

    manifest = tasks.TrainDeepMLP().output().manifest()
    assert manifest["params"]["epochs"] == "2"
    assert manifest["upstream"] == {"OneHotMNIST": tasks.OneHotMNIST().fingerprint()}
    assert "pipeline.models.deep_mlp" in manifest["code"] and "pipeline.models.optim" in manifest["code"]
    assert manifest["libraries"]["luigi"]

    evaluation = tasks.EvaluateDeepMLP().output().load()
    assert evaluation["confusion_matrix"].sum() == 200
    assert evaluation["test_accuracy"] == h["test_accuracy"][-1]


def test_deleted_or_corrupted_artifact_is_rebuilt_alone(pipeline):
    assert pipeline.build(tasks.EvaluateLogReg()) == {"DownloadMNIST", "OneHotMNIST", "TrainLogReg", "EvaluateLogReg"}
    target = tasks.TrainLogReg().output()

    # corrupt the stored weights: detected by checksum, moved aside, recomputed
    data = bytearray(target.path.read_bytes())
    data[-20] ^= 0xFF
    target.path.write_bytes(bytes(data))
    assert pipeline.build(tasks.TrainLogReg()) == {"TrainLogReg"}
    assert list((pipeline.root / "_quarantine").iterdir())
    assert target.load()["history"]["epoch"] == [1, 2]

    # a deleted intermediate is rebuilt only when something downstream needs it
    tasks.OneHotMNIST().output().path.unlink()
    assert pipeline.build(tasks.EvaluateLogReg()) == set()
    assert pipeline.build(tasks.EvaluateMLP()) == {"OneHotMNIST", "TrainMLP", "EvaluateMLP"}
