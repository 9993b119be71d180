"""``Project.preload``: imported once a run finds a stage to run (before luigi would fork workers), never
by a run that finds everything cached."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from stagecache.run import preload
from stagecache.stages import project


@pytest.fixture
def probes(tmp_path, monkeypatch):
    """Two modules nobody has imported, on the path for this test only."""
    names = [f"preload_probe_{tmp_path.name.replace('-', '_')}_{i}" for i in (1, 2)]
    for name in names:
        (tmp_path / f"{name}.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield names
    for name in names:
        sys.modules.pop(name, None)


def test_preload_happens_when_a_stage_will_run_and_not_when_all_is_cached(toy_dir, probes, monkeypatch):
    toy = toy_dir
    first, second = probes
    preload.install()
    monkeypatch.setattr(project, "_declared", dataclasses.replace(project.current(), preload=(first,)))
    monkeypatch.setattr(preload, "_done", False)
    assert toy.build() == {"MakeNumbers", "Square", "Total"}
    assert first in sys.modules

    monkeypatch.setattr(project, "_declared", dataclasses.replace(project.current(), preload=(second,)))
    monkeypatch.setattr(preload, "_done", False)
    assert toy.build() == set()
    assert second not in sys.modules
