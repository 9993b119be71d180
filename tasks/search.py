"""``luigi --module tasks Search --file searches/NAME.cfg``: the best configuration a budget buys, by successive
halving whose promotions continue cached trainings, sampled by Optuna; one page (``<root>/searches/NAME/``).
See docs/search.md."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from stagecache import ArtifactTask, SearchTask, walk
from tasks import published
from tasks.pages import PublishedPage, point_artifacts
from tasks.report import MODELS

log = logging.getLogger(__name__)
SEARCHES = SearchTask.folder
INDEX = f"{SEARCHES}/index.json"


class Search(PublishedPage, SearchTask):
    """The search of ``--file``: every trial at every rung a point of the DAG; the artifact holds the trials, the
    jobs (with what each continued from) and the best trial (chosen on validation data), whose test figures it
    reports beside; ``searches/NAME/`` publishes the page."""

    code = ("pipeline.experiments.points", "pipeline.experiments.search_report")
    exclusive_after_save = True  # publishes searches/NAME/ (and the searches' index) beside the artifact

    @property
    def directory(self) -> str:
        return f"{SEARCHES}/{self.definition.name}"

    def describe_best(self, root: ArtifactTask) -> dict:
        """The best trial's figures as a sweep's point has them: validation and test (reported, not chosen on)."""
        from pipeline.experiments.points import summarize_point

        trained, evaluated, _ = point_artifacts(root)
        return {"reported": summarize_point("best", {}, trained, evaluated, models=MODELS)["metrics"]}

    def trial_attrs(self, number: int) -> dict:
        """Where the page publishes the trial's provenance (the stages it built), in the artifact root."""
        return {"provenance": f"{self.directory}/trials/{number}.json"}

    def after_save(self, target=None) -> None:
        """Publish ``searches/NAME/`` (the page and each trial's provenance) and the searches' index, by which gc
        keeps the search's own artifact."""
        from pipeline.experiments.search_report import build_search_report

        target = target or self.output()
        search = target.load()
        files: dict[str, bytes] = {}
        links: dict[int, str] = {}
        for trial in search["trials"]:
            root = self.job_root(trial, trial["rung"])
            stages = [
                {"task": t.get_task_family(), "fingerprint": t.fingerprint(), "point": t.point} for t in walk(root)
            ]
            name = f"trials/{trial['number']}.json"
            files[name] = json.dumps({**trial, "stages": stages}, indent=2, sort_keys=True).encode()
            links[trial["number"]] = name
        generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        title = f"{self.get_task_family()} {search['name']}"
        files.update(build_search_report(search, links, generated_at=generated, title=title))
        files["provenance.json"] = json.dumps(
            {"fingerprint": self.fingerprint(), "file": self.file, "trials": len(search["trials"])}, indent=2
        ).encode()
        published.publish_directory(files, directory=self.directory, lease=getattr(target, "lease", None))

        def index(current):
            current = dict(current or {})
            # the trials' stages are kept by the study itself (its "stages", recorded as each batch is planned)
            current[search["name"]] = {"file": self.file, "stages": [[self.get_task_family(), self.fingerprint()[:16]]]}
            return current

        published.update_document(INDEX, index)
        log.info("search %s: page %s", search["name"], published.report_link(directory=self.directory))
