"""README and docs/ say only what the repository holds: CI runs README's test command,
and every file, test and link they name exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _code_block_after(text: str, marker: str) -> list[str]:
    """The lines of the first fenced code block after ``marker``."""
    rest = text[text.index(marker) :]
    block = rest[rest.index("```") + 3 :]
    block = block[block.index("\n") + 1 : block.index("```")]
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_exactly_readmes_test_command():
    readme = (ROOT / "README.md").read_text()
    (test_command,) = _code_block_after(readme, "The tests:")
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == test_command
    (main_command,) = _code_block_after(readme, "## Quick start")
    assert main_command.startswith("pip install")
    assert main_command.endswith("luigi --module tasks FullReport --workers 2")


def _all_test_names() -> dict[str, set[str]]:
    """Test file name -> the test functions defined in it."""
    found = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        found.setdefault(path.name, set()).update(re.findall(r"^\s*def (test_\w+)", path.read_text(), re.M))
    return found


def test_every_test_file_and_test_the_docs_cite_exists():
    tests = _all_test_names()
    every_test = set().union(*tests.values())
    for doc in DOCS:
        text = doc.read_text()
        for path in re.findall(r"\btests/[\w/]+\.py", text):
            assert (ROOT / path).is_file(), f"{doc.name} cites {path}, which does not exist"
        for file_name, test in re.findall(r"\b(test_\w+\.py)::(test_\w+)", text):
            assert test in tests.get(file_name, set()), f"{doc.name} cites {file_name}::{test}, which does not exist"
        for test in re.findall(r"`(test_\w+)`", text):
            assert test in every_test, f"{doc.name} cites `{test}`, which is no test"
        for file_name in re.findall(r"`(test_\w+\.py)`", text):
            assert file_name in tests, f"{doc.name} cites {file_name}, which does not exist"


def test_every_relative_link_and_repository_path_the_docs_name_exists():
    for doc in DOCS:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"
        for path in re.findall(r"`((?:pipeline|tasks|deploy|configs|benchmarks|\.ci)/[\w./-]*[\w/])`", text):
            if "<" not in path and "*" not in path:
                assert (ROOT / path).exists(), f"{doc.name} names {path}, which does not exist"


def test_no_path_outside_the_repository():
    for path in [
        *DOCS,
        ROOT / "luigi.cfg",
        *ROOT.glob("configs/*.cfg"),
        *ROOT.glob("pipeline/**/*.py"),
        *ROOT.glob("tasks/**/*.py"),
    ]:
        assert "../shared" not in path.read_text(), f"{path.relative_to(ROOT)} names a path outside the repository"
