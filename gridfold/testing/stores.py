"""The results-store contract, as checks any :class:`~gridfold.store.ResultStore` must pass.

Each ``check_*`` function takes a fresh, empty, open store and raises
``AssertionError`` if the store breaks the contract written in
:class:`~gridfold.store.base.ResultStore`'s docstring (exact round trips,
replacement, atomic batches, values, closing). :func:`check_store` runs them
all, each on a new store from a factory; gridfold's own stores run them in
``tests/test_store.py``, and a third-party store can do the same::

    from gridfold.testing import check_store

    def test_my_store(tmp_path):
        check_store(lambda: MyStore(tmp_path / "results"))

(optuna ships its storage tests the same way, ``optuna.testing``.)
"""

from __future__ import annotations

import dataclasses
import math
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gridfold.exceptions import StoreError
from gridfold.store.base import ResultStore, StoredResult
from gridfold.tasks import Task, TaskResult
from gridfold.testing._asserts import raises

__all__ = ["STORE_CHECKS", "check_store", "row", "assert_same_row", "ROUND_TRIP_ROWS"]

NEG_NAN = struct.unpack("<d", bytes.fromhex("000000000000f8ff"))[0]  # sign bit set
PAYLOAD_NAN = struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0]
EXACT_FLOATS = [0.1 + 0.2, 1e-300, 5e-324, -0.0, math.inf, -math.inf, 2 / 3, 1.7976931348623157e308]


def row(key: str, study: str = "study.toml", **changes: Any) -> StoredResult:
    """A valid stored result under ``key``, with ``changes`` to its fields."""
    values: dict[str, Any] = {
        "key": key,
        "study": study,
        "model": "tree",
        "params": '{"max_depth": 3}',
        "split": 0,
        "test_scores": 0.8125,
        "train_scores": None,
        "n_test_samples": 16,
        "fit_time": 0.00123,
        "score_time": 0.00045,
        "fit_error": None,
        "error_kind": None,
        "created": 1700000000.25,
    }
    values.update(changes)
    return StoredResult(**values)


def bits(scores: Any) -> Any:  # noqa: D103
    """Scores with every float as its IEEE bits and every value with its type, for exact checks."""
    if isinstance(scores, dict):
        return [(name, bits(v)) for name, v in scores.items()]
    if isinstance(scores, float):
        return ("float", struct.pack("<d", scores).hex())
    return (type(scores).__name__, scores)


def assert_same_row(got: StoredResult, expected: StoredResult) -> None:
    """``got`` equals ``expected`` in every field, floats bit for bit."""
    assert bits(got.test_scores) == bits(expected.test_scores)
    assert bits(got.train_scores) == bits(expected.train_scores)
    for name in ("fit_time", "score_time", "created"):
        assert bits(getattr(got, name)) == bits(float(getattr(expected, name))), name
    for name in ("key", "study", "model", "params", "split", "n_test_samples"):
        assert getattr(got, name) == getattr(expected, name), name
    assert (got.fit_error, got.error_kind) == (expected.fit_error, expected.error_kind)


ROUND_TRIP_ROWS = [
    row("float", test_scores=0.1 + 0.2, train_scores=1.0),
    row("nan", test_scores=math.nan, train_scores=NEG_NAN),
    row("payload-nan", test_scores=PAYLOAD_NAN),
    row("exact", test_scores={f"m{i}": v for i, v in enumerate(EXACT_FLOATS)}),
    # Multimetric: dict order is scorer order, not sorted.
    row("multi", test_scores={"zeta": 0.5, "alpha": math.nan, "mid": -1.0}, train_scores=None),
    row("multi-train", test_scores={"b": 0.25, "a": 0.75}, train_scores={"b": 1.0, "a": NEG_NAN}),
    # error_score may be an int; a scorer may return an int or a bool.
    row("ints", test_scores=0, train_scores={"acc": 1, "ok": True}),
    row(
        "failed",
        test_scores=math.nan,
        fit_error='Traceback (most recent call last):\n  ...\nValueError: "bad" ü\n',
        error_kind="exception",
    ),
    row("crash", test_scores={"a": math.nan}, fit_error="killed", error_kind="crash"),
    row("timeout", fit_error="timed out", error_kind="timeout", split=7, n_test_samples=0),
]


def check_put_get_round_trip_is_exact(store: ResultStore) -> None:
    store.put(ROUND_TRIP_ROWS)
    got = store.get([r.key for r in ROUND_TRIP_ROWS])
    assert list(got) == [r.key for r in ROUND_TRIP_ROWS]
    for expected in ROUND_TRIP_ROWS:
        assert_same_row(got[expected.key], expected)


