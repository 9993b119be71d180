"""``luigi --module toydag ToySweep --file SWEEP.cfg``: the engine's sweep, declared as a pipeline declares one (nothing
more). Not ``Sweep``: luigi knows a task by its class name, and a test process also registers the pipeline's."""

from stagecache import SweepTask


class ToySweep(SweepTask):
    """Each point's stage built in that point; the artifact lists each point's label, values and fingerprint."""
