"""`status` and `artifacts list/gc` against real builds: the dry run changes nothing on disk, and gc keeps
whatever a champion, the retrain history or the published report refers to."""

import datetime
import hashlib
import json
from pathlib import Path

import pytest

import tasks
from stagecache.cli import main
from stagecache.stages.status import CACHED, MISSING, WILL_RUN, plan
from stagecache.storage.manifest import CORRUPT, PRESENT
from stagecache.storage.roots.directory import DirectoryRoot
from tasks.project import CHAMPION, HISTORY, REPORT, references

DAY1 = datetime.date(2026, 1, 30)


def tree(root: Path) -> dict:
    """Every path under ``root`` (and root itself) with its size, mtime and, for files, content hash."""
    out = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        out[str(path.relative_to(root))] = (path.is_dir(), st.st_size, st.st_mtime_ns, digest)
    return out


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_status_changes_nothing_on_disk_and_the_run_that_needs_it_quarantines(pipeline, capsys):
    assert pipeline.build(tasks.TrainLogReg()) == {"DownloadMNIST", "OneHotMNIST", "TrainLogReg"}
    train, download = tasks.TrainLogReg().output(), tasks.DownloadMNIST().output()
    flip_last_byte(train.path)  # needed by the next run: rebuilt
    download.path.write_bytes(download.path.read_bytes()[:-5])  # needed by nothing cached downstream: left alone
    before = tree(pipeline.root)

    statuses = {s.family: s for s in plan(tasks.TrainLogReg())}
    assert (statuses["TrainLogReg"].state, statuses["TrainLogReg"].label) == (WILL_RUN, "corrupt (will rebuild)")
    assert statuses["TrainLogReg"].reasons == ["artifact corrupt: sha256 does not match the manifest"]
    assert (statuses["DownloadMNIST"].state, statuses["DownloadMNIST"].label) == (MISSING, "corrupt")
    assert statuses["OneHotMNIST"].state == CACHED
    assert main(["status", "TrainLogReg"]) == 0
    assert main(["artifacts", "list", "TrainLogReg"]) == 0
    assert main(["artifacts", "gc", "TrainLogReg", "--dry-run", "--keep", "0"]) == 0
    assert not tasks.TrainLogReg().complete() and not tasks.DownloadMNIST().complete()
    out = capsys.readouterr().out
    assert any(line.startswith("TrainLogReg") and "corrupt (will rebuild)" in line for line in out.splitlines())
    assert any(line.startswith("DownloadMNIST") and "corrupt  " in line for line in out.splitlines())
    assert tree(pipeline.root) == before

    assert pipeline.build(tasks.TrainLogReg()) == {"TrainLogReg"}
    assert train.verdict().state == PRESENT and set(train.load()) >= {"weights", "history"}
    quarantined = sorted(p.name for p in (pipeline.root / "_quarantine").iterdir())
    assert [n.rsplit(".", 1)[0] for n in quarantined] == [
        f"TrainLogReg-{train.path.name}",
        f"TrainLogReg-{train.manifest_path.name}",
    ]
    assert download.verdict().state == CORRUPT and download.path.exists()  # no run needed it


