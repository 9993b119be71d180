"""What a run tells its user: the plan, ``stage k/N`` lines, and one table at the end.

Luigi's events drive it, so it works the same under ``luigi --module tasks`` and
``luigi.build``: scheduling reports each stage as present (cached) or missing (to run);
the first stage start logs the plan (the stages to run, dependencies first) with an
estimate from their earlier manifests; each start and end logs ``stage k/N``, k counting
the stages in the order luigi starts them; once every stage to run has ended (or cannot
run because one it needs failed), a table lists stage, result (``ran``, or ``reused`` by early
cutoff) and seconds in that order, and the report's link. With ``--workers N`` the stages run in forked child
processes: they send their starts and ends to the scheduling process (:mod:`stagecache.run.childevents`), which logs
all of it. The same view of the run fires :data:`stagecache.core.hooks.run_planned`, ``stage_started``,
``stage_ended`` and ``run_ended`` in the scheduling process.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import luigi
from luigi.cmdline_parser import CmdlineParser
from luigi.task import flatten
from luigi.task_register import Register

from stagecache.configcheck import entry_point
from stagecache.core import hooks
from stagecache.core.hooks import NOT_BUILT
from stagecache.run.childevents import ChildEvents, spawned_child
from stagecache.run.console import timestamp_luigis_lines
from stagecache.stages.cutoff import build_seconds
from stagecache.stages.status import head_start, latest_manifest
from stagecache.stages.task import ArtifactTask

log = logging.getLogger(__name__)


def estimate_seconds(task) -> tuple[float | None, str]:
    """Seconds a build of ``task`` may take, from its family's latest manifest, and how that was reckoned.

    A stage that trains along ``continues_along`` (epochs) is reckoned at the last build's pace
    per epoch, over the epochs this build trains: all of them from scratch, or only those past
    its own checkpoint or the shorter build it continues from."""
    manifest = latest_manifest(task)
    seconds = None if manifest is None else build_seconds(manifest)
    if manifest is None or seconds is None:
        return None, "never built before"
    name = getattr(task, "continues_along", None)
    try:
        wanted = float(task.params_dict()[name])
        trained = float(manifest["significant_params"][name]) - float(
            (manifest.get("continued_from") or {}).get(name, 0)
        )
        start = float((head_start(task, task.output()) or ("0", ""))[0])
    except (KeyError, TypeError, ValueError, AttributeError):  # no such parameter, or not a number
        return seconds, f"~{duration(seconds)} last time"
    if trained <= 0 or wanted <= start:
        return seconds, f"~{duration(seconds)} last time"
    pace = seconds / trained
    seconds = pace * (wanted - start)
    after = f" after the {start:g} it continues from," if start else ""
    return (
        seconds,
        f"~{duration(seconds)}: {wanted - start:g} {name}{after} at the last build's pace ({pace:.2g}s each)",
    )


def display_name(task) -> str:
    """The family, and a sweep point's values when the task is one (``Train [Train.lr=0.1]``)."""
    from stagecache.core.points import describe

    point = describe(getattr(task, "point", "") or "")
    return f"{task.get_task_family()} [{point}]" if point else task.get_task_family()


