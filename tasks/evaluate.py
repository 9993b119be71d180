"""Evaluation stages: validation accuracy and test-set metrics for the classifiers, validation loss and samples for
the char-RNN."""

from __future__ import annotations

import importlib

import luigi

from stagecache import ArtifactTask
from stagecache.core import ranges
from tasks.compiling import CompilingTask
from tasks.data import BuildCharVocab, OneHotMNIST
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP

MAX_SAMPLE_LENGTH = 100_000  # characters per sample (the report shows 400): more is a typing mistake


class _EvaluateClassifier(CompilingTask):
    """Accuracy on the validation split; accuracy, per-class accuracy, confusion matrix and misclassified examples
    on the test set."""

    n_misclassified = luigi.IntParameter(default=25, description="misclassified test digits kept for the report")
    selection_metrics = ("val_accuracy",)
    train_task: type[ArtifactTask]
    model_module: str

    @property
    def code(self):
        return ("pipeline.evaluate.classifier", self.model_module)

    def validate(self) -> None:
        ranges.check(self, "n_misclassified", self.n_misclassified, integer=True, low=0, high=10000)

    def requires(self):
        return {"model": self.stage(self.train_task), "data": self.stage(OneHotMNIST)}

    def build(self, inputs):
        from pipeline.evaluate.classifier import evaluate_classifier

        model, data = inputs["model"], inputs["data"]
        return evaluate_classifier(
            model["weights"],
            importlib.import_module(self.model_module).clean_proba,
            data["X_test"],
            data["y_test"],
            backend=model["backend"],
            n_misclassified=self.n_misclassified,
            X_val=data.get("X_val"),
            y_val=data.get("y_val"),
        )


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
    """Validation loss (nats, bits, perplexity) against a unigram baseline, the same on the test text (reported
    only), and text samples."""

    temperatures = luigi.ListParameter(default=[0.5, 0.8, 1.0], description="sampling temperatures")
    prompt = luigi.Parameter(default="ROMEO:", description="text the samples continue")
    sample_length = luigi.IntParameter(default=400, description="characters per sample")
    sample_seed = luigi.IntParameter(default=0, description="seed of the sampling RNG")
    selection_metrics = ("val_loss",)
    code = ("pipeline.evaluate.char_rnn",)

    def validate(self) -> None:
        ranges.each(self, "temperatures", self.temperatures, nonempty=True, low=0, low_open=True)
        ranges.at_least(self, 0, sample_length=self.sample_length)
        ranges.at_most(self, MAX_SAMPLE_LENGTH, sample_length=self.sample_length)
        ranges.seed(self, "sample_seed", self.sample_seed)
        if not isinstance(self.prompt, str) or not self.prompt:
            raise ValueError(f"[EvaluateCharRNN] prompt must hold at least one character, got {self.prompt!r}")

    def requires(self):
        return {"model": self.stage(TrainCharRNN), "corpus": self.stage(BuildCharVocab)}

    def build(self, inputs):
        from pipeline.evaluate.char_rnn import evaluate_char_rnn

        model, corpus = inputs["model"], inputs["corpus"]
        # the vocabulary exists only now: check the prompt before any compiling or sampling
        missing = sorted(set(self.prompt) - set(corpus["vocab"]))
        if missing:
            raise ValueError(
                f"[EvaluateCharRNN] prompt {self.prompt!r} has characters that are not in the vocabulary: "
                + ", ".join(repr(c) for c in missing)
            )
        return evaluate_char_rnn(
            model["weights"],
            corpus["vocab"],
            corpus["val_ids"],
            corpus["unigram_val_nats"],
            seq_len=int(model["params"]["seq_len"]),
            batch_size=int(model["params"]["batch_size"]),
            backend=model["backend"],
            prompt=self.prompt,
            temperatures=self.temperatures,
            sample_length=self.sample_length,
            sample_seed=self.sample_seed,
            test_ids=corpus.get("test_ids"),
            unigram_test_nats=corpus.get("unigram_test_nats"),
        )
