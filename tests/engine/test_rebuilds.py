"""Reruns build exactly the stages whose fingerprint changed: parameters, upstream artifacts and the
toy's own code count; insignificant parameters, help text, result-neutral modules and the engine do not."""

from __future__ import annotations

import pytest

from stagecache.stages import fingerprint
from tests.engine.conftest import FAMILIES, edit


def test_a_first_build_builds_all_three_and_a_rerun_builds_nothing(toy):
    assert toy.build() == FAMILIES
    assert {family for family, _ in toy.stored()} == FAMILIES
    assert toy.output(toy.package.Total()).load() == sum(toy.output(toy.package.Square()).load())
    assert toy.build() == set()
    assert len(toy.stored()) == 3


def test_a_significant_parameter_reruns_exactly_its_stage_and_what_depends_on_it(toy):
    toy.build()
    toy.set("Square", "power", "3")
    assert toy.build() == {"Square", "Total"}
    toy.set("MakeNumbers", "count", "7")
    assert toy.build() == FAMILIES
    assert len(toy.output(toy.package.Square()).load()) == 7
    toy.set("Square", "power", "2")  # back to an earlier Square configuration, with other numbers
    assert toy.build() == {"Square", "Total"}


def test_an_insignificant_parameter_reruns_nothing(toy):
    toy.build()
    toy.set("MakeNumbers", "label", "renamed")
    assert toy.build() == set()


# Each edit, and the stages it reruns; of those, the ones that reuse their previous artifact by early cutoff
# (the toy computes the same bytes after each of these edits, so a stage whose own code is unchanged cuts off).
@pytest.mark.parametrize(
    "module, old, new, rerun, reused",
    [
        ("total.py", "int(sum(squares))", "int(sum(squares)) + 0", {"Total"}, set()),
        ("arith.py", "** power", "** int(power)", {"Square", "Total"}, {"Total"}),
        (
            "square.py",
            "powers(numbers, self.power)",
            "powers(list(numbers), self.power)",
            {"Square", "Total"},
            {"Total"},
        ),
        ("make.py", "range(self.count)]", "range(int(self.count))]", FAMILIES, {"Square", "Total"}),
        # the parent package runs before each stage: what it does counts, a name it defines that no stage reads not
        (
            "__init__.py",
            "stagecache.install()\n",
            "stagecache.install()\nstagecache.declare(PROJECT)\n",
            FAMILIES,
            set(),
        ),
        ("__init__.py", "__all__ = [", "ALL = __all__ = [", set(), set()),
        # what cannot change a result
        ("make.py", 'description="how many numbers to draw"', 'description="how many integers"', set(), set()),
        ("project.py", '"the numbers drawn"', '"the numbers the toy drew"', set(), set()),  # declared result-neutral
        ("total.py", '"""The sum of Square', '# a comment\n    """The total of Square', set(), set()),
        ("square.py", "import luigi\n", "import luigi\nimport json  # noqa\n", set(), set()),  # a library import
    ],
    ids=[
        "total",
        "arith",
        "square",
        "make",
        "package",
        "unread-definition",
        "help-text",
        "result-neutral",
        "docstring",
        "library-import",
    ],
)
def test_a_code_edit_reruns_exactly_the_stages_that_run_that_code(toy_dir, toy_source, module, old, new, rerun, reused):
    toy_dir.build()
    edit(toy_source / module, old, new)
    plan = toy_dir.plan()
    assert {f for f, s in plan.items() if s.state == "will run"} == rerun
    if module == "total.py" and rerun:
        assert plan["Total"].reasons == ["code changed: toydag.total"]
    assert toy_dir.build() == rerun
    assert set(toy_dir.reused) == reused


def test_no_engine_module_enters_a_fingerprint(toy_dir):
    """The engine is a library: stagecache's modules are in no code hash, only the toy's own."""
    toy_dir.build()
    for stage in (toy_dir.package.MakeNumbers(), toy_dir.package.Square(), toy_dir.package.Total()):
        code = fingerprint.stage_code_hashes(stage)
        assert code and all(m.startswith("toydag") for m in code), code
        assert "toydag.project" not in code  # result-neutral
        assert toy_dir.output(stage).manifest()["code"] == code
    assert set(fingerprint.stage_code_hashes(toy_dir.package.Total())) == {"toydag", "toydag.total"}
    assert set(fingerprint.stage_code_hashes(toy_dir.package.Square())) == {"toydag", "toydag.square", "toydag.arith"}