def duration(seconds: float) -> str:
    """``4.2s``, ``42s`` or ``3m05s``."""
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class RunProgress:
    """The state of one run, fed by luigi's events (see :func:`install`)."""

    def __init__(self):
        self.lock = threading.RLock()  # events come from luigi's thread and from the child-event reader
        self.reset()

    def reset(self) -> None:
        self.tasks: dict[str, ArtifactTask] = {}  # every stage scheduling met, in that order
        self.cached: list[str] = []
        self.deps: dict[str, list[str]] = {}
        self.stages: list[str] | None = None  # the stages to run, dependencies first; set at the first start
        self.started: dict[str, float] = {}
        self.numbers: dict[str, int] = {}  # k of `stage k/N`, given as stages start
        self.outcome: dict[str, tuple[str, float | None]] = {}
        # each stage's result link, computed where and when it ran (luigi's command-line values in force)
        self.links: dict[str, str | None] = {}
        # luigi's command line of the run (its --Task-param values), caught while scheduling: for the link of a
        # cached stage, computed as the process exits, after luigi has dropped it
        self.command_line: object | None = None

    # -- scheduling (luigi fires DEPENDENCY_PRESENT for each complete stage it meets, and
    # DEPENDENCY_DISCOVERED for each dependency of an incomplete one) ---------------------------
    def present(self, task: ArtifactTask) -> None:
        with self.lock:
            self._present(task)

    def discovered(self, task: ArtifactTask, dep) -> None:
        with self.lock:
            self._discovered(task, dep)

    def _running(self) -> bool:
        """True while a stage of this run has started and not ended: what scheduling meets then (luigi adds
        tasks at run time, a stage's dependencies checked again) belongs to this run, not to a new one."""
        return any(t not in self.outcome for t in self.started)

    def _present(self, task: ArtifactTask) -> None:
        if (self.stages is not None or task.task_id in self.cached) and not self._running():
            self.reset()  # a new run in this process
        self._catch_command_line()
        self.tasks.setdefault(task.task_id, task)
        if task.task_id not in self.cached and task.task_id not in (self.stages or []):
            self.cached.append(task.task_id)

    def _discovered(self, task: ArtifactTask, dep) -> None:
        if (self.stages is not None or task.task_id in self.cached) and not self._running():
            self.reset()
        self._catch_command_line()
        if hasattr(dep, "builds_itself"):
            self._discovered_job(task, dep)
            return
        for t in (task, dep):
            self.tasks.setdefault(t.task_id, t)
        if dep.task_id not in self.deps.get(task.task_id, []):
            self.deps.setdefault(task.task_id, []).append(dep.task_id)
        if self.stages is not None and task.task_id not in self.stages:  # met while stages run: it will run too
            self.stages.append(task.task_id)

    def _discovered_job(self, task: ArtifactTask, job) -> None:
        """A dependency that is no stage but builds stages itself (a sweep's point job, see
        :mod:`stagecache.experiments.point_jobs`): its stages are planned as the run's, the job a node between them and
        ``task``, so that a failure among them does not block ``task``."""
        if job.task_id not in self.deps.get(task.task_id, []):
            self.deps.setdefault(task.task_id, []).append(job.task_id)
        self.tasks.setdefault(task.task_id, task)
        for stage in job.builds_itself():
            self.tasks.setdefault(stage.task_id, stage)
            self.deps.setdefault(job.task_id, []).append(stage.task_id)
            self.deps.setdefault(stage.task_id, [d.task_id for d in flatten(stage.requires())])

    def _order(self) -> list[str]:
        """The stages to run, each after the ones it needs."""
        missing = [t for t in self.tasks if t not in self.cached]
        order, seen = [], set()

        def visit(task_id):
            if task_id in seen or task_id in self.cached:
                return
            seen.add(task_id)
            for dep in self.deps.get(task_id, []):
                visit(dep)
            if task_id in self.tasks:  # not a job between stages
                order.append(task_id)

        for task_id in missing:
            visit(task_id)
        return order

    def _label(self, task: ArtifactTask) -> str:
        """``stage k/N: Family``, k counting the stages in the order they start (luigi picks that order).

        A task this run's scheduling did not show (one luigi added at run time) is added to the run here.
        """
        task_id = task.task_id
        family = display_name(self.tasks.setdefault(task_id, task))
        if spawned_child():
            return f"stage {family}"
        number = self.numbers.setdefault(task_id, len(self.numbers) + 1)
        return f"stage {number}/{len(self.stages or [])}: {family}"

    def _log_plan(self) -> None:
        assert self.stages is not None  # logged once _start has set the plan
        reckoned = {task_id: estimate_seconds(self.tasks[task_id]) for task_id in self.stages}
        estimates = {task_id: seconds for task_id, (seconds, _) in reckoned.items()}
        known = [s for s in estimates.values() if s is not None]
        unknown = len(estimates) - len(known)
        if known:
            estimate = f"estimate {duration(sum(known))} from earlier runs" + (
                f" (+ {unknown} stage(s) never built before)" if unknown else ""
            )
        else:
            estimate = "no earlier runs to estimate from"
        log.info("plan: %d stage(s) to run, %d cached; %s", len(self.stages), len(self.cached), estimate)
        width = max(len(display_name(self.tasks[t])) for t in self.stages)
        for task_id in self.stages:
            log.info("  %-*s  %s", width, display_name(self.tasks[task_id]), reckoned[task_id][1])
        if self.cached:
            log.info("  cached: %s", ", ".join(display_name(self.tasks[t]) for t in self.cached))

    # -- running: luigi fires these where the stage runs; a forked worker process sends them on --
    def start(self, task: ArtifactTask) -> None:
        self._event("start", task)

    def success(self, task: ArtifactTask) -> None:
        self._event("success", task)

    def failure(self, task: ArtifactTask, exception: BaseException | str) -> None:
        self._event("failure", task)

    def not_built(self, task: ArtifactTask) -> None:
        self._event("not_built", task)

    def _event(self, event: str, task: ArtifactTask) -> None:
        # A stage's link is computed as it ends, in the process that ran it: luigi's command-line values are in
        # force there, and no longer in the scheduling process once luigi has returned (a worker process's last
        # event may come after), so a link computed later names another configuration's result.
        link = _result_link(task) if event == "success" else None
        reused = getattr(task, "reused_from", None) if event == "success" else None
        if CHILD_EVENTS.in_child():
            CHILD_EVENTS.send(
                {
                    "event": event,
                    "task_id": task.task_id,
                    "family": task.get_task_family(),
                    "params": task.to_str_params(),
                    "time": time.time(),
                    "link": link,
                    "reused": reused,
                }
            )
            return
        with self.lock:
            if event == "success":
                self.links[task.task_id] = link
                self._success(task, time.time(), reused)
            else:
                getattr(self, f"_{event}")(task, time.time())

    def from_child(self, message: dict) -> None:
        """A worker process's event (see :mod:`stagecache.run.childevents`), in the scheduling process."""
        with self.lock:
            task = self.tasks.get(message["task_id"])
            if task is None:  # a root without dependencies: scheduling met it without an event
                task = Register.get_task_cls(message["family"]).from_str_params(message["params"])
            if message["event"] == "success":
                self.links[task.task_id] = message.get("link")
                self._success(task, message["time"], message.get("reused"))
            else:
                getattr(self, f"_{message['event']}")(task, message["time"])

    def _start(self, task: ArtifactTask, now: float) -> None:
        if self.stages is None:
            self.tasks.setdefault(task.task_id, task)  # a root without dependencies fires no scheduling event
            self.stages = self._order()
            if not spawned_child():  # a spawned worker process knows nothing of the run's plan
                self._log_plan()
                hooks.run_planned.fire([self.tasks[t] for t in self.stages], [self.tasks[t] for t in self.cached])
        if task.task_id not in self.stages:  # another such root of the same run
            self.tasks[task.task_id] = task
            self.stages.append(task.task_id)
        if task.task_id in self.started and task.task_id not in self.outcome:
            # luigi runs a task again once the dynamic dependencies it yielded are built (a search's batches):
            # the same stage going on, timed from its first start
            log.info("%s goes on: what it waited for is built", self._label(task))
            return
        self.started[task.task_id] = now
        log.info("%s started", self._label(task))
        if not spawned_child():
            hooks.stage_started.fire(task)

    def _elapsed(self, task: ArtifactTask, now: float) -> float | None:
        started = self.started.get(task.task_id)
        return None if started is None else now - started

    def _in_plan(self, task: ArtifactTask) -> None:
        """Count a stage that ends without having started in this run's view (luigi added it at run time)."""
        if self.stages is not None and task.task_id not in self.stages:
            self.stages.append(task.task_id)

    def _success(self, task: ArtifactTask, now: float, reused: str | None = None) -> None:
        """A stage ended well: it ran, or it reused the artifact of fingerprint ``reused`` (early cutoff)."""
        self._in_plan(task)
        seconds = self._elapsed(task, now)
        self.outcome[task.task_id] = ("reused" if reused else "ran", seconds)
        if reused:
            log.info(
                "%s reused %s… in %s (early cutoff: inputs byte-identical)",
                self._label(task),
                reused[:16],
                duration(seconds or 0),
            )
        else:
            log.info("%s done in %s", self._label(task), duration(seconds or 0))
        self._tell(task, True, now)
        self._maybe_finish()

    def _failure(self, task: ArtifactTask, now: float) -> None:
        self._in_plan(task)
        seconds = self._elapsed(task, now)
        self.outcome[task.task_id] = ("failed", seconds)
        log.info("%s failed after %s", self._label(task), duration(seconds or 0))
        self._tell(task, False, now)
        blocked = {task.task_id}
        for task_id in self.stages or []:  # dependencies first, so one pass finds every dependent
            if task_id not in self.outcome and blocked & set(self.deps.get(task_id, [])):
                blocked.add(task_id)
                self.outcome[task_id] = ("not run: needs a failed stage", None)
        self._maybe_finish()

    def _not_built(self, task: ArtifactTask, now: float) -> None:
        """A stage of a point whose training diverged: not run, and no failure of the run's."""
        self._in_plan(task)
        self.outcome[task.task_id] = ("not run: its point failed", None)
        self._tell(task, False, now)
        self._maybe_finish()

    def _tell(self, task: ArtifactTask, succeeded: bool, now: float) -> None:
        """Fire :data:`stagecache.core.hooks.stage_ended` (in the scheduling process only)."""
        if not spawned_child():
            hooks.stage_ended.fire(task, succeeded, now)

    def _maybe_finish(self) -> None:
        if spawned_child() or self.stages is None or any(t not in self.outcome for t in self.stages):
            return
        rows = [(display_name(self.tasks[t]), "cached", "") for t in self.cached]
        stages = self.stages
        in_start_order = sorted(stages, key=lambda t: self.numbers.get(t, len(stages) + 1))
        rows += [
            (
                display_name(self.tasks[t]),
                self.outcome[t][0],
                "" if self.outcome[t][1] is None else f"{self.outcome[t][1]:.1f}",
            )
            for t in in_start_order
        ]
        width = max(len(r[0]) for r in rows + [("STAGE", "", "")])
        result_width = max(len(r[1]) for r in rows + [("", "RESULT", "")])
        log.info("summary of this run:")
        log.info("  %-*s  %-*s  %8s", width, "STAGE", result_width, "RESULT", "SECONDS")
        for family, result, seconds in rows:
            log.info("  %-*s  %-*s  %8s", width, family, result_width, result, seconds)
        self._log_report_link()
        results = [(self.tasks[t], "cached", None) for t in self.cached]
        hooks.run_ended.fire(results + [(self.tasks[t], *self.outcome[t]) for t in in_start_order])

    def _catch_command_line(self) -> None:
        if self.command_line is None:
            self.command_line = CmdlineParser.get_instance()

    def _log_report_link(self) -> None:
        """The link of this run's result: a task's fingerprint resolves its upstream stages from luigi's
        configuration and command line, and luigi drops the command line when its run returns, before a worker
        process's last event or the exit line. So a stage that ran gives the link it computed as it ended, and
        one that did not (cached, or not run) is asked with the run's command line back in force."""
        link = next((self.links[t] for t in self.tasks if self.links.get(t)), None)  # of a stage that ran
        if link is None:
            with command_line_in_force(self.command_line):
                others = (_result_link(task) for task_id, task in self.tasks.items() if task_id not in self.links)
                link = next(filter(None, others), None)  # cached, or a page an earlier run published
        if link is not None:
            log.info("report: %s", link)

    def log_up_to_date(self) -> None:
        """Say so when the run found every task it was asked for complete (luigi fires no event then)."""
        with self.lock:
            if self.stages is not None or not self.cached or self.deps or spawned_child():
                return
            families = ", ".join(self.tasks[t].get_task_family() for t in self.cached)
            log.info("nothing to run: %s %s up to date", families, "is" if len(self.cached) == 1 else "are")
            self._log_report_link()


