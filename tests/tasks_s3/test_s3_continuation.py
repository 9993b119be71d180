"""A longer training continues from a shorter one on an ``s3://`` root: the training state is kept, found and
copied through the store, and the result is the bits of a training from scratch."""

from __future__ import annotations

import tasks
from stagecache.stages.status import plan
from tests.tasks.test_continuation import _scratch, assert_same_training, epochs_trained  # noqa: F401 -- fixture


def test_a_longer_training_continues_from_the_state_kept_in_the_store(s3pipeline, tmp_path, epochs_trained):  # noqa: F811
    s3pipeline.build(tasks.TrainMLP())
    short = tasks.TrainMLP().output()
    store, prefix = s3pipeline.store, f"{short.stem}.checkpoints/"
    assert sorted(store.list(prefix)) == [f"{prefix}epoch-00002.joblib", f"{prefix}epoch-00002.json"]
    assert short.manifest()["training_state"]["bytes"] == sum(store.head(k).size for k in store.list(prefix))

    s3pipeline.set("TrainMLP", "epochs", "4")
    status = {s.family: s for s in plan(tasks.TrainMLP())}["TrainMLP"]
    assert status.reasons[0] == f"continues from epochs=2 (fingerprint {short.stem.split('/')[1]}…)"
    epochs_trained.clear()
    assert s3pipeline.build(tasks.TrainMLP()) == {"TrainMLP"}
    assert epochs_trained == [("TrainMLP", 3), ("TrainMLP", 4)]
    longer = tasks.TrainMLP().output()
    assert longer.manifest()["continued_from"]["fingerprint"] == short.manifest()["fingerprint"]
    assert sorted(store.list(f"{longer.stem}.checkpoints/")) == [
        f"{longer.stem}.checkpoints/epoch-00004.joblib",
        f"{longer.stem}.checkpoints/epoch-00004.json",
    ]
    assert_same_training(longer.load(), _scratch(s3pipeline, tmp_path, "TrainMLP", 4))
