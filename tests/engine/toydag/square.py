"""Stage 2: each number to a power, reported as the toy's one training epoch."""

import luigi
from toydag.arith import Diverged, powers
from toydag.make import MakeNumbers

from stagecache import ArtifactTask, ReportsProgress


class Square(ReportsProgress, ArtifactTask):
    """The numbers of MakeNumbers raised to ``power``."""

    power = luigi.IntParameter(default=2, description="exponent")
    divergence_errors = (Diverged,)  # the same power overflows again: recorded, and refused next time

    def requires(self):
        return MakeNumbers()

    def build(self, numbers):
        squares = powers(numbers, self.power)
        self.report_progress({"epoch": 1, "epochs": 1, "largest": float(max(squares))})
        return squares