def _result_link(task: ArtifactTask) -> str | None:
    try:
        return task.result_link()
    except Exception:  # a link is a courtesy: never a failure of the stage or of the run
        log.debug("no result link for %s", task.task_id, exc_info=True)
        return None


@contextlib.contextmanager
def command_line_in_force(parser) -> Iterator[None]:
    """luigi's command-line ``parser`` (a ``CmdlineParser``) in force inside the block, when it is not already."""
    if parser is None or CmdlineParser.get_instance() is parser:
        yield
        return
    saved = CmdlineParser._instance
    CmdlineParser._instance = parser
    try:
        yield
    finally:
        if CmdlineParser._instance is parser:  # luigi may have set its own meanwhile: leave that one
            CmdlineParser._instance = saved


RUN = RunProgress()
CHILD_EVENTS = ChildEvents(RUN.from_child)


def new_run() -> None:
    """Start a fresh plan and table: for programs that call ``luigi.build`` several times in one process.

    A run is otherwise told from the previous one by its events (luigi announces no run
    start); a previous build that found everything cached leaves nothing to tell it by.
    """
    with RUN.lock:
        RUN.reset()


def settle(timeout: float = 5.0) -> bool:
    """Wait until the events of finished worker processes have been logged (``luigi.build`` callers)."""
    return CHILD_EVENTS.settle(timeout)