def test_gc_keeps_what_champions_history_and_the_report_refer_to(pipeline, capsys):
    pipeline.build(tasks.Retrain(date=DAY1))  # real champions and history, for every model family
    champion = json.loads((pipeline.root / "champions" / "TrainLogReg.json").read_text())
    champion_train, champion_eval = Path(champion["artifact"]), Path(champion["evaluation"])
    first_report = tasks.FullReport().output().path
    pipeline.set("TrainLogReg", "lr", "0.2")  # a model no champion, history record or report refers to
    assert pipeline.build(tasks.EvaluateLogReg()) == {"TrainLogReg", "EvaluateLogReg"}
    unreferenced = tasks.TrainLogReg().output().path
    pipeline.set("TrainLogReg", "lr", "0.3")
    assert pipeline.build() == {"TrainLogReg", "EvaluateLogReg", "FullReport"}

    main(["artifacts", "list"])
    rows = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows[("TrainLogReg", champion_train.stem)].endswith("champion / history")
    assert rows[("EvaluateLogReg", champion_eval.stem)].endswith("champion / history")  # the decision names it
    assert rows[("TrainMoonsMLP", tasks.TrainMoonsMLP().output().path.stem)].endswith("report")
    assert rows[("TrainLogReg", unreferenced.stem)].endswith("  no")  # unused, nothing refers to it

    assert main(["artifacts", "gc", "--keep", "0"]) == 0
    removed = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("removed ")]
    assert f"TrainLogReg/{unreferenced.stem}" in removed and not unreferenced.exists()
    assert f"TrainLogReg/{champion_train.stem}" not in removed
    for path in (champion_train, champion_eval):
        assert path.exists() and path.with_suffix(".json").exists()
    assert f"FullReport/{first_report.stem}" in removed  # no longer the published one
    assert pipeline.build() == set()  # the current DAG is intact
    # the record that a scheduled day ran stays: without it RangeDaily would retrain that day again
    assert not any(r.startswith(("Retrain/", "CheckSources/")) for r in removed), removed
    assert list((pipeline.root / "Retrain").glob("*.joblib")) and list(
        (pipeline.root / "CheckSources").glob("*.joblib")
    )

    # a gc rooted elsewhere still keeps every stage of the published report
    main(["artifacts", "gc", "TrainMLP", "--keep", "0", "--dry-run"])
    would = [line.split()[2] for line in capsys.readouterr().out.splitlines() if line.startswith("would remove ")]
    report_only = {
        f"EvaluateLogReg/{tasks.EvaluateLogReg().output().path.stem}",
        f"TrainMoonsMLP/{tasks.TrainMoonsMLP().output().path.stem}",
        f"FullReport/{tasks.FullReport().output().path.stem}",
    }
    assert not report_only & set(would), would


def test_kept_references_reads_each_source(tmp_path, caplog):
    root = tmp_path / "artifacts"
    (root / "champions").mkdir(parents=True)
    (root / "report").mkdir()
    (root / "champions" / "TrainMLP.json").write_text(
        json.dumps(
            {
                "model": "TrainMLP",
                "fingerprint": "a" * 64,
                "artifact": str(root / "TrainMLP" / f"{'a' * 16}.joblib"),
                "evaluation": f"elsewhere/EvaluateMLP/{'b' * 16}.joblib",
            }
        )
    )
    (root / "history.jsonl").write_text(
        json.dumps({"model": "TrainMLP", "fingerprint": "c" * 64})
        + "\n"
        + '{"model": "TrainL\n'
        + json.dumps(
            {  # a decision names what it judged
                "model": "TrainMLP",
                "fingerprint": "c" * 64,
                "artifacts": {"artifact": f"TrainMLP/{'c' * 16}", "evaluation": f"EvaluateMLP/{'f' * 16}"},
            }
        )
        + "\n"
    )
    (root / "report" / "provenance.json").write_text(
        json.dumps({"fingerprint": "d" * 64, "stages": [{"task": "OneHotMNIST", "fingerprint": "e" * 64}]})
    )
    assert references(DirectoryRoot(root)) == {
        ("TrainMLP", "a" * 16): {CHAMPION},
        ("EvaluateMLP", "b" * 16): {CHAMPION},
        ("TrainMLP", "c" * 16): {HISTORY},
        ("EvaluateMLP", "f" * 16): {HISTORY},
        ("FullReport", "d" * 16): {REPORT},
        ("OneHotMNIST", "e" * 16): {REPORT},
    }
    assert any("line 2 is not a JSON record" in r.message for r in caplog.records)

    (root / "champions" / "TrainMLP.json").write_text('{"model": ')
    with pytest.raises(ValueError, match="TrainMLP.json cannot be read .*gc removes nothing"):
        references(DirectoryRoot(root))
