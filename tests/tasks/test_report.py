"""The published report on the tiny end-to-end fixture."""
import json
from html.parser import HTMLParser

import tasks

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.cells, self.stack = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("img", "meta", "br"):  # void elements have no end tag
            self.stack.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "td":
            self.cells.append(data)


def test_report_page_figures_and_numbers(pipeline):
    pipeline.build()
    report = pipeline.root / "report"
    page = _Collector()
    page.feed((report / "index.html").read_text())
    page.close()
    assert page.stack == []
    assert len(page.images) == 8 and "decision_boundary.png" in page.images
    for src in page.images:
        assert (report / src).read_bytes().startswith(PNG_SIGNATURE), src

    metrics = json.loads((report / "metrics.json").read_text())
    text = " ".join(page.cells)
    for family in ("TrainLogReg", "TrainMLP", "TrainDeepMLP"):
        assert f"test accuracy {metrics[family]['test_accuracy']:.4f}" in text
        assert f"{metrics[family]['parameters']:,}" in text
    assert f"val loss {metrics['TrainCharRNN']['val_loss']:.4f} nats/char" in text
    assert "seed 0.9856" in text

    provenance = json.loads((report / "provenance.json").read_text())
    assert provenance["fingerprint"] == tasks.FullReport().fingerprint()
    assert {s["task"] for s in provenance["stages"]} == {
        "DownloadMNIST", "DownloadShakespeare", "OneHotMNIST", "BuildCharVocab", "TrainLogReg", "TrainMLP",
        "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP", "EvaluateLogReg", "EvaluateMLP", "EvaluateDeepMLP",
        "EvaluateCharRNN"}
    assert {s["since_last_report"] for s in provenance["stages"]} == {"new"}

    pipeline.set("TrainLogReg", "epochs", "3")
    pipeline.build()
    changes = {s["task"]: s["since_last_report"]
               for s in json.loads((report / "provenance.json").read_text())["stages"]}
    assert {t for t, c in changes.items() if c == "rebuilt"} == {"TrainLogReg", "EvaluateLogReg"}
    assert changes["TrainMLP"] == "unchanged"
