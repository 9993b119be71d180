"""The final stage: figures, metrics.json and an HTML page under ``<artifacts root>/report/``."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import luigi

from tasks import storage
from tasks.base import ArtifactTask
from tasks.config import artifacts
from tasks.evaluate import EvaluateCharRNN, EvaluateDeepMLP, EvaluateLogReg, EvaluateMLP
from tasks.status import walk
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP, TrainMoonsMLP

log = logging.getLogger(__name__)
EVALUATIONS = {"TrainLogReg": EvaluateLogReg, "TrainMLP": EvaluateMLP, "TrainDeepMLP": EvaluateDeepMLP,
               "TrainCharRNN": EvaluateCharRNN}
TRAININGS = {"TrainLogReg": TrainLogReg, "TrainMLP": TrainMLP, "TrainDeepMLP": TrainDeepMLP,
             "TrainCharRNN": TrainCharRNN}


class FullReport(ArtifactTask):
    """Requires every model's training and evaluation; publishes ``report/`` with the results.

    The artifact holds the report's files; ``report/`` is a published copy, and the
    task is complete only when that copy was published from this fingerprint.
    """

    dpi = luigi.IntParameter(default=100, significant=False, description="resolution of the PNG figures")
    code = ("pipeline.report.plots", "pipeline.report.summary")

    def requires(self):
        return {**{f"train/{k}": t() for k, t in TRAININGS.items()},
                **{f"eval/{k}": t() for k, t in EVALUATIONS.items()},
                "moons": TrainMoonsMLP()}

    def previous_fingerprints(self) -> dict[str, str]:
        """Stage fingerprints of the report published before this one (empty when there is none)."""
        try:
            stages = json.loads((self.report_dir / "provenance.json").read_text())["stages"]
        except (OSError, ValueError, KeyError):
            return {}
        return {s["task"]: s["fingerprint"] for s in stages}

    @property
    def report_dir(self) -> Path:
        return Path(artifacts().root) / "report"

    def complete(self) -> bool:
        if not super().complete():
            return False
        try:
            published = json.loads((self.report_dir / "provenance.json").read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            return False
        return published == self.fingerprint()

    def after_save(self, target) -> None:
        """Publish the artifact's files as ``report/`` (also when the artifact was already built)."""
        storage.publish_directory(self.report_dir, target.load()["files"])
        log.info("report written: %s", (self.report_dir / "index.html").resolve().as_uri())

    def build(self, inputs):
        from pipeline.report import plots
        from pipeline.report.references import CLASSIFIERS, MODELS
        from pipeline.report.summary import metrics, render_html

        trained = {k: inputs[f"train/{k}"] for k in TRAININGS}
        evaluated = {k: inputs[f"eval/{k}"] for k in EVALUATIONS}
        m = metrics(trained, evaluated)
        best = max(CLASSIFIERS, key=lambda f: m[f]["test_accuracy"])
        best_label, best_eval = MODELS[best]["label"], evaluated[best]
        wrong = best_eval["misclassified"]
        figures = {
            "learning_curves.png": (plots.learning_curves({f: trained[f]["history"] for f in CLASSIFIERS}),
                                    "Training loss and test accuracy per epoch; crosses mark the seed's published "
                                    "deep-net accuracy"),
            "per_class_accuracy.png": (plots.per_class_accuracy(
                {f: evaluated[f]["per_class_accuracy"] for f in CLASSIFIERS}), "Test accuracy per digit"),
            "confusion_matrix.png": (plots.confusion(best_eval["confusion_matrix"], f"Confusion matrix: {best_label}"),
                                     f"Confusion matrix of the best classifier ({best_label}) on the test set"),
            "misclassified.png": (plots.misclassified(wrong["images"], wrong["true"], wrong["pred"],
                                                      f"Misclassified test digits: {best_label}"),
                                  f"The first misclassified test digits of {best_label} (true → predicted)"),
            "filters_mlp.png": (plots.first_layer_filters(trained["TrainMLP"]["weights"]["w_h"],
                                                          "Simple net: first-layer weights"),
                                "First-layer weights of the simple net, one 28×28 tile per hidden unit"),
            "filters_deep_mlp.png": (plots.first_layer_filters(trained["TrainDeepMLP"]["weights"]["w_h"],
                                                               "Deep net: first-layer weights"),
                                     "First-layer weights of the deep net, one 28×28 tile per hidden unit"),
            "char_rnn_loss.png": (plots.char_rnn_curves(trained["TrainCharRNN"]["history"],
                                                        evaluated["TrainCharRNN"]["unigram_val_loss"]),
                                  "Char-RNN training and validation loss against the unigram baseline"),
        }
        moons = inputs["moons"]
        figures["decision_boundary.png"] = (
            plots.decision_boundary(moons["grid"]["xx"], moons["grid"]["yy"], moons["grid"]["p1"], moons["X"],
                                    moons["y"], moons["history"]["test_accuracy"][-1]),
            "Decision boundary of the simple sigmoid net (same model as the MNIST simple net) on generated "
            "two-moons data; the black line is P = 0.5")
        previous = self.previous_fingerprints()
        provenance = []
        for t in walk(self)[:-1]:  # every upstream stage, dependencies first (the report itself is last)
            manifest = t.output().manifest()
            old = previous.get(t.get_task_family())
            change = "new" if old is None else "unchanged" if old == manifest["fingerprint"] else "rebuilt"
            provenance.append(dict(manifest, task=t.get_task_family(), since_last_report=change))
        rnn_eval = evaluated["TrainCharRNN"]
        page = render_html(m, [(name, caption) for name, (_, caption) in figures.items()],
                           rnn_eval["samples"], rnn_eval["prompt"], provenance)
        files = {name: plots.to_png(fig, self.dpi) for name, (fig, _) in figures.items()}
        files["index.html"] = page.encode()
        files["metrics.json"] = json.dumps(m, indent=2, sort_keys=True).encode()
        files["provenance.json"] = json.dumps(
            {"fingerprint": self.fingerprint(), "stages": provenance}, indent=2, sort_keys=True).encode()
        return {"metrics": m, "files": files}
