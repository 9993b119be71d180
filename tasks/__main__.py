"""``python -m tasks status|artifacts|search-journal|compare ...``: the engine's command line for this pipeline,
and its own ``compare`` (see docs/cli.md and docs/experiments.md)."""

import sys

import tasks  # noqa: F401 -- declares the project and registers its stages
from stagecache import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["compare"]:
        from tasks.compare import main as compare

        sys.exit(compare(sys.argv[2:]))
    sys.exit(main(prog="python -m tasks"))
