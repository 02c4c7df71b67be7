"""Results stores: one conformance suite for every store, then what only SQLite promises.

Real SQLite files in tmp_path, real processes; no mocks.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gridfold.exceptions
from gridfold.exceptions import GridfoldError, ParameterError, StoreError
from gridfold.store import MemoryStore, ResultStore, SQLiteStore, StoredResult, open_store
from gridfold.tasks import Task, TaskResult

NEG_NAN = struct.unpack("<d", bytes.fromhex("000000000000f8ff"))[0]  # sign bit set
PAYLOAD_NAN = struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0]
EXACT_FLOATS = [0.1 + 0.2, 1e-300, 5e-324, -0.0, math.inf, -math.inf, 2 / 3, 1.7976931348623157e308]


def row(key: str, study: str = "study.toml", **changes: Any) -> StoredResult:
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


def bits(scores: Any) -> Any:
    """Scores with every float as its IEEE bits and every value with its type, for exact checks."""
    if isinstance(scores, dict):
        return [(name, bits(v)) for name, v in scores.items()]
    if isinstance(scores, float):
        return ("float", struct.pack("<d", scores).hex())
    return (type(scores).__name__, scores)


def assert_same_row(got: StoredResult, expected: StoredResult) -> None:
    assert bits(got.test_scores) == bits(expected.test_scores)
    assert bits(got.train_scores) == bits(expected.train_scores)
    for name in ("fit_time", "score_time", "created"):
        assert bits(getattr(got, name)) == bits(float(getattr(expected, name))), name
    for name in ("key", "study", "model", "params", "split", "n_test_samples"):
        assert getattr(got, name) == getattr(expected, name), name
    assert (got.fit_error, got.error_kind) == (expected.fit_error, expected.error_kind)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    made: ResultStore = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "results.db")
    )
    yield made
    made.close()


# --------------------------------------------------------------------------
# Conformance: every store
# --------------------------------------------------------------------------


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


def test_put_get_round_trip_is_exact(store: ResultStore) -> None:
    store.put(ROUND_TRIP_ROWS)
    got = store.get([r.key for r in ROUND_TRIP_ROWS])
    assert list(got) == [r.key for r in ROUND_TRIP_ROWS]
    for expected in ROUND_TRIP_ROWS:
        assert_same_row(got[expected.key], expected)


def test_task_result_round_trip(store: ResultStore) -> None:
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


def test_to_result_uses_the_given_task(store: ResultStore) -> None:
    # A key names a split by its indices; the same split at another position reuses the row.
    store.put([row("k", split=3)])
    assert store.get(["k"])["k"].to_result(Task(0, 1, 0)).task == Task(0, 1, 0)


def test_numpy_scalars_are_stored_as_their_python_values(store: ResultStore) -> None:
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


def test_put_replaces_a_row_with_the_same_key_and_moves_it_last(store: ResultStore) -> None:
    store.put([row("a", fit_error="killed", error_kind="crash", test_scores=math.nan)])
    store.put([row("b"), row("c")])
    store.put([row("a", test_scores=0.5)])
    assert len(store) == 3
    assert [r.key for r in store.rows()] == ["b", "c", "a"]
    again = store.get(["a"])["a"]
    assert (again.test_scores, again.fit_error, again.error_kind) == (0.5, None, None)


def test_last_row_of_a_key_wins_within_one_put(store: ResultStore) -> None:
    store.put([row("a", test_scores=0.1), row("b"), row("a", test_scores=0.2)])
    assert len(store) == 2
    assert store.get(["a"])["a"].test_scores == 0.2


def test_get_returns_only_found_keys(store: ResultStore) -> None:
    store.put([row("a"), row("b")])
    assert set(store.get(["b", "missing", "a", "b"])) == {"a", "b"}
    assert store.get(["missing"]) == {}
    assert store.get([]) == {}
    assert store.get(iter(["a"])).keys() == {"a"}  # any iterable


def test_get_many_keys(store: ResultStore) -> None:
    # More keys than one SELECT takes (SQLiteStore reads them in chunks).
    store.put([row(f"k{i:04d}", split=i) for i in range(1234)])
    wanted = [f"k{i:04d}" for i in range(0, 1300, 3)]
    got = store.get(wanted)
    assert sorted(got) == [k for k in wanted if int(k[1:]) < 1234]
    assert all(got[k].split == int(k[1:]) for k in got)


def test_rows_filters_by_study_in_insertion_order(store: ResultStore) -> None:
    store.put([row("1", study="a"), row("2", study="b"), row("3", study="a")])
    store.put([row("4", study="b"), row("0", study="a")])
    assert [r.key for r in store.rows()] == ["1", "2", "3", "4", "0"]
    assert [r.key for r in store.rows("a")] == ["1", "3", "0"]
    assert [r.key for r in store.rows(study="b")] == ["2", "4"]
    assert store.rows("none") == []


def test_len_and_truthiness(store: ResultStore) -> None:
    assert len(store) == 0
    assert store  # an empty store is still a store: `if store:` must not skip it
    store.put([])
    assert len(store) == 0
    store.put([row("a"), row("b")])
    assert len(store) == 2


def test_stored_rows_are_values(store: ResultStore) -> None:
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


@pytest.mark.parametrize(
    ("changes", "field"),
    [
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
    ],
)
def test_put_is_all_or_nothing(store: ResultStore, changes: dict[str, Any], field: str) -> None:
    store.put([row("kept", test_scores=0.5)])
    bad = dataclasses.replace(row("bad"), **changes)
    batch = [row("new"), row("kept", test_scores=0.75), bad, row("after")]
    expected = rf"key '{bad.key}': {field} must be .*nothing of this batch"
    with pytest.raises(StoreError, match=expected):
        store.put(batch)
    assert len(store) == 1
    assert store.get(["new", "bad", "after"]) == {}
    assert store.get(["kept"])["kept"].test_scores == 0.5


def test_put_rejects_what_is_not_a_row(store: ResultStore) -> None:
    with pytest.raises(StoreError, match="must be a StoredResult"):
        store.put([row("a"), {"key": "b"}])  # type: ignore[list-item]
    assert len(store) == 0


def test_close_is_idempotent_and_final(store: ResultStore) -> None:
    store.put([row("a")])
    store.close()
    store.close()
    for call in (
        lambda: store.put([row("b")]),
        lambda: store.get(["a"]),
        lambda: store.rows(),
        lambda: len(store),
    ):
        with pytest.raises(StoreError, match="closed"):
            call()


def test_context_manager_closes(store: ResultStore) -> None:
    with store as entered:
        assert entered is store
        store.put([row("a")])
    with pytest.raises(StoreError, match="closed"):
        len(store)


def test_context_manager_closes_on_error(store: ResultStore) -> None:
    with pytest.raises(KeyError), store:
        raise KeyError("boom")
    with pytest.raises(StoreError, match="closed"):
        store.get(["a"])


# --------------------------------------------------------------------------
# SQLiteStore only
# --------------------------------------------------------------------------


def test_sqlite_rows_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with SQLiteStore(path) as store:
        store.put(ROUND_TRIP_ROWS)
        store.put([row("nan", test_scores=0.5)])  # replaced: moves last
    with SQLiteStore(str(path)) as store:
        assert len(store) == len(ROUND_TRIP_ROWS)
        assert [r.key for r in store.rows()][-1] == "nan"
        got = store.get([r.key for r in ROUND_TRIP_ROWS])
        for expected in [r for r in ROUND_TRIP_ROWS if r.key != "nan"]:
            assert_same_row(got[expected.key], expected)
        assert got["nan"].test_scores == 0.5


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with SQLiteStore(path) as store:
        conn = store._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 60_000
    # WAL is a property of the file: other connections see it too.
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


def test_sqlite_schema(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        meta = dict(conn.execute("SELECT name, value FROM meta"))
        columns = [c[1] for c in conn.execute("PRAGMA table_info(results)")]
    finally:
        conn.close()
    assert meta == {"format": "gridfold-results", "schema_version": "1"}
    assert columns == [
        "key",
        "study",
        "model",
        "params",
        "split",
        "test_scores",
        "train_scores",
        "n_test_samples",
        "fit_time",
        "score_time",
        "fit_error",
        "error_kind",
        "created",
    ]


def _write_rows(path: str, worker: int, barrier: Any) -> None:
    """One of several processes writing one file at once (spawned: module level)."""
    barrier.wait()  # all open, create and write at the same moment
    with SQLiteStore(path) as store:
        for batch in range(30):
            rows = [row(f"w{worker}-{batch * 10 + i}", study=f"w{worker}") for i in range(10)]
            store.put(rows)


def test_sqlite_several_processes_write_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "results.db")  # not created yet: the processes race to create it
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_write_rows, args=(path, w, barrier)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with SQLiteStore(path) as store:
        assert len(store) == 1200
        keys = [f"w{w}-{i}" for w in range(4) for i in range(300)]
        assert len(store.get(keys)) == 1200
        for w in range(4):  # each process's rows in the order it wrote them
            assert [r.key for r in store.rows(f"w{w}")] == [f"w{w}-{i}" for i in range(300)]
        conn = store._connection()
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _die_mid_transaction(path: str) -> None:
    """Write rows inside a transaction, then die without committing, as kill -9 would."""
    from gridfold.store.base import encode_row
    from gridfold.store.sqlite import _INSERT

    store = SQLiteStore(path)
    conn = store._connection()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_INSERT, [encode_row(row(f"lost{i}")) for i in range(50)])
    os._exit(9)


def test_sqlite_a_process_killed_mid_write_leaves_no_partial_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "results.db")
    with SQLiteStore(path) as store:
        store.put([row("kept")])
    proc = multiprocessing.get_context("spawn").Process(target=_die_mid_transaction, args=(path,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 9
    with SQLiteStore(path) as store:
        assert [r.key for r in store.rows()] == ["kept"]
        store.put([row("next")])  # the file is still writable: no lock left behind
        assert store._connection().execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_sqlite_waits_for_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    store = SQLiteStore(path, timeout=0.05)  # shorter than the other's transaction: retried
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store.put([row("a")])
        assert store.get(["a"]).keys() == {"a"}
    finally:
        release.join()
        other.close()
        store.close()


def test_sqlite_locked_for_good_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with SQLiteStore(path, timeout=0.01) as store:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreError, match=r"cannot write .*locked.*fix: wait") as err:
                store.put([row("a")])
            assert isinstance(err.value.__cause__, sqlite3.OperationalError)
            other.execute("ROLLBACK")
            assert len(store) == 0
    finally:
        other.close()


def test_sqlite_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "results.db"
    with pytest.raises(StoreError, match=r"folder .*nowhere does not exist; fix: create"):
        SQLiteStore(path)
    assert not path.parent.exists()


def test_sqlite_folder_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"is a folder.*fix: pass a file path"):
        SQLiteStore(tmp_path)


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_text("id,label\n1,cat\n" * 200)
    with pytest.raises(StoreError) as err:
        SQLiteStore(path)
    message = str(err.value)
    assert message.startswith(f"{path} is not a gridfold results store (file is not a database)")
    assert "fix: pass another store path" in message and "delete the file" in message
    assert path.read_text().startswith("id,label")  # left as it was


def test_sqlite_another_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "optuna.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE studies (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"not a gridfold results store .*tables: studies.*fix"):
        SQLiteStore(path)


def test_sqlite_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with SQLiteStore(path) as store:
        store.put([row("a")])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 99, .*reads version 1; fix: use"):
        SQLiteStore(path)


def test_sqlite_store_error_is_a_gridfold_runtime_error() -> None:
    assert issubclass(StoreError, GridfoldError) and issubclass(StoreError, RuntimeError)
    assert not issubclass(StoreError, ValueError)
    assert "StoreError" in gridfold.exceptions.__all__
    assert StoreError.__doc__


# --------------------------------------------------------------------------
# open_store
# --------------------------------------------------------------------------


def test_open_store_none_and_stores() -> None:
    assert open_store(None) is None
    memory = MemoryStore()
    assert open_store(memory) is memory


@pytest.mark.parametrize("as_path", [str, Path])
def test_open_store_path_is_sqlite(tmp_path: Path, as_path: Any) -> None:
    path = tmp_path / "results.db"
    store = open_store(as_path(path))
    assert isinstance(store, SQLiteStore) and store.path == path
    store.close()
    assert path.is_file()


@pytest.mark.parametrize("bad", [42, "", b"results.db", ["results.db"], MemoryStore])
def test_open_store_rejects_anything_else(bad: Any) -> None:
    with pytest.raises(ParameterError) as err:
        open_store(bad)
    message = str(err.value)
    assert "store must be None, a ResultStore or the path" in message
    assert f"got {type(bad).__name__}" in message and "Fix: pass store=" in message


def test_open_store_path_errors_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "missing" / "r.db")


def test_importing_stores_does_not_import_sklearn() -> None:
    code = (
        "import sys, gridfold.store;"
        "assert 'sklearn' not in sys.modules, 'sklearn imported';"
        "from gridfold.store import task_keys, candidate_repr, KEY_VERSION;"
        "assert 'sklearn' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
