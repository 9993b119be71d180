"""`status` and `artifacts list/gc` against real builds: the dry run changes nothing on disk."""
import hashlib
from pathlib import Path

import tasks
from tasks.__main__ import main
from tasks.manifest import CORRUPT, PRESENT
from tasks.status import CACHED, MISSING, WILL_RUN, plan


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
    flip_last_byte(train.path)                       # needed by the next run: rebuilt
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
    assert [n.rsplit(".", 1)[0] for n in quarantined] == [f"TrainLogReg-{train.path.name}",
                                                          f"TrainLogReg-{train.manifest_path.name}"]
    assert download.verdict().state == CORRUPT and download.path.exists()  # no run needed it
