"""Stage 1: draw ``count`` integers."""

import random

import luigi

from stagecache import ArtifactTask


class MakeNumbers(ArtifactTask):
    """``count`` integers in [0, 100) drawn with ``seed``."""

    count = luigi.IntParameter(default=5, description="how many numbers to draw")
    seed = luigi.IntParameter(default=0, description="random seed")
    label = luigi.Parameter(default="", significant=False, description="a name for logs; changes no result")

    def validate(self) -> None:
        if self.count < 1:
            raise ValueError(f"[MakeNumbers] count must be >= 1, got {self.count}")

    def build(self, inputs):
        draw = random.Random(self.seed)
        return [draw.randrange(100) for _ in range(self.count)]
