"""Manifests are validated by one schema before any field is used (issue 24, item 5).

Each case gives one field of a real manifest (the toy DAG's Total, on a directory root) a value of the wrong
type or range: ``status`` shows the stage as ``corrupt (will rebuild)`` naming the field,
the real run quarantines the artifact and rebuilds it, and the next status finds it cached.
The object-store side (``manifest_or_problem``) shares the validator: checked on the real S3 server.
"""

from __future__ import annotations

import json
import re

import pytest

from stagecache.stages.status import format_plan
from stagecache.storage.manifest import manifest_problem
from tests.engine.conftest import run

# (field, wrong value); "artifact.x" is a field of the manifest's "artifact" object
WRONG = [
    ("artifact.sha256", ["x"]),
    ("artifact.sha256", "abc"),
    ("artifact.bytes", "SIZE"),  # the right size, as a string
    ("artifact.bytes", -1),
    ("artifact.bytes", True),
    ("artifact.bytes", 1.5),
    ("artifact.file", 7),
    ("artifact", "x"),
    ("task", 1),
    ("fingerprint", ["x"]),
    ("params", []),
    ("params", {"epochs": 3}),
    ("significant_params", "x"),
    ("upstream", 3),
    ("code", None),
    ("created", 5),
    ("created", "yesterday"),
    ("duration_s", "1.5"),
    ("duration_s", -2),
    ("host", 1),
    ("python", 3.11),
    ("platform", []),
    ("libraries", "x"),
]


def _spoil(manifest: dict, field: str, value) -> dict:
    where, _, name = field.rpartition(".")
    holder = manifest[where] if where else manifest
    if value == "SIZE":
        value = str(holder["bytes"])
    holder[name] = value
    return manifest


@pytest.mark.parametrize("field, value", WRONG, ids=[f"{f}={json.dumps(v)}" for f, v in WRONG])
def test_a_manifest_field_of_the_wrong_type_is_corrupt_in_status_and_rebuilt_by_the_run(toy_dir, field, value):
    toy = toy_dir
    toy.build()
    target = toy.output(toy.package.Total())
    manifest = json.loads(target.manifest_path.read_text())
    target.manifest_path.write_text(json.dumps(_spoil(manifest, field, value)))

    status = toy.plan()["Total"]
    assert status.label == "corrupt (will rebuild)"
    assert status.reasons[0].startswith(f"artifact corrupt: manifest {target.manifest_path.name}: {field} ")
    assert "Total  corrupt (will rebuild)" in format_plan([status])

    assert toy.build() == {"Total"}
    root = target.path.parents[1]
    quarantined = sorted(p.name.rsplit(".", 1)[0] for p in (root / "_quarantine").rglob("*") if p.is_file())
    stem = target.path.stem
    assert quarantined == [f"Total-{stem}.joblib", f"Total-{stem}.json"], quarantined
    assert not manifest_problem(json.loads(target.manifest_path.read_text()))
    assert toy.plan()["Total"].label == "cached"


@pytest.mark.parametrize("field, value", [("artifact.sha256", ["x"]), ("artifact.bytes", "SIZE")])
def test_the_status_command_and_a_luigi_run_on_a_spoilt_manifest(toy_dir, tmp_path, field, value):
    """The two cases of the issue through the real entry points: no traceback, exit 0, rebuilt."""
    toy = toy_dir
    toy.build()
    target = toy.output(toy.package.Total())
    target.manifest_path.write_text(json.dumps(_spoil(json.loads(target.manifest_path.read_text()), field, value)))
    cfg = toy.write_config(tmp_path / "toy.cfg")

    out = run(["-m", "toydag", "status", "Total"], tmp_path, cfg)
    assert "Traceback" not in out, out
    assert re.search(r"^Total +corrupt \(will rebuild\)", out, re.M) and f"{field} is " in out, out
    out = run(["-m", "luigi", "--module", "toydag", "Total"], tmp_path, cfg)
    assert "the stored artifact was corrupt; rebuilding it" in out, out[-3000:]
    out = run(["-m", "toydag", "status", "Total"], tmp_path, cfg)
    assert re.search(r"^Total +cached", out, re.M), out


@pytest.mark.parametrize(
    "field, value", [f for f in WRONG if f[0] != "artifact.file"] + [("artifact.key", 3), ("artifact.etag", [])]
)
def test_an_object_store_manifest_shares_the_schema(request, tmp_path, field, value):
    from stagecache.storage.stores.publish import manifest_or_problem, publish

    store = request.getfixturevalue("seaweed").store(cache_dir=tmp_path / "cache")
    body = publish(
        store, "TrainX/0123456789abcdef", b"weights", {"task": "TrainX", "created": "2026-01-01T00:00:00+00:00"}
    )
    assert manifest_or_problem(store, "TrainX/0123456789abcdef") == (body, "")
    spoilt = _spoil(json.loads(json.dumps(body)), field, value)
    key = "TrainX/0123456789abcdef.json"
    store.put_if_match(key, json.dumps(spoilt).encode(), store.head(key).etag)
    manifest, problem = manifest_or_problem(store, "TrainX/0123456789abcdef")
    assert manifest is None and problem.startswith(f"manifest {key}: {field} "), problem
