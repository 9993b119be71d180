"""The exit code that refines luigi's as the `luigi` command ends (stagecache/run/outcome.py), on the toy DAG."""

from __future__ import annotations

import logging

from stagecache.run.outcome import _refined

NOT_RUN, FAILED = 25, 30  # as this pipeline's luigi.cfg sets them


def test_not_run_becomes_0_once_the_asked_for_task_is_built_by_another_worker(toy_dir, caplog):
    """luigid gave the remaining stages to another worker process (luigi: 25, "not granted run permission"):
    once the task asked for is built, the work is done and the code is 0, with a line that says so; while it is
    not, 25 stays. luigi's other codes are kept, and its 0 stays 0 for a task that asks for nothing."""
    caplog.set_level(logging.INFO, logger="stagecache.run.outcome")
    toy_dir.set("retcode", "not_run", str(NOT_RUN))  # luigi's own default is 0
    toy_dir.set("retcode", "task_failed", str(FAILED))
    assert _refined(NOT_RUN, ["Total"]) == NOT_RUN  # nothing built yet
    assert not caplog.records
    toy_dir.build()
    caplog.clear()
    assert _refined(NOT_RUN, ["Total"]) == 0
    assert [r.getMessage() for r in caplog.records if r.name == "stagecache.run.outcome"] == [
        "Total is built: the central scheduler gave its remaining stages to other workers (exit 0, not 25)"
    ]
    assert _refined(FAILED, ["Total"]) == FAILED
    assert _refined(0, ["Total"]) == 0
    assert _refined(NOT_RUN, ["NoSuchTask"]) == NOT_RUN  # never a traceback instead of luigi's code


def test_a_0_under_luigid_for_a_task_another_worker_still_builds_becomes_not_run(toy_dir, caplog):
    """luigi counts a task "being run by another worker" as fine: under luigid, a 0 for a task that is not built
    says 25 instead, with a line; with the local scheduler (no other worker) a 0 stays 0."""
    caplog.set_level(logging.INFO, logger="stagecache.run.outcome")
    toy_dir.set("retcode", "not_run", str(NOT_RUN))
    toy_dir.set("core", "local_scheduler", "false")
    assert _refined(0, ["Total"]) == NOT_RUN
    assert [r.getMessage() for r in caplog.records if r.name == "stagecache.run.outcome"] == [
        "Total is not built yet: the central scheduler gave it to another worker, which is still at it (exit 25, not 0)"
    ]
    assert _refined(0, ["Total", "--local-scheduler"]) == 0
    toy_dir.set("core", "local_scheduler", "true")
    assert _refined(0, ["Total"]) == 0


def test_with_luigi_s_default_not_run_of_0_a_0_stays_0_without_a_line(toy_dir, caplog):
    """luigi's own [retcode] default is not_run = 0: a 0 then says nothing about other workers."""
    caplog.set_level(logging.INFO, logger="stagecache.run.outcome")
    toy_dir.build()
    caplog.clear()
    assert _refined(0, ["Total"]) == 0
    assert [r for r in caplog.records if r.name == "stagecache.run.outcome"] == []


MISSING = 20  # as this pipeline's luigi.cfg sets it


def test_missing_data_under_luigid_for_a_task_another_worker_runs_becomes_not_run(toy_dir, caplog, luigid):
    """Seen as a user: a search whose loop an assistant took over between two batches ended its first process with
    luigi's missing-data code (20) and no line. Under luigid, while luigid says another worker runs the asked-for
    task, 20 becomes 25 with a line; once the task is built, 0; with no worker running it, 20 stays."""
    from luigi.rpc import RemoteScheduler

    caplog.set_level(logging.INFO, logger="stagecache.run.outcome")
    toy_dir.set("retcode", "not_run", str(NOT_RUN))
    toy_dir.set("retcode", "missing_data", str(MISSING))
    toy_dir.use_luigid(luigid)
    total = toy_dir.package.Total()
    assert _refined(MISSING, ["Total"]) == MISSING  # luigid knows nothing of Total: a real missing dependency
    assert not caplog.records

    other = RemoteScheduler(f"http://127.0.0.1:{luigid}/")
    other.add_worker(worker="other", info={})
    square = toy_dir.package.Square().task_id
    other.add_task(worker="other", task_id=square, family="Square", status="PENDING", runnable=True)
    other.add_task(worker="other", task_id=total.task_id, family="Total", status="PENDING", deps=[square])
    assert other.get_work(worker="other")["task_id"] == square  # Total waits for a task the other worker runs
    line = (
        "Total is not built yet: the central scheduler gave it to another worker, which is still at it "
        f"(exit {NOT_RUN}, not {MISSING})"
    )
    assert _refined(MISSING, ["Total"]) == NOT_RUN
    assert [r.getMessage() for r in caplog.records if r.name == "stagecache.run.outcome"] == [line]
    other.add_task(worker="other", task_id=square, status="DONE")
    other.add_task(worker="other", task_id=total.task_id, family="Total", status="PENDING", runnable=True)
    assert other.get_work(worker="other")["task_id"] == total.task_id  # now Total itself runs there
    caplog.clear()
    assert _refined(MISSING, ["Total"]) == NOT_RUN
    assert [r.getMessage() for r in caplog.records if r.name == "stagecache.run.outcome"] == [line]
    assert _refined(MISSING, ["Total", "--local-scheduler"]) == MISSING  # no luigid: luigi's code

    toy_dir.build()
    caplog.clear()
    assert _refined(MISSING, ["Total"]) == 0
    assert [r.getMessage() for r in caplog.records if r.name == "stagecache.run.outcome"] == [
        f"Total is built: the central scheduler gave it to another worker (exit 0, not {MISSING})"
    ]
