"""Stage 5: Total and Train's last value side by side, the toy's report: the last stage of its whole DAG, which
publishes a page of its own configuration (``published/summaries/<fingerprint>/``) and links it as its result."""

import json

from toydag.project import PINS_DIR
from toydag.total import Total
from toydag.train import Train

from stagecache import ArtifactTask, configured_root

PAGE = "summary.json"


class Summary(ArtifactTask):
    """``{"total": ..., "trained": ...}``, published as this configuration's own page."""

    exclusive_after_save = True  # publishes its page beside the artifact

    def requires(self):
        return {"total": self.stage(Total), "train": self.stage(Train)}

    def build(self, inputs):
        return {"total": inputs["total"], "trained": inputs["train"]["values"][-1]}

    def own_directory(self) -> str:
        """``published/summaries/<fingerprint>``: no other configuration's run replaces it."""
        return f"{PINS_DIR}/summaries/{self.fingerprint()[:16]}"

    def after_save(self, target) -> None:
        page = json.dumps({"fingerprint": self.fingerprint(), **target.load()}).encode()
        configured_root().publish_directory(self.own_directory(), {PAGE: page}, lease=getattr(target, "lease", None))

    def complete(self) -> bool:
        """Built, and its page published (a run killed between the two publishes the page when run again)."""
        if not super().complete():
            return False
        page = configured_root().read_file(f"{self.own_directory()}/{PAGE}")
        return page is not None and json.loads(page).get("fingerprint") == self.fingerprint()

    def result_link(self) -> str | None:
        """This configuration's page, once published."""
        root, name = configured_root(), f"{self.own_directory()}/{PAGE}"
        return root.link(name) if root.read_file(name) is not None else None
