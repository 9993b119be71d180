"""docs/engine.md's three-stage pipeline works as the page says, in under 45 lines."""

from __future__ import annotations

import re

from tests.engine.conftest import REPO, run, write_cfg


def example_files() -> dict[str, str]:
    """The page's python blocks, each under the path its first line names (``# wordcount/...``)."""
    text = (REPO / "docs" / "engine.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    files = {}
    for block in blocks:
        first, _, body = block.partition("\n")
        match = re.match(r"# (wordcount/\w+\.py)\b", first)
        if match:
            files[match.group(1)] = body
    return files


def test_the_three_stage_example_in_docs_engine_md_builds_three_stages_then_none(tmp_path):
    files = example_files()
    assert set(files) == {"wordcount/__init__.py", "wordcount/__main__.py"}
    assert sum(len(body.splitlines()) + 1 for body in files.values()) < 45  # with the path lines
    for name, body in files.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_text(body)
    cfg = write_cfg(tmp_path / "luigi.cfg", "artifacts")  # relative, as the page says: in the working directory
    paths = (tmp_path / "src",)
    ran = run(["-m", "luigi", "--module", "wordcount", "Top", "--local-scheduler"], tmp_path, cfg, paths)
    assert re.search(
        r"\* 3 ran successfully:\n    - 1 Counts\((point=)?\)\n    - 1 Top\(n=2\)\n    - 1 Words\(", ran
    ), ran
    assert sorted(p.parent.name for p in (tmp_path / "artifacts").glob("*/*.joblib")) == ["Counts", "Top", "Words"]
    again = run(["-m", "luigi", "--module", "wordcount", "Top", "--local-scheduler"], tmp_path, cfg, paths)
    assert "Did not run any tasks" in again and "ran successfully" not in again
    status = run(["-m", "wordcount", "status", "--Top-n", "3"], tmp_path, cfg, paths)
    rows = {line.split()[0]: line for line in status.splitlines()[1:]}
    assert rows["Words"].split()[1] == "cached" and rows["Counts"].split()[1] == "cached"
    assert rows["Top"].split()[1:3] == ["will", "run"] and rows["Top"].endswith("parameter n: 2 → 3")
    loaded = run(
        ["-c", "import stagecache, wordcount; print(stagecache.load('Top', build=False))"], tmp_path, cfg, paths
    )
    assert "[('the', 3), ('and', 2)]" in loaded.splitlines(), loaded
