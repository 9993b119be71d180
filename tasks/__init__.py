"""This pipeline's DAG on the stagecache engine: one luigi task per stage. Run ``luigi --module tasks FullReport``.

Everything this package sets up when luigi imports it happens here, in this order: the project
is declared to the engine, luigi reads the configuration (a file it cannot parse is one line and
exit code 3), thread limits are set before numpy or JAX load, the stages are registered, the
console and progress lines are switched on (and, under ``luigi --module tasks``, SIGTERM and SIGINT
handling, :mod:`stagecache.signals`, and tolerance of a central scheduler that stops answering,
:mod:`stagecache.schedulerloss`), and the configuration and command line are checked.
"""

from stagecache import configcheck
from stagecache.project import declare
from tasks.project import PROJECT

declare(PROJECT)

with configcheck.exit_on_config_error():
    import luigi  # noqa: F401 -- reads every luigi.cfg in effect

from stagecache import claims, console, preload, progress, run_outcome, schedulerloss, signals, sweep_progress
from stagecache.task import ArtifactTask
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

console.log_to_console()  # the pipeline's lines (epochs, ETA, downloads, artifacts written) on the console
progress.install()  # the plan, stage k/N lines and the final table
claims.install(ArtifactTask)  # what a run uses, artifacts gc leaves alone while it lives
sweep_progress.install()  # a sweep's points done/total, with an ETA
preload.install()  # once a stage will run: import what stages need before luigi forks worker processes
if configcheck.entry_point() == "luigi":
    signals.install()  # SIGTERM/SIGINT: one line, worker processes stopped too, exit 143/130
    schedulerloss.install()  # luigid gone mid-run: running stages finish and are saved, exit 45
    run_outcome.install()  # a sweep with failed points: exit 5 where luigi says 0
configcheck.check_luigi_command_line()  # under `luigi --module tasks`: one line per mistake and exit code 3
