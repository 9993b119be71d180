"""Several processes on one store: exactly one creator wins, compare-and-swap loses no update."""

from __future__ import annotations

from stagecache.storage.stores.cas import read_json
from tests import forkserver
from tests.stores.workers import append_history, race_promote, race_put_if_absent, spec_of

# A fork server imports the workers once; each test's processes are then cheap forks of it
# (fresh interpreters, unlike plain fork, which would copy whatever threads this process has).
CTX = forkserver.context()


def run_all(target, argsets):
    processes = [CTX.Process(target=target, args=args) for args in argsets]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
        assert p.exitcode == 0, f"{target.__name__} exited with {p.exitcode}"


def test_put_if_absent_race_between_two_processes_has_exactly_one_winner(store):
    keys = [f"race/k{i:02d}" for i in range(20)]
    barrier, results = CTX.Barrier(2), CTX.Queue()
    run_all(race_put_if_absent, [(spec_of(store), name, keys, barrier, results) for name in ("A", "B")])
    won = dict(results.get(timeout=5) for _ in range(2))
    assert set(won["A"]).isdisjoint(won["B"])
    assert sorted(won["A"] + won["B"]) == keys
    for name, mine in won.items():
        for key in mine:
            assert store.get(key)[0] == name.encode()


def test_two_promotions_from_the_same_champion_cannot_both_succeed(store):
    store.put_if_absent("champions/mnist.json", b'{"champion": "old"}')
    barrier, results = CTX.Barrier(2), CTX.Queue()
    run_all(race_promote, [(spec_of(store), name, "champions/mnist.json", barrier, results) for name in ("A", "B")])
    outcome = dict(results.get(timeout=5) for _ in range(2))
    assert sorted(outcome.values()) == [False, True]
    winner = next(name for name, ok in outcome.items() if ok)
    assert read_json(store, "champions/mnist.json")[0] == {"champion": winner}


def test_concurrent_history_appends_lose_nothing(store):
    barrier = CTX.Barrier(2)
    run_all(append_history, [(spec_of(store), name, "history.json", 12, barrier) for name in ("A", "B")])
    history, _ = read_json(store, "history.json")
    assert sorted(history) == sorted(f"{n}-{i}" for n in "AB" for i in range(12))
    for name in "AB":  # each writer's entries in its own order
        assert [h for h in history if h.startswith(name)] == [f"{name}-{i}" for i in range(12)]
