"""Evaluation stages: test-set metrics for the classifiers, validation loss and samples for the char-RNN."""
from __future__ import annotations

import importlib

import luigi

from tasks.base import ArtifactTask
from tasks.compiling import CompilingTask
from tasks.data import BuildCharVocab, OneHotMNIST
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP


class _EvaluateClassifier(CompilingTask):
    """Accuracy, per-class accuracy, confusion matrix and misclassified examples on the test set."""

    n_misclassified = luigi.IntParameter(default=25, description="misclassified test digits kept for the report")
    train_task: type[ArtifactTask]
    model_module: str

    @property
    def code(self):
        return ("pipeline.evaluate", "pipeline.models.classifier", self.model_module)

    def requires(self):
        return {"model": self.train_task(), "data": OneHotMNIST()}

    def build(self, inputs):
        from pipeline.evaluate import classification_report
        from pipeline.models.classifier import compile_predictor

        model, data = inputs["model"], inputs["data"]
        clean_proba = importlib.import_module(self.model_module).clean_proba
        predict = compile_predictor(model["weights"], clean_proba, backend=model["backend"])
        return classification_report(predict(data["X_test"]), data["y_test"], data["X_test"], self.n_misclassified)


class EvaluateLogReg(_EvaluateClassifier):
    train_task = TrainLogReg
    model_module = "pipeline.models.logreg"


class EvaluateMLP(_EvaluateClassifier):
    train_task = TrainMLP
    model_module = "pipeline.models.mlp"


class EvaluateDeepMLP(_EvaluateClassifier):
    train_task = TrainDeepMLP
    model_module = "pipeline.models.deep_mlp"


class EvaluateCharRNN(CompilingTask):
    """Validation loss (nats, bits, perplexity) against a unigram baseline, and text samples."""

    temperatures = luigi.ListParameter(default=[0.5, 0.8, 1.0], description="sampling temperatures")
    prompt = luigi.Parameter(default="ROMEO:", description="text the samples continue")
    sample_length = luigi.IntParameter(default=400, description="characters per sample")
    sample_seed = luigi.IntParameter(default=0, description="seed of the sampling RNG")
    code = ("pipeline.evaluate", "pipeline.models.char_rnn", "pipeline.models.generate")

    def validate(self) -> None:
        if any(not t > 0 for t in self.temperatures):
            raise ValueError(f"[EvaluateCharRNN] temperatures must be > 0, got {list(self.temperatures)}")
        if self.sample_length < 0:
            raise ValueError(f"[EvaluateCharRNN] sample_length must be >= 0, got {self.sample_length}")

    def requires(self):
        return {"model": TrainCharRNN(), "corpus": BuildCharVocab()}

    def build(self, inputs):
        from pipeline.evaluate import language_model_report
        from pipeline.models.char_rnn import validation_loss
        from pipeline.models.generate import sample_text

        model, corpus = inputs["model"], inputs["corpus"]
        params = model["params"]
        val = validation_loss(model["weights"], corpus["val_ids"], seq_len=int(params["seq_len"]),
                              batch_size=int(params["batch_size"]), backend=model["backend"])
        report = language_model_report(val, corpus["unigram_val_nats"])
        report["samples"] = {
            float(t): sample_text(model["weights"], corpus["vocab"], prompt=self.prompt, length=self.sample_length,
                                  temperature=float(t), seed=self.sample_seed)
            for t in self.temperatures
        }
        report["prompt"] = self.prompt
        return report
