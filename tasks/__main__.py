"""``python -m tasks status|artifacts|...``: the engine's command line for this pipeline (see docs/cli.md)."""
import sys

import tasks  # noqa: F401 -- declares the project and registers its stages
from stagecache.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m tasks"))