def check_task_result_round_trip(store: ResultStore) -> None:
    task = Task(2, 5, 1)
    results = [
        TaskResult(
            task, {"acc": 0.1 + 0.2, "f1": NEG_NAN}, {"acc": 1.0, "f1": 0.5}, 30, 0.01, 0.002
        ),
        TaskResult(task, math.nan, None, 30, 0.01, 0.0, "Traceback ...", "crash"),
        TaskResult(task, np.float64(2 / 3).item(), None, 30, 1e-7, 3e-7),
    ]
    for i, result in enumerate(results):
        stored = StoredResult.from_result(f"k{i}", result, study="s", model="m", params="{}")
        assert stored.split == task.split and abs(stored.created - time.time()) < 60
        store.put([stored])
        back = store.get([f"k{i}"])[f"k{i}"].to_result(task)
        assert back.task == task
        assert bits(back.test_scores) == bits(result.test_scores)
        assert bits(back.train_scores) == bits(result.train_scores)
        assert (back.n_test_samples, back.fit_error, back.error_kind) == (
            result.n_test_samples,
            result.fit_error,
            result.error_kind,
        )
        assert bits(back.fit_time) == bits(result.fit_time)
        assert bits(back.score_time) == bits(result.score_time)


def check_to_result_uses_the_given_task(store: ResultStore) -> None:
    # A key names a split by its indices; the same split at another position reuses the row.
    store.put([row("k", split=3)])
    assert store.get(["k"])["k"].to_result(Task(0, 1, 0)).task == Task(0, 1, 0)


def check_numpy_scalars_are_stored_as_their_python_values(store: ResultStore) -> None:
    store.put(
        [
            row(
                "np",
                test_scores={"a": np.float64(0.1 + 0.2), "b": np.float32(0.5), "c": np.int64(3)},
                train_scores=np.float64(math.nan),
                split=np.int64(2),
                n_test_samples=np.int32(9),
                fit_time=np.float64(0.25),
            )
        ]
    )
    got = store.get(["np"])["np"]
    assert bits(got.test_scores) == bits({"a": 0.1 + 0.2, "b": 0.5, "c": 3})
    assert bits(got.train_scores) == bits(math.nan)
    assert (got.split, got.n_test_samples, got.fit_time) == (2, 9, 0.25)
    assert type(got.split) is int and type(got.n_test_samples) is int


def check_put_replaces_a_row_with_the_same_key_and_moves_it_last(store: ResultStore) -> None:
    store.put([row("a", fit_error="killed", error_kind="crash", test_scores=math.nan)])
    store.put([row("b"), row("c")])
    store.put([row("a", test_scores=0.5)])
    assert len(store) == 3
    assert [r.key for r in store.rows()] == ["b", "c", "a"]
    again = store.get(["a"])["a"]
    assert (again.test_scores, again.fit_error, again.error_kind) == (0.5, None, None)


def check_last_row_of_a_key_wins_within_one_put(store: ResultStore) -> None:
    store.put([row("a", test_scores=0.1), row("b"), row("a", test_scores=0.2)])
    assert len(store) == 2
    assert store.get(["a"])["a"].test_scores == 0.2


def check_get_returns_only_found_keys(store: ResultStore) -> None:
    store.put([row("a"), row("b")])
    assert set(store.get(["b", "missing", "a", "b"])) == {"a", "b"}
    assert store.get(["missing"]) == {}
    assert store.get([]) == {}
    assert store.get(iter(["a"])).keys() == {"a"}  # any iterable


def check_get_many_keys(store: ResultStore) -> None:
    # More keys than one SELECT takes (SQLiteStore reads them in chunks).
    store.put([row(f"k{i:04d}", split=i) for i in range(1234)])
    wanted = [f"k{i:04d}" for i in range(0, 1300, 3)]
    got = store.get(wanted)
    assert sorted(got) == [k for k in wanted if int(k[1:]) < 1234]
    assert all(got[k].split == int(k[1:]) for k in got)


def check_rows_filters_by_study_in_insertion_order(store: ResultStore) -> None:
    store.put([row("1", study="a"), row("2", study="b"), row("3", study="a")])
    store.put([row("4", study="b"), row("0", study="a")])
    assert [r.key for r in store.rows()] == ["1", "2", "3", "4", "0"]
    assert [r.key for r in store.rows("a")] == ["1", "3", "0"]
    assert [r.key for r in store.rows(study="b")] == ["2", "4"]
    assert store.rows("none") == []


