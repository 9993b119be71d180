"""Report assembly and publishing (``pipeline.report.build``) on made-up artifacts: no luigi, no training."""

import hashlib
import json
import subprocess

import numpy as np
import pytest

from pipeline.report.build import build_report, code_version, publish_files, published_state, stage_fingerprints
from pipeline.report.history import HISTORY_MARKER
from pipeline.report.references import names
from tests.pipeline.names import MODELS

RNG = np.random.default_rng(0)
CLASSIFIER_WEIGHTS = {
    "TrainLogReg": {"w": (784, 10)},
    "TrainMLP": {"w_h": (784, 625), "w_o": (625, 10)},
    "TrainDeepMLP": {"w_h": (784, 625), "w_h2": (625, 625), "w_o": (625, 10)},
}


def _history(n, metric, values):
    return {
        "epoch": list(range(1, n + 1)),
        "train_loss": list(np.linspace(2, 1, n)),
        metric: list(values),
        "epoch_seconds": [1.0] * n,
        "eval_seconds": [0.1] * n,
    }


def made_up_inputs():
    trained, evaluated = {}, {}
    for k, (family, shapes) in enumerate(CLASSIFIER_WEIGHTS.items()):
        acc = 0.9 + 0.03 * k
        trained[family] = {
            "weights": {n: RNG.standard_normal(s).astype(np.float32) for n, s in shapes.items()},
            "history": {
                **_history(3, "test_accuracy", [acc - 0.02, acc - 0.01, acc]),
                "val_accuracy": [acc - 0.03, acc - 0.01, acc + 0.005],
            },
            "backend": "jax",
        }
        cm = np.diag(RNG.integers(80, 100, 10))
        cm[3, 5] = 4
        evaluated[family] = {
            "val_accuracy": acc + 0.005,
            "test_accuracy": acc,
            "per_class_accuracy": np.full(10, acc),
            "confusion_matrix": cm,
            "misclassified": {
                "images": RNG.random((4, 784)),
                "true": np.array([3, 3, 3, 3]),
                "pred": np.array([5, 5, 5, 5]),
            },
        }
    val = [2.5, 1.69, 1.71]  # best at epoch 2, kept; the last epoch is worse
    trained["TrainCharRNN"] = {
        "weights": {"W_hh": np.zeros((8, 8), np.float32)},
        "backend": "jax",
        "history": _history(3, "val_loss", val),
        "kept": {"epoch": 2, "val_loss": 1.69},
        "last": {"epoch": 3, "val_loss": 1.71},
    }
    evaluated["TrainCharRNN"] = {
        "val_loss": 1.69,
        "bits_per_char": 2.44,
        "perplexity": 5.4,
        "unigram_val_loss": 3.3,
        "unigram_bits_per_char": 4.8,
        "samples": {0.5: "O Romeo"},
        "prompt": "ROMEO:",
    }
    xx, yy = np.meshgrid(np.linspace(-1, 2, 5), np.linspace(-1, 1, 5))
    moons = {
        "weights": {"w_h": np.zeros((3, 32), np.float32), "w_o": np.zeros((32, 2), np.float32)},
        "history": _history(4, "test_accuracy", [0.7, 0.8, 0.9, 0.95]),
        "backend": "jax",
        "grid": {"xx": xx, "yy": yy, "p1": (xx > 0.5).astype(float)},
        "X": RNG.random((20, 2)),
        "y": np.arange(20) % 2,
    }
    provenance = [
        {
            "task": "DownloadMNIST",
            "fingerprint": "f" * 64,
            "since_last_report": "new",
            "params": {
                "mirrors": json.dumps(["https://example.invalid/a/very/long/mirror/path/"] * 3),
                "sha256": json.dumps({"train-images-idx3-ubyte": "e" * 64}),
                "timeout": "30",
            },
            "created": "2026-12-01T03:00:00+00:00",
            "duration_s": 1.0,
            "libraries": {"numpy": "2"},
        }
    ]
    return dict(trained=trained, evaluated=evaluated, moons=moons, models=MODELS, provenance=provenance)


@pytest.fixture(scope="module")
def report():
    return build_report(
        **made_up_inputs(), fingerprint="r" * 64, dpi=20, generated_at="2026-12-01 03:00 UTC", code_version="0123abcd"
    )


