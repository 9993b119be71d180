"""Stage 2: each number to a power."""

import luigi
from toydag.arith import Diverged, powers
from toydag.make import MakeNumbers

from stagecache.task import ArtifactTask


class Square(ArtifactTask):
    """The numbers of MakeNumbers raised to ``power``."""

    power = luigi.IntParameter(default=2, description="exponent")
    divergence_errors = (Diverged,)  # the same power overflows again: recorded, and refused next time

    def requires(self):
        return MakeNumbers()

    def build(self, numbers):
        return powers(numbers, self.power)
