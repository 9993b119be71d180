"""An ``s3://`` artifact root against a directory root, side by side: a quick full run and no-op reruns.

Starts a throwaway SeaweedFS server (``weed mini``, from the ``test`` extra) on 127.0.0.1, writes
tiny generated data (the tests' MNIST-like digits and text), and times, as separate processes:
a full run of ``FullReport`` (every stage, and the report published under the root) on tiny
settings (cold compile cache), then no-op reruns (everything cached and the report published;
interleaved). Prints a table and one JSON line (``--results FILE`` appends it).

Run from the project root: ``python benchmarks/s3_noop.py [--repeats 5] [--results benchmarks/results/x.jsonl]``.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = {
    "OneHotMNIST": {"train_limit": "0", "val_size": "128"},
    "BuildCharVocab": {"val_fraction": "0.1", "test_fraction": "0.1"},
    "TrainLogReg": {"epochs": "2", "lr": "0.1", "batch_size": "64"},
    "TrainMLP": {"epochs": "2", "hidden": "16", "lr": "0.5", "batch_size": "64"},
    "TrainDeepMLP": {"epochs": "2", "hidden": "[32, 32]", "lr": "0.01", "batch_size": "64"},
    "TrainCharRNN": {
        "epochs": "2",
        "steps_per_epoch": "5",
        "hidden": "16",
        "seq_len": "8",
        "batch_size": "4",
        "optimizer": "adam",
        "lr": "0.01",
        "init": "uniform",
        "batching": "windows",
    },
    "TrainMoonsMLP": {
        "epochs": "3",
        "n_train": "64",
        "n_test": "32",
        "noise": "0.2",
        "hidden": "8",
        "lr": "1.0",
        "batch_size": "16",
    },
    "EvaluateCharRNN": {"sample_length": "40"},
}


def _config(path: Path, root: str, data: dict, endpoint: str) -> None:
    cfg = configparser.ConfigParser(interpolation=None)
    sections = {
        "core": {"local_scheduler": "true", "no_lock": "true", "log_level": "INFO"},
        "artifacts": {"root": root, "lease_seconds": "30"},
        **TINY,
        **data,
    }
    if root.startswith("s3://"):
        sections["s3"] = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    for section, values in sections.items():
        cfg[section] = values
    with open(path, "w") as fh:
        cfg.write(fh)


def _run(directory: Path, env: dict) -> tuple[float, str]:
    from results_file import timed_run  # benchmarks/, beside this script

    return timed_run([sys.executable, "-m", "luigi", "--module", "tasks", "FullReport"], cwd=directory, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=None, help="append the JSON line to this file")
    args = parser.parse_args()

    from results_file import append_results  # benchmarks/, beside this script

    from tests.conftest import TINY_TEXT, write_mnist
    from tests.stores.conftest import BUCKET, SeaweedS3

    with tempfile.TemporaryDirectory(prefix="s3-noop-") as tmp:
        tmp = Path(tmp)
        mnist, text = tmp / "mnist", tmp / "text"
        mnist.mkdir(), text.mkdir()
        import hashlib

        (text / "input.txt").write_bytes(TINY_TEXT.encode())
        data = {
            "DownloadMNIST": {"mirrors": json.dumps([str(mnist)]), "sha256": json.dumps(write_mnist(mnist))},
            "DownloadShakespeare": {
                "mirrors": json.dumps([str(text)]),
                "sha256": json.dumps({"input.txt": hashlib.sha256(TINY_TEXT.encode()).hexdigest()}),
            },
        }
        server = SeaweedS3(tmp / "seaweedfs")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=server.access_key,
            AWS_SECRET_ACCESS_KEY=server.secret_key,
            AWS_CONFIG_FILE=str(tmp / "none"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        os.environ.update({k: env[k] for k in env if k.startswith("AWS_")})
        server.start()
        try:
            hosts = {}
            for name, root in (("local root", str(tmp / "local" / "artifacts")), ("s3 root", f"s3://{BUCKET}/bench")):
                directory = tmp / name.split()[0]
                directory.mkdir(exist_ok=True)
                _config(directory / "luigi.cfg", root, data, server.endpoint)
                hosts[name] = (
                    directory,
                    {**env, "LUIGI_CONFIG_PATH": str(directory / "luigi.cfg"), "PYTHONPATH": str(ROOT)},
                )
            full = {name: _run(*host)[0] for name, host in hosts.items()}
            noop: dict[str, list[float]] = {name: [] for name in hosts}
            for _ in range(args.repeats):
                for name, host in hosts.items():
                    elapsed, output = _run(*host)
                    if "Did not run any tasks" not in output:
                        raise SystemExit(f"{name}: the no-op run ran a task:\n{output[-2000:]}")
                    noop[name].append(elapsed)
        finally:
            server.kill()

    print(f"{'':<12} {'full run s':>10} {'no-op median s':>15} {'no-op min s':>12}   ({args.repeats} no-op runs each)")
    for name in hosts:
        print(f"{name:<12} {full[name]:>10.2f} {statistics.median(noop[name]):>15.3f} {min(noop[name]):>12.3f}")
    ratio = statistics.median(noop["s3 root"]) / statistics.median(noop["local root"])
    print(f"no-op on the S3 root / local root: {ratio:.2f}x (goal: at most 2x)")
    row = {
        "benchmark": "s3_noop",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "dag": "FullReport (tiny settings)",
        "full_local_s": round(full["local root"], 3),
        "full_s3_s": round(full["s3 root"], 3),
        "noop_local_s": round(statistics.median(noop["local root"]), 4),
        "noop_s3_s": round(statistics.median(noop["s3 root"]), 4),
        "noop_ratio": round(ratio, 3),
    }
    print(json.dumps(row))
    append_results(args.results, [row])


if __name__ == "__main__":
    main()
