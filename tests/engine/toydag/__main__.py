"""``python -m toydag status|artifacts ...``: the engine's command line for the toy pipeline."""

import sys

import toydag  # noqa: F401 -- declares the project and registers its stages

from stagecache import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m toydag"))
