"""What the results are compared with: the seeds' published numbers and the acceptance targets."""

# Names and colours used for each model in every figure and table.
MODELS = {
    "TrainLogReg": {"label": "logistic regression", "color": "tab:blue"},
    "TrainMLP": {"label": "simple net (784-625-10, sigmoid)", "color": "tab:orange"},
    "TrainDeepMLP": {"label": "deep net (784-625-625-10, ReLU, dropout)", "color": "tab:green"},
    "TrainCharRNN": {"label": "char-RNN (tanh, scan)", "color": "tab:purple"},
    "TrainMoonsMLP": {"label": "simple net on two moons (sigmoid)", "color": "tab:red"},
}
CLASSIFIERS = ("TrainLogReg", "TrainMLP", "TrainDeepMLP")

# Test accuracy of the seeds' deep net by epoch, as published with the tutorials.
SEED_DEEP_MLP_ACCURACY = {1: 0.943, 6: 0.98, 50: 0.9856}

# Minimum test accuracy each classifier should reach with the default configuration.
ACCURACY_TARGETS = {"TrainLogReg": 0.90, "TrainMLP": 0.97, "TrainDeepMLP": 0.985}
