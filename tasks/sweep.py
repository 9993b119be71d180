"""``luigi --module tasks Sweep --file sweeps/NAME.cfg``: many configurations of this DAG in one run, and one
page that compares them (``<root>/sweeps/NAME/index.html``). See docs/experiments.md."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

from stagecache import ArtifactTask, SweepPoint, SweepTask, walk
from tasks import published
from tasks.pages import PublishedPage, point_artifacts
from tasks.report import MODELS

log = logging.getLogger(__name__)
SWEEPS = "sweeps"
INDEX = f"{SWEEPS}/index.json"


def _params(point: SweepPoint) -> dict[str, str]:
    """A point's values as ``{"Section.key": value}``."""
    return {f"{section}.{key}": value for section, values in point.values.items() for key, value in values.items()}


class Sweep(PublishedPage, SweepTask):
    """Each point's stage (``[sweep] stage``, default FullReport) built in that point; the artifact holds every
    point's parameters, metrics and learning curves; ``sweeps/NAME/`` publishes the comparison page."""

    code = ("pipeline.experiments.points", "pipeline.experiments.sweep_report")
    exclusive_after_save = True  # publishes sweeps/NAME/ (and the sweeps' index) beside the artifact

    def summarize(self, point: SweepPoint, root: ArtifactTask) -> dict:
        from pipeline.experiments.points import summarize_point

        return self.with_stages(
            summarize_point(point.label, _params(point), *point_artifacts(root), models=MODELS), root
        )

    def summarize_failed(self, point: SweepPoint, root: ArtifactTask) -> dict:
        """A point whose training diverged: its parameters and stages, no metric and no curve."""
        from pipeline.experiments.points import summarize_point

        return self.with_stages(summarize_point(point.label, _params(point), models=MODELS), root)

    @staticmethod
    def with_stages(summary: dict, root: ArtifactTask) -> dict:
        """``summary`` with the point's stages (family, fingerprint, point, parameters), its stage's fingerprint,
        and the link (relative to the sweep's page) of the report the point published, if it built one."""
        own = [t.own_directory() for t in walk(root) if hasattr(t, "own_directory")]
        if own:
            summary["report"] = f"../../{own[0]}/index.html"
        summary["stages"] = [
            {
                "task": t.get_task_family(),
                "fingerprint": t.fingerprint(),
                "point": t.point,
                "params": t.params_dict(significant_only=True),
            }
            for t in walk(root)
        ]
        summary["fingerprint"] = root.fingerprint()
        return summary

    def validate(self) -> None:
        super().validate()
        self.check_name_is_its_own()

    def check_name_is_its_own(self) -> None:
        """Refuse (ConfigError, naming both files) a sweep whose name another sweep file has published: its page and
        index entry would be replaced, and gc would then remove the artifacts the first sweep's page names. The same
        file again (edited, or named by another path or on another host) is the same sweep."""
        from stagecache.configcheck import ConfigError
        from stagecache.configcheck.files import scan

        name = self.definition.name
        try:
            entry = json.loads(published.read_published("index.json", SWEEPS) or b"{}").get(name)
        except (ValueError, AttributeError):
            return  # an unreadable index: gc refuses it, and the sweep's publication rewrites it
        other = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(other, str) or other == self.file:
            return
        for recorded in (entry.get("path"), other):
            try:
                if isinstance(recorded, str) and os.path.samefile(recorded, self.file):
                    return
            except OSError:
                continue
        line = next((e.line for e in scan(self.file) if (e.section, e.key) == ("sweep", "name")), None)
        raise ConfigError(
            [
                f"{self.file}{f':{line}' if line else ''}: [sweep] name {name!r} is already the sweep of {other} "
                f"(published in {published.report_location(self.directory)}): rename one of them"
            ]
        )

    @property
    def directory(self) -> str:
        return f"{SWEEPS}/{self.definition.name}"

    def after_save(self, target=None) -> None:
        """Publish ``sweeps/NAME/``: the comparison page, each point's provenance, and the sweeps' index (gc keeps
        every artifact a published sweep names)."""
        from pipeline.experiments.sweep_report import build_sweep_report

        self.check_name_is_its_own()  # again: another file's sweep of this name may have been published since
        target = target or self.output()
        sweep = target.load()
        links = {}
        files: dict[str, bytes] = {}
        for number, point in enumerate(sweep["points"], 1):
            name = f"points/{number}.json"
            files[name] = json.dumps(
                {k: point[k] for k in ("label", "params", "fingerprint", "stages", "failed", "report") if k in point},
                indent=2,
                sort_keys=True,
            ).encode()
            links[point["label"]] = name
        generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        title = f"{self.get_task_family()} {sweep['name']}"
        files.update(build_sweep_report(title, sweep["points"], links, generated_at=generated, models=MODELS))
        files["provenance.json"] = json.dumps(
            {"fingerprint": self.fingerprint(), "file": self.file, "points": len(sweep["points"])}, indent=2
        ).encode()
        published.publish_directory(files, directory=self.directory, lease=getattr(target, "lease", None))
        stems = sorted(
            {(s["task"], s["fingerprint"][:16]) for p in sweep["points"] for s in p["stages"]}
            | {(self.get_task_family(), self.fingerprint()[:16])}
        )

        def index(current):
            current = dict(current or {})
            current[sweep["name"]] = {
                "file": self.file,
                "path": os.path.realpath(self.file),  # which file it is, whatever the path it was named by
                "stages": [list(s) for s in stems],
            }
            return current

        published.update_document(INDEX, index)
        log.info(
            "sweep %s: %d points compared in %s",
            sweep["name"],
            len(sweep["points"]),
            published.report_link(directory=self.directory),
        )
