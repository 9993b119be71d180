"""Stage 3: the sum of the squares."""

from toydag.square import Square

from stagecache import ArtifactTask


class Total(ArtifactTask):
    """The sum of Square's numbers, as a Python int."""

    def requires(self):
        return self.stage(Square)

    def build(self, squares):
        return int(sum(squares))
