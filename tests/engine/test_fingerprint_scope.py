"""Fingerprints are computed once per stage within a scope (one fingerprint, one status plan), and
never reused across calls: a task instance luigi reuses sees its upstream configuration change."""

from __future__ import annotations

from stagecache.stages.task import ArtifactTask


def test_a_status_plan_hashes_each_stage_once(toy_dir, monkeypatch):
    toy = toy_dir  # fingerprints do not depend on the kind of root
    hashed: list[str] = []
    original = ArtifactTask.fingerprint_inputs

    def counting(self):
        hashed.append(self.get_task_family())
        return original(self)

    monkeypatch.setattr(ArtifactTask, "fingerprint_inputs", counting)
    plan = toy.plan()
    assert sorted(hashed) == sorted(plan) == ["MakeNumbers", "Square", "Total"]
    hashed.clear()
    toy.package.Total().fingerprint()  # a fingerprint of its own: its own scope, each stage once again
    assert sorted(hashed) == ["MakeNumbers", "Square", "Total"]


def test_a_reused_task_instance_sees_its_upstream_configuration_change(toy_dir):
    toy = toy_dir
    total = toy.package.Total()
    before = total.fingerprint()
    toy.config.set("MakeNumbers", "count", "6")  # the instance stays; only its upstream's value changes
    assert total.fingerprint() != before
    toy.config.set("MakeNumbers", "count", "5")
    assert total.fingerprint() == before
