"""What continuing a training saves: the deep net (luigi.cfg's TrainDeepMLP) on real MNIST, trained for
``--long`` epochs by continuing a ``--short`` epoch build, against the same ``--long`` epochs from scratch.

    python benchmarks/continuation.py --data DIR [--short 10] [--long 20] [--output FILE]

Each build is its own ``luigi --module tasks TrainDeepMLP --epochs N`` process, with luigi.cfg plus an
overlay (a fresh artifact root per side, the MNIST files of ``DATA/mnist`` as the mirror, and one compile
cache for all runs). In order: the data on both roots (not timed); ``--short`` epochs on root A (this
also warms the compile cache); ``--long`` from scratch on root B; ``--long`` on root A, which continues
from the ``--short`` build. Prints the seconds of both ``--long`` builds and their ratio, checks that the
two ended with the same weights and history to the bit, and prints one JSON line (``--output`` appends it).
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from results_file import append_results, timed_run  # benchmarks/, beside this script

PROJECT = Path(__file__).resolve().parents[1]


def _overlay(path: Path, root: Path, data: Path, cache: Path) -> Path:
    config = configparser.ConfigParser()
    config["artifacts"] = {"root": str(root)}
    config["DownloadMNIST"] = {"mirrors": json.dumps([str(data / "mnist")])}
    config["pytensor"] = {"compile_cache": str(cache)}
    with open(path, "w") as fh:
        config.write(fh)
    return path


def _luigi(overlay: Path, *args: str) -> tuple[float, str]:
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(overlay), "PYTHONPATH": str(PROJECT)}
    return timed_run(
        [sys.executable, "-m", "luigi", "--module", "tasks", *args, "--local-scheduler"], cwd=PROJECT, env=env
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder holding mnist/ (the four IDX files)")
    parser.add_argument("--short", type=int, default=10, help="epochs of the build continued from")
    parser.add_argument("--long", type=int, default=20, help="epochs of the builds compared")
    parser.add_argument("--output", type=Path, help="append the JSON line to this file")
    args = parser.parse_args()
    if not 0 < args.short < args.long:
        raise SystemExit("need 0 < --short < --long")

    with tempfile.TemporaryDirectory(prefix="continuation-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "compile_cache"
        a = _overlay(tmp / "a.cfg", tmp / "root-a", args.data.resolve(), cache)
        b = _overlay(tmp / "b.cfg", tmp / "root-b", args.data.resolve(), cache)
        _luigi(a, "OneHotMNIST")
        _luigi(b, "OneHotMNIST")
        short_s, _ = _luigi(a, "TrainDeepMLP", "--epochs", str(args.short))
        scratch_s, _ = _luigi(b, "TrainDeepMLP", "--epochs", str(args.long))
        continued_s, out = _luigi(a, "TrainDeepMLP", "--epochs", str(args.long))
        if f"continuing from epochs={args.short}" not in out:
            raise SystemExit("the longer build did not continue from the shorter one:\n" + out[-3000:])

        def load(root: Path) -> tuple[dict, dict]:
            import joblib

            for path in (root / "TrainDeepMLP").glob("*.json"):
                manifest = json.loads(path.read_text())
                if manifest["significant_params"]["epochs"] == str(args.long):
                    return joblib.load(path.with_suffix(".joblib")), manifest
            raise SystemExit(f"no {args.long}-epoch TrainDeepMLP artifact under {root}")

        continued, manifest = load(tmp / "root-a")
        scratch, _ = load(tmp / "root-b")
        identical = (
            all(np.array_equal(continued["weights"][k], scratch["weights"][k]) for k in scratch["weights"])
            and continued["history"]["train_loss"] == scratch["history"]["train_loss"]
            and continued["history"]["test_accuracy"] == scratch["history"]["test_accuracy"]
        )
        state_bytes = manifest["training_state"]["bytes"]

    ratio = continued_s / scratch_s
    print(f"TrainDeepMLP on MNIST, whole `luigi` processes (seconds, wall clock; {os.cpu_count()} CPUs):")
    print(f"  {args.short:>3} epochs from scratch (continued from):   {short_s:8.1f}")
    print(f"  {args.long:>3} epochs from scratch:                    {scratch_s:8.1f}")
    print(f"  {args.long:>3} epochs continuing the {args.short}-epoch build:  {continued_s:8.1f}")
    print(
        f"  ratio continued / scratch: {ratio:.3f}; same weights and history to the bit: {identical}; "
        f"training state kept: {state_bytes / 2**20:.1f} MiB"
    )
    row = {
        "benchmark": "continuation",
        "model": "deep_mlp",
        "short_epochs": args.short,
        "long_epochs": args.long,
        "short_s": round(short_s, 2),
        "scratch_s": round(scratch_s, 2),
        "continued_s": round(continued_s, 2),
        "ratio": round(ratio, 4),
        "bit_identical": identical,
        "training_state_bytes": state_bytes,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(row))
    append_results(args.output, [row])
    if not identical:
        raise SystemExit("the continued training differs from the one from scratch")


if __name__ == "__main__":
    main()
