"""Results from Python: build (if needed) and load a stage's verified artifact, for the configuration in effect,
another configuration file, a point, or a sweep's point (what ``gokart.build`` and ``dvc.api`` give their users)::

    import tasks.api
    deep = tasks.api.load("TrainDeepMLP")                                   # luigi.cfg in effect
    smoke = tasks.api.load("EvaluateDeepMLP", config="configs/smoke.cfg")   # luigi.cfg, then that file
    short = tasks.api.load("TrainDeepMLP", point={"TrainDeepMLP": {"epochs": "5"}})
    fast = tasks.api.load("EvaluateDeepMLP", sweep="sweeps/deep-epochs.cfg", label="epochs=10, lr=0.001")
    best = tasks.api.load("TrainDeepMLP", search="searches/smoke-deep.cfg", best=True)  # the search's choice

The functions are the engine's (:func:`stagecache.load`, :func:`stagecache.stage_task`,
:func:`stagecache.configuration`); importing them from here declares this pipeline first.
"""

from stagecache import configuration, load, stage_task

__all__ = ["configuration", "load", "stage_task"]
