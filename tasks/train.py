"""Training stages: one task per model, each calling one ``train_*`` function."""

from __future__ import annotations

import luigi

from pipeline.training import TrainingDivergedError
from stagecache import ReportsProgress
from stagecache.core import ranges
from tasks.compiling import CompilingTask, configured_backend
from tasks.data import BuildCharVocab, OneHotMNIST


class _Train(ReportsProgress, CompilingTask):
    """What every training stage shares: epochs, seed, the compile backend, progress reporting."""

    #: The model it trains, as pipeline/ (which names no stage) knows it: a key of pipeline.report.references.MODELS.
    model: str

    epochs = luigi.IntParameter(description="passes over the training data")
    # A longer training continues from the final training state (weights, optimiser state, random
    # generators, history) of the longest shorter one of the same configuration, kept beside its
    # artifact: run_epochs resumes from that checkpoint and trains only the missing epochs, to the
    # same bits as a training from scratch (tests/tasks/test_continuation.py).
    continues_along = "epochs"
    # Failures before luigi's scheduler disables the stage: 2 allows the one retry that resumes from
    # the checkpoint when the worker died mid-training (luigid fails a dead worker's task). A
    # divergence is deterministic: it is recorded beside the artifact (``building``), and the retry
    # fails at once with DivergedBeforeError, before loading inputs or compiling.
    retry_count = 2
    divergence_errors = (TrainingDivergedError,)
    seed = luigi.IntParameter(default=0, description="seed for initial weights (and dropout noise)")

    def validate(self) -> None:
        ranges.positive(self, integer=True, epochs=self.epochs)
        ranges.at_most(self, ranges.MAX_EPOCHS, epochs=self.epochs)
        ranges.seed(self, "seed", self.seed)

    def backend(self) -> str:
        """The resolved compile backend (``jax`` or ``numba``, ...)."""
        return configured_backend()

    def checkpointer(self, target=None):
        """End-of-epoch checkpoints of ``target`` (beside it, or in its object store), by default the artifact this run writes (``run_target``)."""
        target = self.run_target if target is None else target
        if target is None:
            raise RuntimeError(f"{self.get_task_family()}: checkpointer() needs the target run() fixed")
        return target.checkpointer()

    def trained(self, result: dict) -> dict:
        """The artifact: weights, history, the parameters and backend that produced them, compile costs."""
        return {**result, "params": self.params_dict(), "backend": self.backend(), "compile": self.compile_summary()}

    def compile_summary(self) -> dict:
        """Each compiled function's cost and cache use, and the seconds from the task's start to its first batch."""
        return {
            "functions": [r.as_dict() for r in self.compiles],
            **(self.first_batch or {"seconds_to_first_batch": None, "first_batch_unix": None}),
        }


class _TrainClassifier(_Train):
    lr = luigi.FloatParameter(description="learning rate")
    batch_size = luigi.IntParameter(default=128, description="examples per update")

    def requires(self):
        return self.stage(OneHotMNIST)

    def validate(self) -> None:
        super().validate()
        ranges.positive(self, lr=self.lr)
        ranges.positive(self, integer=True, batch_size=self.batch_size)
        # fewer training examples than one batch fails only once the data is prepared: refuse it now
        limit = self.requires().train_limit
        if 0 < limit < self.batch_size:
            raise ValueError(
                f"[OneHotMNIST] train_limit must be 0 (all) or at least one batch of {self.get_task_family()} "
                f"(batch_size {self.batch_size}), got {limit}"
            )


class TrainLogReg(_TrainClassifier):
    """Logistic regression: 10 sigmoid outputs, the seeds' binary cross-entropy, SGD."""

    code = ("pipeline.models.logreg",)
    model = "logreg"

    def build(self, data):
        from pipeline.models.logreg import train_log_reg

        return self.trained(
            train_log_reg(
                data,
                epochs=self.epochs,
                lr=self.lr,
                batch_size=self.batch_size,
                seed=self.seed,
                backend=self.backend(),
                on_epoch=self.report_progress,
                checkpointer=self.checkpointer(),
                name=self.get_task_family(),
            )
        )


class TrainMLP(_TrainClassifier):
    """The seeds' simple net: 784-625-10, sigmoid, softmax, SGD."""

    hidden = luigi.IntParameter(default=625, description="hidden units")
    code = ("pipeline.models.mlp",)
    model = "mlp"

    def validate(self) -> None:
        super().validate()
        ranges.positive(self, integer=True, hidden=self.hidden)

    def build(self, data):
        from pipeline.models.mlp import train_mlp

        return self.trained(
            train_mlp(
                data,
                epochs=self.epochs,
                hidden=self.hidden,
                lr=self.lr,
                batch_size=self.batch_size,
                seed=self.seed,
                backend=self.backend(),
                on_epoch=self.report_progress,
                checkpointer=self.checkpointer(),
                name=self.get_task_family(),
            )
        )


