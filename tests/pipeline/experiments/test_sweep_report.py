"""The sweep page on points made from made-up artifacts: what it says, and how it lays out in Chromium."""

import copy
import re
from html.parser import HTMLParser

import pytest

from pipeline.experiments.points import summarize_point
from pipeline.experiments.sweep_report import build_sweep_report
from tests import chromium
from tests.pipeline.names import MODELS
from tests.pipeline.test_report_build import made_up_inputs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ACC = "TrainDeepMLP val_accuracy"


def _points():
    """Four configurations: three with every model (deep-net accuracy 0.95, 0.99, 0.97), one with the
    char-RNN only, a long parameter value, and a label that needs escaping."""
    inputs = made_up_inputs()
    points = []
    for lr, acc in (("0.1", 0.95), ("0.05", 0.99), ("0.2", 0.97)):
        i = copy.deepcopy(inputs)
        i["evaluated"]["TrainDeepMLP"]["val_accuracy"] = acc
        i["trained"]["TrainDeepMLP"]["history"]["val_accuracy"] = [acc - 0.05 * (3 - e) for e in (1, 2, 3)]
        params = {
            "TrainDeepMLP.learning_rate": lr,
            "TrainDeepMLP.seed": "0",
            "DownloadMNIST.sha256": "{" + "e" * 80 + "}",
        }
        points.append(summarize_point(f"lr {lr}", params, i["trained"], i["evaluated"], i["moons"], models=MODELS))
    rnn = summarize_point(
        "<rnn & co>",
        {"TrainDeepMLP.seed": "0", "TrainCharRNN.hidden": "256"},
        {"TrainCharRNN": inputs["trained"]["TrainCharRNN"]},
        {"TrainCharRNN": inputs["evaluated"]["TrainCharRNN"]},
        models=MODELS,
    )
    return [*points, rnn]


@pytest.fixture(scope="module")
def files():
    links = {
        "lr 0.1": "points/lr-0.1/provenance.json",
        "lr 0.05": "points/lr-0.05/provenance.json",
        "<rnn & co>": "points/rnn/provenance.json",
    }
    return build_sweep_report(
        "Sweep learning-rate", _points(), links, generated_at="2026-12-01 03:00 UTC", dpi=20, models=MODELS
    )


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.headers, self.links, self.images, self._cell = [], [], {}, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.rows.append([])
        elif tag == "tr":
            self.rows[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "a":
            self._href = attrs["href"]
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if getattr(self, "_href", None):
            self.links[data] = self._href
            self._href = None

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1][-1].append(self._cell.strip())
            self._cell = None


def test_page_table_sorted_with_best_marked_and_linked(files):
    page = files["index.html"].decode()
    parsed = _Cells()
    parsed.feed(page)
    compare, shared, same = parsed.rows
    header = compare[0]
    # only the differing params (the char-RNN point has no sha256 pin: that differs too)
    assert header[:4] == ["label", "DownloadMNIST.sha256", "TrainCharRNN.hidden", "TrainDeepMLP.learning_rate"]
    assert f"{ACC} ↑" in header and "TrainDeepMLP epochs" in header  # directionless metrics without an arrow
    # issue 31: a metric equal in every configuration is left out of the comparison, listed below it
    assert not any(h.startswith("TrainCharRNN ") for h in header)
    assert ["TrainCharRNN val_loss (nats/char)", "1.69"] in same[1:]
    labels = [row[0] for row in compare[1:]]
    assert labels == ["lr 0.05", "lr 0.2", "lr 0.1", "<rnn & co>"]  # by deep-net accuracy, best first; none last
    acc = header.index(f"{ACC} ↑")
    assert [row[acc] for row in compare[1:]] == ["0.99 ★", "0.97", "0.95", "—"]
    assert page.count("★</strong>") == 1  # every other metric is the same in all points: nothing to mark
    assert "Sorted by <em>TrainDeepMLP val_accuracy</em>, descending." in page
    assert parsed.links == {
        "lr 0.05": "points/lr-0.05/provenance.json",
        "lr 0.1": "points/lr-0.1/provenance.json",
        "<rnn & co>": "points/rnn/provenance.json",
    }  # lr 0.2 has none: plain text
    assert "&lt;rnn &amp; co&gt;" in page
    assert shared[1:] == [["TrainDeepMLP.seed", "0"]]
    assert "<h1>Sweep learning-rate — comparison</h1>" in page
    assert "Generated 2026-12-01 03:00 UTC: 4 configurations, 3 differing parameters." in page
    # a long value is cut, the whole of it on hover
    assert re.search(r"<span title='\{e{80}\}'>\{e{22}…</span>", page)


