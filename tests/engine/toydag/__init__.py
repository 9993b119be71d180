"""A toy pipeline on stagecache, for the engine's own tests: ``MakeNumbers -> Square -> Total``, and beside
Total a checkpointed ``Train`` (along ``epochs``), both read by ``Summary``; ``ToySweep`` builds a stage in
many points.

Importable as the top-level package ``toydag`` (``tests/engine`` on the path); run it as
``luigi --module toydag Total`` or ``python -m toydag status``. It declares itself the way any
pipeline does: project first, then luigi's configuration, its stages, then ``stagecache.install()``.
Plain Python (no numpy): it runs where the engine alone is installed (``tests/engine/test_standalone.py``).
"""

from toydag.project import PROJECT

import stagecache
from stagecache import configcheck

stagecache.declare(PROJECT)

with configcheck.exit_on_config_error():
    import luigi  # noqa: F401 -- reads every luigi.cfg in effect

from toydag.make import MakeNumbers  # noqa: E402
from toydag.square import Square  # noqa: E402
from toydag.summary import Summary  # noqa: E402
from toydag.sweep import ToySweep  # noqa: E402
from toydag.total import Total  # noqa: E402
from toydag.train import Train  # noqa: E402

__all__ = ["MakeNumbers", "Square", "Total", "Train", "Summary", "ToySweep"]

stagecache.install()
