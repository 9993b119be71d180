"""What the pipeline knows of each model, and what the results are compared with.

The pipeline knows a model by its key here (``logreg``, ``mlp``, ``deep_mlp``, ``char_rnn``, ``moons``),
never by the name its caller gives it. Results arrive keyed by the caller's names (the name of the stage that
trained each model), with ``models``: ``{name: model key}``, which says which model each name is.
"""

from __future__ import annotations

from collections.abc import Mapping

# Labels and colours used for each model in every figure and table, in the order of tables and figures.
MODELS = {
    "logreg": {"label": "logistic regression", "color": "tab:blue"},
    "mlp": {"label": "simple net (784-625-10, sigmoid)", "color": "tab:orange"},
    "deep_mlp": {"label": "deep net (784-625-625-10, ReLU, dropout)", "color": "tab:green"},
    "char_rnn": {"label": "char-RNN (tanh, scan)", "color": "tab:purple"},
    "moons": {"label": "simple net on two moons (sigmoid)", "color": "tab:red"},
}
CLASSIFIERS = ("logreg", "mlp", "deep_mlp")  # the MNIST classifiers

# Test accuracy of the seeds' deep net by epoch, as published with the tutorials.
SEED_DEEP_MLP_ACCURACY = {1: 0.943, 6: 0.98, 50: 0.9856}

# Minimum test accuracy each classifier should reach with the default configuration.
ACCURACY_TARGETS = {"logreg": 0.90, "mlp": 0.97, "deep_mlp": 0.985}


def names(models: Mapping[str, str]) -> dict[str, str]:
    """``{model key: name}``: the caller's name for each model that ``models`` (``{name: model key}``) names."""
    out: dict[str, str] = {}
    for name, model in models.items():
        if model not in MODELS:
            raise ValueError(f"{name}: no model {model!r}; the models are {', '.join(MODELS)}")
        if model in out:
            raise ValueError(f"{out[model]} and {name} are both the model {model!r}")
        out[model] = name
    return out


def rank(models: Mapping[str, str], name: str) -> int:
    """Where the model named ``name`` goes in tables and figures: in :data:`MODELS` order, names ``models``
    does not know last."""
    model = models.get(name)
    return list(MODELS).index(model) if model in MODELS else len(MODELS)