def test_one_overlaid_figure_per_model_family(files):
    names = [
        "curves_TrainLogReg.png",
        "curves_TrainMLP.png",
        "curves_TrainDeepMLP.png",
        "curves_TrainCharRNN.png",
        "curves_TrainMoonsMLP.png",
    ]
    assert sorted(files) == sorted([*names, "index.html"])
    parsed = _Cells()
    parsed.feed(files["index.html"].decode())
    assert parsed.images == names
    assert all(files[n].startswith(PNG_SIGNATURE) for n in names)
    page = files["index.html"].decode()
    assert "char-RNN (tanh, scan): training loss and val loss per epoch of 4 configurations" in page
    assert (
        "deep net (784-625-625-10, ReLU, dropout): training loss and val accuracy per epoch of 3 configurations" in page
    )


def test_sorting_by_another_metric_and_duplicate_labels(files):
    points = _points()
    page = build_sweep_report("s", points[:3], {}, sort_by=ACC, descending=False, dpi=20, models=MODELS)
    page = page["index.html"].decode()
    assert page.index(">lr 0.1<") < page.index(">lr 0.2<") < page.index(">lr 0.05<")
    with pytest.raises(ValueError, match="share a label"):
        build_sweep_report("s", [points[0], points[0]], {}, dpi=20, models=MODELS)


def test_page_fits_a_phone_and_a_desktop_and_every_image_loads(files, tmp_path):
    site = tmp_path / "sweep"
    site.mkdir()
    for name, data in files.items():
        (site / name).write_bytes(data)
    for width, seen in chromium.layout(site / "index.html", (420, 1400), tmp_path).items():
        assert seen["innerWidth"] == width
        assert seen["scrollWidth"] <= width, f"the page is {seen['scrollWidth']} px wide in a {width} px window"
        assert len(seen["images"]) == 5
        assert all(i["complete"] and i["naturalWidth"] > 0 for i in seen["images"]), seen["images"]


def test_equal_curves_are_drawn_once_under_their_labels():
    """Issue 31: a model no swept value reaches drew one line per configuration under a legend of all of them."""
    from pipeline.experiments.sweep_report import same_curves_once

    a = {"epoch": [1, 2], "train_loss": [0.5, 0.4]}
    b = {"epoch": [1, 2], "train_loss": [0.6, 0.3]}
    assert same_curves_once({"x": a, "y": dict(a), "z": dict(a)}) == {"all 3 configurations": a}
    assert same_curves_once({"x": a, "y": b, "z": dict(a)}) == {"x, z": a, "y": b}
    assert same_curves_once({"x": a}) == {"x": a}


def test_each_point_links_its_report_and_the_configuration_in_effect_is_listed():
    """A point that built a report links it beside its provenance; the stages' parameters every point has
    alike are the configuration in effect; a failed point is listed with why and its record."""
    points = _points()[:2]
    points[0]["report"] = "../../reports/0123456789abcdef/index.html"
    for point, lr in zip(points, ("0.1", "0.05")):
        point["stages"] = [
            {"task": "TrainDeepMLP", "params": {"lr": lr, "epochs": "50"}},
            {"task": "OneHotMNIST", "params": {"val_size": "10000"}},
        ]
    points[1]["failed"] = {"why": "TrainDeepMLP diverged (epoch 1, loss nan)", "record": "/r/T/x.diverged.json"}
    page = build_sweep_report("s", points, {}, dpi=20, models=MODELS)["index.html"].decode()
    assert "lr 0.1 · <a href='../../reports/0123456789abcdef/index.html'>report</a>" in page
    assert page.count(">report</a>") == 1
    section = page[page.index("<h2>Configuration in effect</h2>") :]
    assert "2 parameters" in section and "TrainDeepMLP.epochs" in section and "OneHotMNIST.val_size" in section
    assert "TrainDeepMLP.lr" not in section  # it differs between the points
    assert "2 configurations (1 failed)" in page and "/r/T/x.diverged.json" in page