def install() -> None:
    """Follow the run: the scheduling hooks (:mod:`stagecache.core.hooks`), and luigi's start and end events on
    :class:`ArtifactTask` (once per process; :func:`stagecache.install` calls it)."""
    if getattr(install, "done", False):
        return
    install.done = True  # type: ignore[attr-defined]  # a marker attribute on the function
    timestamp_luigis_lines()
    if entry_point() == "luigi":  # the command ends with the process; luigi.build callers get no exit line
        atexit.register(RUN.log_up_to_date)
    CHILD_EVENTS.open()
    hooks.connect(ArtifactTask)
    hooks.stage_cached.subscribe(RUN.present)
    hooks.stage_needs.subscribe(RUN.discovered)
    ArtifactTask.event_handler(luigi.Event.START)(RUN.start)
    ArtifactTask.event_handler(luigi.Event.SUCCESS)(RUN.success)
    ArtifactTask.event_handler(luigi.Event.FAILURE)(RUN.failure)
    ArtifactTask.event_handler(NOT_BUILT)(RUN.not_built)
    # luigi fires these two in the scheduling process when a worker process dies or times out
    ArtifactTask.event_handler(luigi.Event.PROCESS_FAILURE)(RUN.failure)
    ArtifactTask.event_handler(luigi.Event.TIMEOUT)(RUN.failure)
