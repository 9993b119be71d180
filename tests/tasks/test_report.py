"""The published report on the tiny end-to-end fixture."""

import json
import re
from html.parser import HTMLParser

import tasks
from tests import chromium

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


HISTORY = [  # two retrains' records, written out of date order
    {
        "date": "2026-01-31",
        "model": "TrainLogReg",
        "fingerprint": "b" * 64,
        "metric": "test_accuracy",
        "value": 0.9,
        "promoted": False,
        "reason": "already the champion",
        "recorded": "2026-01-31T01:00:00+00:00",
    },
    {
        "date": "2026-01-30",
        "model": "TrainLogReg",
        "fingerprint": "a" * 64,
        "metric": "test_accuracy",
        "value": 0.9,
        "promoted": True,
        "reason": "first TrainLogReg model",
        "recorded": "2026-01-30T01:00:00+00:00",
    },
]


def test_report_page_figures_and_numbers(pipeline, tmp_path):
    pipeline.root.mkdir(parents=True)
    (pipeline.root / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    pipeline.build()
    report = pipeline.root / "report"
    html = (report / "index.html").read_text()
    page = _Collector()
    page.feed(html)
    page.close()
    assert page.stack == []
    assert len(page.images) == 9 and {"decision_boundary.png", "history.png"} <= set(page.images)
    for src in page.images:
        assert (report / src).read_bytes().startswith(PNG_SIGNATURE), src

    # every image loads, and nothing overflows the page sideways, on a phone and on a desktop
    for width, seen in chromium.layout(report / "index.html", (420, 1400), tmp_path).items():
        assert seen["innerWidth"] == width
        assert seen["scrollWidth"] <= width, f"the page is {seen['scrollWidth']} px wide in a {width} px window"
        assert len(seen["images"]) == 9
        assert all(i["complete"] and i["naturalWidth"] > 0 for i in seen["images"]), seen["images"]

    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics) == {"TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainCharRNN", "TrainMoonsMLP"}
    text = " ".join(page.cells)
    for family in ("TrainLogReg", "TrainMLP", "TrainDeepMLP", "TrainMoonsMLP"):
        assert f"test accuracy {metrics[family]['test_accuracy']:.4f}" in text
        assert f"{metrics[family]['parameters']:,}" in text
    moons = tasks.TrainMoonsMLP().output().load()["history"]["test_accuracy"][-1]
    assert metrics["TrainMoonsMLP"]["test_accuracy"] == moons and metrics["TrainMoonsMLP"]["epochs"] == 3
    rnn = metrics["TrainCharRNN"]
    history = tasks.TrainCharRNN().output().load()["history"]["val_loss"]
    assert rnn["best_val_loss"] == min(history) and rnn["last_val_loss"] == history[-1]
    assert rnn["kept_epoch"] == rnn["best_epoch"] == 1 + history.index(min(history))
    assert f"val loss {rnn['val_loss']:.4f} nats/char" in text
    assert f"best {rnn['best_val_loss']:.4f} at epoch {rnn['best_epoch']}, last {rnn['last_val_loss']:.4f}" in text
    assert "seed 0.9856" in text

    # generated-at time and code version; the history newest first; long provenance values cut
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC from code version <code>([0-9a-f]{40}|unknown)", html)
    assert html.index("<td>2026-01-31</td>") < html.index("<td>2026-01-30</td>")
    sha = json.loads(pipeline.get("DownloadMNIST", "sha256"))["train-images-idx3-ubyte"]
    provenance_html = html.split("<h2>Provenance</h2>", 1)[1]
    assert provenance_html.count(sha) == 2  # once in the hover title, once under "full values"
    assert "<details><summary>full values</summary>" in provenance_html

    provenance = json.loads((report / "provenance.json").read_text())
    assert provenance["fingerprint"] == tasks.FullReport().fingerprint()
    assert {s["task"] for s in provenance["stages"]} == {
        "DownloadMNIST",
        "DownloadShakespeare",
        "OneHotMNIST",
        "BuildCharVocab",
        "TrainLogReg",
        "TrainMLP",
        "TrainDeepMLP",
        "TrainCharRNN",
        "TrainMoonsMLP",
        "EvaluateLogReg",
        "EvaluateMLP",
        "EvaluateDeepMLP",
        "EvaluateCharRNN",
    }
    assert {s["since_last_report"] for s in provenance["stages"]} == {"new"}

    pipeline.set("TrainLogReg", "epochs", "3")
    pipeline.build()
    changes = {
        s["task"]: s["since_last_report"] for s in json.loads((report / "provenance.json").read_text())["stages"]
    }
    assert {t for t, c in changes.items() if c == "rebuilt"} == {"TrainLogReg", "EvaluateLogReg"}
    assert changes["TrainMLP"] == "unchanged"
