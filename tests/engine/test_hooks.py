"""The engine's hooks (stagecache.core.hooks): a subscriber sees the events of a run of the toy DAG, in order."""

from __future__ import annotations

import contextlib
import logging

import luigi
import pytest

from stagecache.core import hooks


def _name(value):
    """A task as its family, a target as whether it exists, a list or tuple element by element."""
    if isinstance(value, luigi.Task):
        return value.get_task_family()
    if hasattr(value, "exists") and hasattr(value, "stem"):
        return "target written" if value.exists() else "target missing"
    if isinstance(value, (list, tuple)):
        return type(value)(_name(v) for v in value)
    return value


@contextlib.contextmanager
def recording():
    """Every hook's events, as ``(hook, arguments...)`` with tasks by family, while the block runs."""
    seen: list[tuple] = []
    with contextlib.ExitStack() as stack:
        for hook in hooks.HOOKS:

            def record(*args, hook=hook):
                named = [_name(a) for a in args]
                if hook is hooks.stage_ended:
                    named[2] = "time" if isinstance(args[2], float) else args[2]
                if hook is hooks.epoch_ended:
                    named[1] = (args[1]["epoch"], args[1]["epochs"])
                seen.append((hook.name, *named))

            stack.enter_context(hook.subscribed(record))
        yield seen


def stage_lines(family: str) -> list[tuple]:
    saved = [("stage_saved", family, "target written")]
    epoch = [("epoch_ended", family, (1, 1))] if family == "Square" else []
    return [("stage_started", family), *epoch, *saved, ("stage_ended", family, True, "time")]


def test_a_subscriber_sees_a_runs_events_in_order(toy_dir):
    with recording() as seen:
        assert toy_dir.build() == {"MakeNumbers", "Square", "Total"}
    assert seen[:-1] == [
        ("stage_needs", "Total", "Square"),
        ("stage_needs", "Square", "MakeNumbers"),
        ("run_planned", ["MakeNumbers", "Square", "Total"], []),
        *stage_lines("MakeNumbers"),
        *stage_lines("Square"),
        *stage_lines("Total"),
    ]
    assert seen[-1][0] == "run_ended"
    assert [(family, result) for family, result, _ in seen[-1][1]] == [
        ("MakeNumbers", "ran"),
        ("Square", "ran"),
        ("Total", "ran"),
    ]
    assert all(isinstance(seconds, float) for _, _, seconds in seen[-1][1])

    with recording() as seen:  # nothing to do: scheduling finds the root complete and stops there
        assert toy_dir.build() == set()
    assert seen == [("stage_cached", "Total")]

    toy_dir.set("Square", "power", "3")
    with recording() as seen:
        assert toy_dir.build() == {"Square", "Total"}
    assert seen[:4] == [
        ("stage_needs", "Total", "Square"),
        ("stage_needs", "Square", "MakeNumbers"),
        ("stage_cached", "MakeNumbers"),
        ("run_planned", ["Square", "Total"], ["MakeNumbers"]),
    ]
    assert [(family, result) for family, result, _ in seen[-1][1]] == [
        ("MakeNumbers", "cached"),
        ("Square", "ran"),
        ("Total", "ran"),
    ]


def test_a_failed_stage_ends_unsucceeded_and_its_dependents_are_not_run(toy_dir):
    toy_dir.set("Square", "power", "9")  # Diverged
    with recording() as seen:
        assert toy_dir.build_failing() == "Square"
    assert ("stage_ended", "Square", False, "time") in seen
    assert not [event for event in seen if event[0] == "stage_saved" and event[1] == "Square"]
    assert [(family, result) for family, result, _ in seen[-1][1]] == [
        ("MakeNumbers", "ran"),
        ("Square", "failed"),
        ("Total", "not run: needs a failed stage"),
    ]


def test_a_subscriber_that_raises_is_logged_and_the_others_still_run(caplog):
    hook = hooks.Hook("probe", ("task",), "a test's own")
    called = []

    def broken(task):
        raise RuntimeError("boom")

    hook.subscribe(broken)
    hook.subscribe(called.append)
    hook.subscribe(called.append)  # once, however often subscribed
    with caplog.at_level(logging.ERROR, logger="stagecache.core.hooks"):
        hook.fire("t")
    assert called == ["t"]
    assert "a subscriber of probe failed" in caplog.text and "boom" in caplog.text
    with pytest.raises(TypeError, match="probe takes 1 arguments"):
        hook.fire("t", "extra")


def test_a_subscriber_that_cannot_take_the_hooks_arguments_is_refused_when_it_subscribes():
    with pytest.raises(TypeError, match=r"cannot take stage_ended's arguments \(task, succeeded, at\)"):
        hooks.stage_ended.subscribe(lambda task: None)
    assert all(hook.name in hooks.__all__ for hook in hooks.HOOKS)


def test_a_lost_central_scheduler_fires_scheduler_lost():
    from luigi.rpc import RPCError

    from stagecache.run import scheduler_loss as schedulerloss

    lost = []
    scheduler = schedulerloss._scheduler_class()("http://127.0.0.1:9")
    with hooks.scheduler_lost.subscribed(lambda url, reason: lost.append((url, reason))):
        scheduler._lose(RPCError("Errors (3 attempts) when connecting to remote scheduler"))
        scheduler._lose(RPCError("again"))  # once: the scheduler is lost already
    assert lost == [("http://127.0.0.1:9", "Errors (3 attempts) when connecting to remote scheduler")]
