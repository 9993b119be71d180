"""Stage 3: the sum of the squares."""
from stagecache.task import ArtifactTask
from toydag.square import Square


class Total(ArtifactTask):
    """The sum of Square's numbers, as a Python int."""

    def requires(self):
        return Square()

    def build(self, squares):
        return int(squares.sum())
