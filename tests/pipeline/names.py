"""What tasks/ calls each model (the family of the stage that trains it), as the pipeline's tests name them:
pipeline/ names no stage and takes these names with ``models``, ``{name: model key}``."""

MODELS = {
    "TrainLogReg": "logreg",
    "TrainMLP": "mlp",
    "TrainDeepMLP": "deep_mlp",
    "TrainCharRNN": "char_rnn",
    "TrainMoonsMLP": "moons",
}
