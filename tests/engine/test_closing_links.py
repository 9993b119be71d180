"""A run's closing ``report:`` line links the result of its own configuration (a stage's ``result_link``), on the
toy DAG, whose Summary publishes one page per configuration: two runs of different configurations at once on
one root, and a two-worker run whose configuration differs by a command-line value."""

from __future__ import annotations

import json

from tests.engine.conftest import wrote


def links(out: str) -> list[str]:
    return [line.split("report: ", 1)[1] for line in out.splitlines() if "stagecache.run.progress: report: " in line]


def test_two_configurations_at_once_on_one_root_each_link_their_own_result(toy_dir, tmp_path):
    toy = toy_dir
    toy.build(toy.package.Summary())
    runs = {}
    for count in ("6", "7"):
        toy.set("MakeNumbers", "count", count)
        summary = toy.package.Summary()
        runs[count] = (summary, toy.start(tmp_path / count, "Summary", "--Train-epoch-seconds", "0.02"))
    toy.set("MakeNumbers", "count", "5")
    pages = set()
    for count, (summary, proc) in runs.items():
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, out[-3000:]
        assert "Summary" in wrote(out), out[-3000:]
        toy.set("MakeNumbers", "count", count)
        own = summary.result_link()
        assert own is not None and links(out)[-1:] == [own], (count, links(out))
        page = json.loads(toy.root().read_file(f"{summary.own_directory()}/summary.json"))
        assert page["fingerprint"] == summary.fingerprint()
        assert page["total"] == toy.output(toy.package.Total()).load()  # this configuration's numbers
        pages.add(own)
    assert len(pages) == 2


def test_the_closing_link_of_a_two_worker_run_with_a_command_line_value_names_its_own_result(toy_dir, tmp_path):
    """Issue 33 item 2: with ``--workers 2`` the last stage's end comes from a worker process, after luigi has
    dropped the command-line values; the closing link was then computed for the configuration without them
    (the default's, or none). It names the result of this run's configuration, and so does the rerun's
    ``nothing to run`` line (logged as the process exits)."""
    toy = toy_dir
    toy.build(toy.package.Summary())  # the configuration without the flag has its own page
    default = toy.package.Summary().result_link()
    toy.set("MakeNumbers", "count", "6")
    own_summary = toy.package.Summary()
    toy.set("MakeNumbers", "count", "5")
    for attempt in ("run", "rerun"):
        proc = toy.start(tmp_path / attempt, "Summary", "--workers", "2", "--MakeNumbers-count", "6")
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, out[-3000:]
        toy.set("MakeNumbers", "count", "6")
        own = own_summary.result_link()
        toy.set("MakeNumbers", "count", "5")
        assert own is not None and own != default
        assert links(out) == [own], (attempt, links(out), out[-6000:])
        if attempt == "rerun":
            assert "nothing to run: Summary is up to date" in out, out[-3000:]