def test_metrics_cover_two_moons_and_the_char_rnn_best_and_last_epochs(report):
    m = json.loads(report["files"]["metrics.json"])
    assert m == json.loads(json.dumps(report["metrics"]))
    assert set(m) == {"TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP"}
    assert m["TrainMoonsMLP"]["test_accuracy"] == 0.95 and m["TrainMoonsMLP"]["epochs"] == 4
    assert m["TrainMoonsMLP"]["parameters"] == 3 * 32 + 32 * 2
    rnn = m["TrainCharRNN"]
    assert (rnn["kept_epoch"], rnn["best_epoch"], rnn["best_val_loss"]) == (2, 2, 1.69)
    assert (rnn["last_epoch"], rnn["last_val_loss"]) == (3, 1.71)


def test_page_says_what_it_shows(report):
    page = report["files"]["index.html"].decode()
    assert "Generated 2026-12-01 03:00 UTC from code version <code>0123abcd</code>" in page
    assert "the first 64 of its 625 hidden units (units 1–64)" in page  # the weight figures' captions
    assert "simple net on two moons" in page and "test accuracy 0.9500" in page
    assert "epoch 2 (best); best 1.6900 at epoch 2, last 1.7100 at epoch 3" in page
    assert HISTORY_MARKER in page
    # long provenance values are cut, the full ones a hover or a click away
    provenance = page.split("<h2>Provenance</h2>", 1)[1]
    assert provenance.count("e" * 64) == 2 and "<details><summary>full values</summary>" in provenance
    assert "timeout=30" in provenance and "f" * 64 in provenance and ">" + "f" * 12 + "…<" in provenance
    for name in (
        "learning_curves.png",
        "per_class_accuracy.png",
        "confusion_matrix.png",
        "misclassified.png",
        "filters_mlp.png",
        "filters_deep_mlp.png",
        "char_rnn_loss.png",
        "decision_boundary.png",
    ):
        assert report["files"][name].startswith(b"\x89PNG") and f"src='{name}'" in page


def test_publishing_adds_the_history_newest_first_and_names_its_digest(report):
    lines = [
        {
            "date": d,
            "model": "TrainMLP",
            "fingerprint": c * 64,
            "metric": "test_accuracy",
            "value": 0.97,
            "promoted": p,
            "reason": "r",
            "recorded": f"{d}T03:00:00+00:00",
        }
        for d, c, p in (("2026-12-02", "b", False), ("2026-11-30", "a", True), ("2026-12-03", "c", True))
    ]
    history = "".join(json.dumps(r) + "\n" for r in lines).encode() + b'{"date": "cut sh'
    files = publish_files(report["files"], history, MODELS)
    page = files["index.html"].decode()
    assert HISTORY_MARKER not in page and files["history.png"].startswith(b"\x89PNG")
    dates = [page.index(f"<td>{d}</td>") for d in ("2026-12-03", "2026-12-02", "2026-11-30")]
    assert dates == sorted(dates)  # newest first, whatever the file's order
    assert "<td>promoted</td>" in page and "<td>kept</td>" in page
    assert published_state(files["provenance.json"]) == ("r" * 64, hashlib.sha256(history).hexdigest())
    assert json.loads(files["provenance.json"])["history"]["records"] == 3
    assert report["files"]["index.html"].decode().count(HISTORY_MARKER) == 1  # the artifact's files are untouched

    empty = publish_files(report["files"], b"", MODELS)
    assert "history.png" not in empty and HISTORY_MARKER not in empty["index.html"].decode()
    assert "History of scheduled retrains" not in empty["index.html"].decode()
    assert published_state(empty["provenance.json"]) == ("r" * 64, hashlib.sha256(b"").hexdigest())
    assert published_state(b"not json") == published_state(b"") == (None, None)
    assert stage_fingerprints(files["provenance.json"]) == {"DownloadMNIST": "f" * 64}
    assert stage_fingerprints(b"") == {}


def test_models_name_each_model_once():
    assert names(MODELS) == {model: name for name, model in MODELS.items()}
    with pytest.raises(ValueError, match="TrainRNN: no model 'rnn'"):
        names({"TrainRNN": "rnn"})
    with pytest.raises(ValueError, match="TrainMLP and TrainMLP2 are both the model 'mlp'"):
        names({"TrainMLP": "mlp", "TrainMLP2": "mlp"})


def test_code_version_is_the_checked_out_commit(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    assert code_version(tmp_path) == "unknown"
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD").strip()
    assert code_version(tmp_path) == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert code_version(tmp_path) == f"{head} + local changes"
    (tmp_path / "sub").mkdir()
    assert code_version(tmp_path / "sub") == "unknown"  # a folder inside someone else's checkout
