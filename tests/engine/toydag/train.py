"""Stage 4, beside Total: a toy "training", one checkpoint per epoch, that a longer build continues."""

import logging
import time

import luigi
from toydag.square import Square

from stagecache import ArtifactTask, ReportsProgress
from stagecache.core import ranges

log = logging.getLogger(__name__)


class Train(ReportsProgress, ArtifactTask):
    """``epochs`` passes from ``start``, each adding ``epoch * sum(squares)`` to a running value; a checkpoint after
    each.

    A rerun resumes after its newest checkpoint, and a build with more epochs continues from the final
    training state of a shorter one (``continues_along``), as a pipeline's trainings do.
    """

    epochs = luigi.IntParameter(default=3, description="passes")
    start = luigi.IntParameter(default=0, description="the value before the first pass")
    epoch_seconds = luigi.FloatParameter(
        default=0.0, significant=False, description="seconds each pass waits first (so a test can stop it mid-way)"
    )
    continues_along = "epochs"
    retry_count = 2  # as a pipeline's trainings: luigid retries the training of a worker that died, from its checkpoint

    def requires(self):
        return self.stage(Square)

    def validate(self) -> None:
        ranges.positive(self, integer=True, epochs=self.epochs)
        ranges.at_least(self, 0, integer=False, epoch_seconds=self.epoch_seconds)

    def build(self, squares):
        assert self.run_target is not None  # fixed by run() before it builds
        checkpointer = self.run_target.checkpointer()
        state = checkpointer.load_latest() or {"epoch": 0, "values": []}
        if state["epoch"]:
            log.info("%s: resuming after epoch %d from its checkpoint", self.get_task_family(), state["epoch"])
        for epoch in range(state["epoch"] + 1, self.epochs + 1):
            time.sleep(self.epoch_seconds)
            value = (state["values"][-1] if state["values"] else self.start) + epoch * sum(squares)
            state = {"epoch": epoch, "values": [*state["values"], value]}
            checkpointer.save(epoch, state)
            self.report_progress({"epoch": epoch, "epochs": self.epochs, "value": float(value)})
        return {"epoch": list(range(1, self.epochs + 1)), "values": state["values"]}
