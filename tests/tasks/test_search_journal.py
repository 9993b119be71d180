"""``python -m tasks search-journal searches/NAME.cfg PATH`` on a real search of the tiny pipeline, and
``optuna-dashboard PATH`` serving what it wrote: the study, its trials, their states and values as the search's
artifact has them. (The export on a hand-made ledger: tests/engine/test_optuna_study.py.)"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import tasks
from stagecache import main
from tests.tasks.test_search import search_file

STATES = {"finished": "Complete", "stopped early": "Pruned", "failed": "Fail"}  # the search's and the dashboard's


def journal(*args: str) -> int:
    """``python -m tasks search-journal ARGS``, in this process: its exit code."""
    try:
        return main(["search-journal", *args], prog="python -m tasks")
    except SystemExit as exc:
        return int(exc.code or 0)


def dashboard_command() -> str:
    """The optuna-dashboard of this Python (the test extra installs it), else the one on PATH."""
    beside = Path(sys.executable).parent / "optuna-dashboard"
    found = str(beside) if beside.is_file() else shutil.which("optuna-dashboard")
    assert found, "optuna-dashboard is not installed: pip install -e '.[test]'"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, server: subprocess.Popen, timeout: float = 60.0):
    """GET ``url`` as JSON, retrying while the server starts (at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert server.poll() is None, f"optuna-dashboard exited: {server.communicate()[0][-3000:]}"
            assert time.monotonic() < deadline, f"optuna-dashboard did not answer {url} in {timeout:.0f} s"
            time.sleep(0.2)


def test_the_command_refuses_what_it_cannot_export_with_one_line(pipeline, tmp_path, capsys):
    path = search_file(tmp_path)
    out = tmp_path / "study.journal"
    assert journal(path, str(out)) == 25  # no study in the root yet
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"not started: {path}: the search logreg-lr has no study in "), err
    assert err[0].endswith(f"run luigi --module tasks Search --file {path}") and not out.exists()
    Path(path).write_text(Path(path).read_text().replace("objective = val_accuracy", "objective = test_accuracy"))
    assert journal(path, str(out)) == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"configuration error: {path}:4: ") and "test_accuracy" in err[0]
    assert journal(str(tmp_path / "missing.cfg"), str(out)) == 3
    assert "cannot read the search file" in capsys.readouterr().err and not out.exists()


def test_optuna_dashboard_serves_the_exported_search(pipeline, tmp_path, capsys):
    path = search_file(tmp_path, space="loguniform(0.0003, 0.003)")  # rates low enough to give distinct accuracies
    pipeline.build(tasks.Search(file=path))
    search = tasks.Search(file=path).output().load()
    assert len({v for t in search["trials"] for v in t["results"].values()}) >= 3, search["trials"]
    out = tmp_path / "study.journal"
    assert journal(path, str(out)) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: study logreg-lr, 5 trials (")
    before = out.read_bytes()
    assert journal(path, str(out)) == 3  # never written over silently
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"configuration error: {out} exists: name another file, or pass --replace to replace it "
        "(the journal is a snapshot)"
    ]
    assert out.read_bytes() == before
    assert journal(path, str(out), "--replace") == 0 and out.read_bytes() != before  # a new snapshot
    changed = Path(path).read_text().replace("loguniform(0.0003, 0.003)", "loguniform(0.0003, 0.004)")
    Path(path).write_text(changed)
    assert journal(path, str(tmp_path / "other.journal")) == 3  # the file no longer defines this study
    assert "give this search another name" in capsys.readouterr().err

    port = free_port()
    server = subprocess.Popen(
        [dashboard_command(), str(out), "--host", "127.0.0.1", "--port", str(port), "--server", "wsgiref"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies", server)["study_summaries"]
        assert [(s["study_name"], s["directions"]) for s in studies] == [("logreg-lr", ["maximize"])]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", server)
    finally:
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=30)

    served = detail["trials"]
    assert len(served) == len(search["trials"]) == 5
    assert {t["state"] for t in served} >= {"Complete", "Pruned"}  # the search promoted some and stopped others
    for trial, shown in zip(search["trials"], served):
        assert shown["number"] == trial["number"] and shown["state"] == STATES[trial["state"]], (trial, shown)
        (param,) = shown["params"]
        assert param["name"] == "TrainLogReg.lr"
        assert float(param["param_external_value"]) == float(trial["values"]["TrainLogReg.lr"])
        steps = {str(v["step"]): v["value"] for v in shown["intermediate_values"]}
        assert steps == trial["results"], (trial, shown)  # the objective at each rung, keyed by its epochs
        assert shown.get("values") == ([trial["results"]["4"]] if trial["state"] == "finished" else None)
        attrs = {a["key"]: a["value"] for a in shown["user_attrs"]}
        assert attrs["epochs"] == str(search["fidelity"]["rungs"][trial["rung"]]), attrs
        assert attrs["provenance"] == f"searches/logreg-lr/trials/{trial['number']}.json"
        assert (pipeline.root / attrs["provenance"]).is_file()
    (best,) = detail["best_trials"]
    assert best["number"] == search["best"]["trial"] and best["values"] == [search["best"]["value"]]
    assert detail["has_intermediate_values"] is True


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """urllib must reach 127.0.0.1 itself, whatever proxy the environment names."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
