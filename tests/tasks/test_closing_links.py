"""Each configuration's report: ``FullReport`` publishes its own copy, ``reports/<fingerprint>/``, which its
``result_link`` (a run's closing ``report:`` line) names, and then ``report/``, the latest. (Runs at once on one
root, and a two-worker run with a command-line value, each linking its own result: the engine's promise, tested
on the toy DAG in tests/engine/test_closing_links.py.)"""

from __future__ import annotations

import json

import tasks


def test_two_configurations_on_one_root_each_keep_their_own_report(built_pipeline):
    pipeline = built_pipeline  # FullReport built with the plain configuration (2 epochs)
    fingerprints = {}
    for epochs in ("3", "4"):
        pipeline.set("TrainLogReg", "epochs", epochs)
        fingerprints[epochs] = tasks.FullReport().fingerprint()
        assert pipeline.build() == {"TrainLogReg", "EvaluateLogReg", "FullReport"}
    for epochs, fingerprint in fingerprints.items():
        pipeline.set("TrainLogReg", "epochs", epochs)
        own = pipeline.root.resolve() / "reports" / fingerprint[:16] / "index.html"
        assert tasks.FullReport().result_link() == own.as_uri()
        provenance = json.loads((own.parent / "provenance.json").read_text())
        assert provenance["fingerprint"] == fingerprint
        assert [s["params"]["epochs"] for s in provenance["stages"] if s["task"] == "TrainLogReg"] == [epochs]
    latest = json.loads((pipeline.root / "report" / "provenance.json").read_text())["fingerprint"]
    assert latest == fingerprints["4"]  # report/ is the last run's
