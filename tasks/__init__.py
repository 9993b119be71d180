"""Luigi wiring of the pipeline: one task per stage. Run ``luigi --module tasks FullReport``."""
import logging

from tasks.configcheck import check_luigi_command_line, exit_on_config_error

with exit_on_config_error():  # a luigi.cfg that luigi cannot parse: one line and exit code 3, no traceback
    import luigi  # noqa: F401 -- reads every luigi.cfg in effect

from tasks.threads import limit_threads

limit_threads()  # before anything imports numpy or JAX

from tasks.data import BuildCharVocab, DownloadMNIST, DownloadShakespeare, OneHotMNIST
from tasks.evaluate import EvaluateCharRNN, EvaluateDeepMLP, EvaluateLogReg, EvaluateMLP
from tasks.report import FullReport
from tasks.retrain import CheckSources, Retrain
from tasks.train import TrainCharRNN, TrainDeepMLP, TrainLogReg, TrainMLP, TrainMoonsMLP
from tasks import progress  # noqa: F401,E402 -- plan, stage k/N lines and the final table (event handlers)

# luigi configures only its own logger; give the library's progress lines (epochs, ETA,
# downloads, artifacts written) a console handler too, unless the application set up logging.
if not logging.getLogger().handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    for _name in ("pipeline", "tasks"):
        logging.getLogger(_name).addHandler(_handler)
        logging.getLogger(_name).setLevel(logging.INFO)

__all__ = [
    "DownloadMNIST", "DownloadShakespeare", "OneHotMNIST", "BuildCharVocab",
    "TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP",
    "EvaluateLogReg", "EvaluateMLP", "EvaluateDeepMLP", "EvaluateCharRNN", "FullReport",
    "CheckSources", "Retrain",
]

# `luigi --module tasks ...` imports this package before it schedules anything: check the
# configuration and the command line here (one line per problem and exit code 3).
check_luigi_command_line()
