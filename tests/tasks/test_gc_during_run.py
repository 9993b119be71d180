"""``artifacts gc`` while a run trains: it skips what the run uses, and the run, or its rerun after a kill,
never loses a finished epoch and builds nothing twice (tests/tasks/test_reliability.py has the other faults)."""

from __future__ import annotations

import logging
import os
import signal

import tasks
from stagecache.cli import main
from tests.tasks.conftest import luigi_process
from tests.tasks.test_reliability import _epochs_saved, _wait_for

EPOCHS = "200"  # long enough for gc to run while it trains; the plain configuration (gc's) trains 2


def _gc(capsys) -> str:
    assert main(["artifacts", "gc", "--keep", "0"]) == 0
    return capsys.readouterr().out


def test_gc_during_a_run_skips_what_it_uses_and_a_killed_run_resumes(pipeline, tmp_path, capsys, caplog):
    pipeline.build(tasks.OneHotMNIST())
    # the run's configuration: its own prepared data (which it built and will read again) and a long training
    pipeline.set("OneHotMNIST", "train_limit", "200")
    pipeline.set("TrainMLP", "epochs", EPOCHS)
    data, training = tasks.OneHotMNIST().output(), tasks.TrainMLP().output()
    proc = luigi_process(pipeline, tmp_path, "EvaluateMLP")
    try:
        assert _wait_for(lambda: _epochs_saved(training) >= 3), proc.communicate()[0][-3000:]
        os.killpg(proc.pid, signal.SIGSTOP)  # paused, not ended: it holds its claim, locks and checkpoints meanwhile
        # gc's own configuration (the plain one) uses neither the run's data nor its training
        pipeline.set("OneHotMNIST", "train_limit", "0")
        pipeline.set("TrainMLP", "epochs", "2")
        out = _gc(capsys)
        assert f"skipped {data.stem}: in use by the run " in out, out  # written, unlocked: only the claim protects it
        assert f"skipped {training.stem}: " in out, out  # being built: its lock, and the claim
        assert "removed" in out and data.stem not in out.replace(f"skipped {data.stem}", "")
        assert training.checkpoint_dir.is_dir() and training.lock_path.exists() and data.exists()
        dry = main(["artifacts", "gc", "--keep", "0", "--dry-run"]) == 0 and capsys.readouterr().out
        assert training.stem not in dry.replace(f"skipped {training.stem}", "")
        epochs_done = max(int(p.stem.split("-")[1]) for p in training.checkpoint_dir.glob("epoch-*.json"))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not training.exists() and training.checkpoint_dir.is_dir()  # killed mid-training, checkpoints kept

    # the rerun of the same configuration resumes where the killed run stopped, and builds each stage once
    pipeline.set("OneHotMNIST", "train_limit", "200")
    pipeline.set("TrainMLP", "epochs", EPOCHS)
    caplog.set_level(logging.INFO, logger="pipeline")
    assert pipeline.build(tasks.EvaluateMLP()) == {"TrainMLP", "EvaluateMLP"}  # its data was kept: not rebuilt
    resumed = [r.getMessage() for r in caplog.records if "resuming after epoch" in r.getMessage()]
    assert resumed and int(resumed[0].split("resuming after epoch ")[1].split()[0]) >= epochs_done
    assert training.load()["history"]["epoch"] == list(range(1, int(EPOCHS) + 1))
    assert pipeline.build(tasks.EvaluateMLP()) == set()


def test_gc_of_a_finished_run_removes_what_no_configuration_uses(pipeline, tmp_path, capsys):
    """Once the run has ended its claim goes with it: the same gc removes its artifacts."""
    pipeline.build(tasks.OneHotMNIST())
    pipeline.set("TrainLogReg", "epochs", "3")
    proc = luigi_process(pipeline, tmp_path, "TrainLogReg")
    assert proc.wait(timeout=300) == 0, proc.communicate()[0][-3000:]
    stem = tasks.TrainLogReg().output().stem
    pipeline.set("TrainLogReg", "epochs", "2")
    out = _gc(capsys)
    assert f"removed {stem}" in out and "skipped" not in out, out


def test_two_configurations_at_once_on_one_root_each_keep_their_own_report(pipeline, tmp_path):
    """Two commands with different configurations, at the same time: each run's closing link names its own
    report (``reports/<fingerprint>/``), whose provenance is its configuration; ``report/`` is the latest."""
    import json
    from pathlib import Path

    pipeline.build(tasks.FullReport())
    runs = {}
    for epochs in ("3", "4"):
        pipeline.set("TrainLogReg", "epochs", epochs)
        (tmp_path / epochs).mkdir()
        runs[epochs] = (tasks.FullReport().fingerprint(), luigi_process(pipeline, tmp_path / epochs, "FullReport"))
    pipeline.set("TrainLogReg", "epochs", "2")
    for epochs, (fingerprint, proc) in runs.items():
        out = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, out[-3000:]
        links = [
            line.split("report: ", 1)[1]
            for line in out.splitlines()
            if "INFO: stagecache.run.progress: report: " in line
        ]
        assert links, out[-3000:]
        own = pipeline.root.resolve() / "reports" / fingerprint[:16] / "index.html"
        assert links[-1] == own.as_uri(), (epochs, links)
        provenance = json.loads((own.parent / "provenance.json").read_text())
        assert provenance["fingerprint"] == fingerprint
        assert {s["task"]: s["params"]["epochs"] for s in provenance["stages"] if s["task"] == "TrainLogReg"} == {
            "TrainLogReg": epochs
        }
    latest = json.loads(Path(pipeline.root / "report" / "provenance.json").read_text())["fingerprint"]
    assert latest in {fp for fp, _ in runs.values()}


def test_the_closing_link_of_a_two_worker_run_with_a_command_line_value_names_its_own_report(pipeline, tmp_path):
    """Issue 33 item 2: with ``--workers 2`` the last stage's end comes from a worker process, after luigi has
    dropped the command-line values; the closing link was then computed for the configuration without them
    (the default's report, or none). It names the report this run wrote, and so does the rerun's
    ``nothing to run`` line (logged as the process exits)."""
    pipeline.build(tasks.FullReport())  # the configuration without the flag has its own report
    default = pipeline.root.resolve() / "reports" / tasks.FullReport().fingerprint()[:16] / "index.html"
    pipeline.set("TrainDeepMLP", "epochs", "3")
    own = pipeline.root.resolve() / "reports" / tasks.FullReport().fingerprint()[:16] / "index.html"
    pipeline.set("TrainDeepMLP", "epochs", "2")
    assert default.exists() and own != default
    for attempt in ("run", "rerun"):
        proc = luigi_process(pipeline, tmp_path, "FullReport", "--workers", "2", "--TrainDeepMLP-epochs", "3")
        out = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, out[-3000:]
        links = [
            line.split("report: ", 1)[1] for line in out.splitlines() if "stagecache.run.progress: report: " in line
        ]
        assert links == [own.as_uri()], (attempt, links, out[-6000:])
        if attempt == "run":
            assert f"report written: {own.as_uri()}" in out, out[-3000:]
        else:
            assert "nothing to run: FullReport is up to date" in out, out[-3000:]
