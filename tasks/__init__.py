"""This pipeline's DAG on the stagecache engine: one luigi task per stage. Run ``luigi --module tasks FullReport``.

Everything this package sets up when luigi imports it happens here, in this order: the project
is declared to the engine, luigi reads the configuration (a file it cannot parse is one line and
exit code 3), thread limits are set before numpy or JAX load, the stages are registered, and
``stagecache.install()`` switches on what the engine does around a run (console and progress lines,
claims, sweep point lines, preloading, epochs reported to luigid, and under ``luigi --module tasks``
SIGTERM/SIGINT handling and tolerance of a central scheduler that stops answering) and checks the
configuration and command line.
"""

import stagecache
from stagecache import configcheck
from tasks.project import PROJECT

stagecache.declare(PROJECT)

with configcheck.exit_on_config_error():
    import luigi  # noqa: F401 -- reads every luigi.cfg in effect

from tasks.threads import limit_threads

limit_threads()  # before anything imports numpy or JAX

from tasks.data import BuildCharVocab, DownloadMNIST, DownloadShakespeare, OneHotMNIST
from tasks.evaluate import EvaluateCharRNN, EvaluateDeepMLP, EvaluateLogReg, EvaluateMLP
from tasks.report import FullReport
from tasks.retrain import CheckSources, Retrain
from tasks.search import Search
from tasks.sweep import Sweep
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP, TrainMoonsMLP

__all__ = [
    "DownloadMNIST",
    "DownloadShakespeare",
    "OneHotMNIST",
    "BuildCharVocab",
    "TrainLogReg",
    "TrainMLP",
    "TrainDeepMLP",
    "TrainCharRNN",
    "TrainMoonsMLP",
    "EvaluateLogReg",
    "EvaluateMLP",
    "EvaluateDeepMLP",
    "EvaluateCharRNN",
    "FullReport",
    "CheckSources",
    "Retrain",
    "Sweep",
    "Search",
]

stagecache.install()  # everything the engine does around a run; under `luigi --module tasks`, the command-line check
