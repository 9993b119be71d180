"""A toy pipeline on stagecache, for the engine's own tests: ``MakeNumbers -> Square -> Total``.

Importable as the top-level package ``toydag`` (``tests/engine`` on the path); run it as
``luigi --module toydag Total`` or ``python -m toydag status``. It declares itself the way any
pipeline does: project first, then luigi's configuration, stages, console and progress, checks.
"""

from toydag.project import PROJECT

from stagecache import configcheck
from stagecache.project import declare

declare(PROJECT)

with configcheck.exit_on_config_error():
    import luigi  # noqa: F401 -- reads every luigi.cfg in effect

from toydag.make import MakeNumbers  # noqa: E402
from toydag.square import Square  # noqa: E402
from toydag.total import Total  # noqa: E402

from stagecache import console, progress  # noqa: E402

__all__ = ["MakeNumbers", "Square", "Total"]

console.log_to_console()
progress.install()
configcheck.check_luigi_command_line()