class TrainDeepMLP(_TrainClassifier):
    """The seeds' modern net: 784-625-625-10, ReLU, dropout, RMSprop."""

    hidden = luigi.ListParameter(default=[625, 625], description="units of the two hidden layers")
    p_drop_input = luigi.FloatParameter(default=0.2, description="dropout rate on the input")
    p_drop_hidden = luigi.FloatParameter(default=0.5, description="dropout rate on each hidden layer")
    rho = luigi.FloatParameter(default=0.9, description="RMSprop decay")
    eps = luigi.FloatParameter(default=1e-6, description="RMSprop epsilon")
    code = ("pipeline.models.deep_mlp",)
    model = "deep_mlp"

    def validate(self) -> None:
        super().validate()
        ranges.each(self, "hidden", self.hidden, length=2, integer=True, low=0, low_open=True)
        ranges.positive(self, eps=self.eps)
        ranges.check(self, "rho", self.rho, low=0, high=1, low_open=True, high_open=True)
        for key in ("p_drop_input", "p_drop_hidden"):
            ranges.check(self, key, getattr(self, key), low=0, high=1, high_open=True)

    def build(self, data):
        from pipeline.models.deep_mlp import train_deep_mlp

        return self.trained(
            train_deep_mlp(
                data,
                epochs=self.epochs,
                hidden=tuple(self.hidden),
                p_drop_input=self.p_drop_input,
                p_drop_hidden=self.p_drop_hidden,
                lr=self.lr,
                rho=self.rho,
                eps=self.eps,
                batch_size=self.batch_size,
                seed=self.seed,
                backend=self.backend(),
                on_epoch=self.report_progress,
                checkpointer=self.checkpointer(),
                name=self.get_task_family(),
            )
        )


class TrainCharRNN(_Train):
    """Vanilla tanh RNN over characters, unrolled with ``scan``, truncated BPTT."""

    steps_per_epoch = luigi.IntParameter(
        default=0, description="updates per epoch (0 = as many as one pass over the text takes)"
    )
    hidden = luigi.IntParameter(description="hidden units")
    seq_len = luigi.IntParameter(description="time steps per truncated-BPTT chunk")
    batch_size = luigi.IntParameter(description="windows (or parallel streams) of text per update")
    init = luigi.ChoiceParameter(
        choices=["uniform", "seed"], description="initial weights: uniform ±1/sqrt(hidden), or the seeds' randn*0.01"
    )
    batching = luigi.ChoiceParameter(
        choices=["windows", "streams"],
        description="random windows from a zero state, or contiguous streams carrying the hidden state",
    )
    optimizer = luigi.ChoiceParameter(choices=["adam", "rmsprop"], description="update rule")
    lr = luigi.FloatParameter(description="learning rate")
    clip = luigi.FloatParameter(default=5.0, description="max global gradient norm (0 = no clipping)")
    keep_best = luigi.BoolParameter(
        default=True,
        parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="keep the weights of the epoch with the lowest validation loss (false: the last epoch's)",
    )
    code = ("pipeline.models.char_rnn_training",)
    model = "char_rnn"

    def validate(self) -> None:
        super().validate()
        ranges.positive(self, integer=True, hidden=self.hidden, seq_len=self.seq_len, batch_size=self.batch_size)
        ranges.positive(self, lr=self.lr)
        ranges.at_least(self, 0, steps_per_epoch=self.steps_per_epoch)
        ranges.at_most(self, ranges.MAX_STEPS, steps_per_epoch=self.steps_per_epoch)
        ranges.at_least(self, 0, integer=False, clip=self.clip)

    def requires(self):
        return self.stage(BuildCharVocab)

    def build(self, corpus):
        from pipeline.models.char_rnn_training import train_char_rnn

        return self.trained(
            train_char_rnn(
                corpus["train_ids"],
                corpus["val_ids"],
                len(corpus["vocab"]),
                epochs=self.epochs,
                steps_per_epoch=self.steps_per_epoch,
                hidden=self.hidden,
                seq_len=self.seq_len,
                batch_size=self.batch_size,
                optimizer=self.optimizer,
                lr=self.lr,
                clip=self.clip,
                seed=self.seed,
                init=self.init,
                batching=self.batching,
                keep_best=self.keep_best,
                backend=self.backend(),
                on_epoch=self.report_progress,
                checkpointer=self.checkpointer(),
                name=self.get_task_family(),
            )
        )


class TrainMoonsMLP(_Train):
    """The simple net on a generated two-moons set, for the report's decision-boundary figure."""

    n_train = luigi.IntParameter(description="generated training points")
    n_test = luigi.IntParameter(description="generated test points")
    noise = luigi.FloatParameter(description="standard deviation of the Gaussian noise on the moons")
    hidden = luigi.IntParameter(description="hidden units")
    lr = luigi.FloatParameter(description="learning rate")
    batch_size = luigi.IntParameter(description="points per update")
    code = ("pipeline.models.moons",)
    model = "moons"

    def validate(self) -> None:
        super().validate()
        ranges.positive(
            self, integer=True, n_train=self.n_train, n_test=self.n_test, hidden=self.hidden, batch_size=self.batch_size
        )
        ranges.at_least(self, 2, n_train=self.n_train, n_test=self.n_test)  # both moons get a point
        ranges.at_most(self, ranges.MAX_ITEMS, n_train=self.n_train, n_test=self.n_test)
        if self.n_train < self.batch_size:  # fails only in training: refuse it now
            raise ValueError(
                f"[TrainMoonsMLP] n_train must be at least one batch (batch_size {self.batch_size}), got {self.n_train}"
            )
        ranges.positive(self, lr=self.lr)
        ranges.at_least(self, 0, integer=False, noise=self.noise)

    def requires(self):
        return []

    def build(self, inputs):
        from pipeline.models.moons import train_moons_mlp

        return self.trained(
            train_moons_mlp(
                n_train=self.n_train,
                n_test=self.n_test,
                noise=self.noise,
                epochs=self.epochs,
                hidden=self.hidden,
                lr=self.lr,
                batch_size=self.batch_size,
                seed=self.seed,
                backend=self.backend(),
                on_epoch=self.report_progress,
                checkpointer=self.checkpointer(),
                name=self.get_task_family(),
            )
        )