def check_len_and_truthiness(store: ResultStore) -> None:
    assert len(store) == 0
    assert store  # an empty store is still a store: `if store:` must not skip it
    store.put([])
    assert len(store) == 0
    store.put([row("a"), row("b")])
    assert len(store) == 2


def check_stored_rows_are_values(store: ResultStore) -> None:
    scores = {"a": 0.5, "b": 0.25}
    store.put([row("k", test_scores=scores)])
    scores["a"] = 99.0  # changing the caller's dict after put changes nothing stored
    got = store.get(["k"])["k"]
    assert got.test_scores == {"a": 0.5, "b": 0.25}
    result = got.to_result(Task(0, 0, 0))
    assert isinstance(result.test_scores, dict)
    result.test_scores["a"] = -1.0
    assert store.get(["k"])["k"].test_scores == {"a": 0.5, "b": 0.25}
    assert store.rows()[0].test_scores == {"a": 0.5, "b": 0.25}


_BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"test_scores": "0.5"}, "test_scores"),
    ({"test_scores": None}, "test_scores"),
    ({"test_scores": {"a": object()}}, "test_scores"),
    ({"train_scores": {1: 0.5}}, "train_scores"),
    ({"test_scores": 1 + 2j}, "test_scores"),
    ({"split": 1.5}, "split"),
    ({"split": True}, "split"),
    ({"n_test_samples": "16"}, "n_test_samples"),
    ({"fit_time": None}, "fit_time"),
    ({"error_kind": "segfault"}, "error_kind"),
    ({"fit_error": 3}, "fit_error"),
    ({"key": ""}, "key"),
    ({"model": None}, "model"),
]


def check_put_is_all_or_nothing(store: ResultStore) -> None:
    store.put([row("kept", test_scores=0.5)])
    for changes, field in _BAD_ROWS:
        bad = dataclasses.replace(row("bad"), **changes)
        batch = [row("new"), row("kept", test_scores=0.75), bad, row("after")]
        expected = rf"key '{bad.key}': {field} must be .*nothing of this batch"
        with raises(StoreError, match=expected):
            store.put(batch)
        assert len(store) == 1, changes
        assert store.get(["new", "bad", "after"]) == {}, changes
        assert store.get(["kept"])["kept"].test_scores == 0.5, changes


def check_put_rejects_what_is_not_a_row(store: ResultStore) -> None:
    with raises(StoreError, match="must be a StoredResult"):
        store.put([row("a"), {"key": "b"}])  # type: ignore[list-item]
    assert len(store) == 0


def check_close_is_idempotent_and_final(store: ResultStore) -> None:
    store.put([row("a")])
    store.close()
    store.close()
    for call in (
        lambda: store.put([row("b")]),
        lambda: store.get(["a"]),
        lambda: store.rows(),
        lambda: len(store),
    ):
        with raises(StoreError, match="closed"):
            call()


def check_context_manager_closes(store: ResultStore) -> None:
    with store as entered:
        assert entered is store
        store.put([row("a")])
    with raises(StoreError, match="closed"):
        len(store)


def check_context_manager_closes_on_error(store: ResultStore) -> None:
    with raises(KeyError), store:
        raise KeyError("boom")
    with raises(StoreError, match="closed"):
        store.get(["a"])


#: Every check of the contract, by name.
STORE_CHECKS: dict[str, Callable[[ResultStore], None]] = {
    check.__name__.removeprefix("check_"): check
    for check in (
        check_put_get_round_trip_is_exact,
        check_task_result_round_trip,
        check_to_result_uses_the_given_task,
        check_numpy_scalars_are_stored_as_their_python_values,
        check_put_replaces_a_row_with_the_same_key_and_moves_it_last,
        check_last_row_of_a_key_wins_within_one_put,
        check_get_returns_only_found_keys,
        check_get_many_keys,
        check_rows_filters_by_study_in_insertion_order,
        check_len_and_truthiness,
        check_stored_rows_are_values,
        check_put_is_all_or_nothing,
        check_put_rejects_what_is_not_a_row,
        check_close_is_idempotent_and_final,
        check_context_manager_closes,
        check_context_manager_closes_on_error,
    )
}


def check_store(make_store: Callable[[], ResultStore]) -> None:
    """Run every check of the store contract, each on a fresh store.

    Parameters
    ----------
    make_store : callable
        Returns a new, empty, open store each time it is called. Each store
        is closed after its check (a check may close it itself).

    Raises
    ------
    AssertionError
        Naming the first check the store fails.
    """
    for name, check in STORE_CHECKS.items():
        store = make_store()
        try:
            check(store)
        except AssertionError as exc:
            raise AssertionError(f"store check {name!r} failed: {exc}") from exc
        finally:
            store.close()
