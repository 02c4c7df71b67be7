"""Results stores: one conformance suite for every store, then what only SQLite promises.

Real SQLite files in tmp_path, real processes; no mocks.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import gridfold.exceptions
from gridfold.exceptions import GridfoldError, ParameterError, StoreError
from gridfold.store import MemoryStore, ResultStore, RunRecord, SQLiteStore, open_store
from gridfold.testing import STORE_CHECKS, check_store
from gridfold.testing.stores import ROUND_TRIP_ROWS, assert_same_row, row

STORES = ["memory", "sqlite"]


def make_store(kind: str, folder: Path) -> ResultStore:
    return MemoryStore() if kind == "memory" else SQLiteStore(folder / "results.db")


# --------------------------------------------------------------------------
# Conformance: every store passes the shipped suite (gridfold.testing.stores)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("check", list(STORE_CHECKS.values()), ids=list(STORE_CHECKS))
@pytest.mark.parametrize("kind", STORES)
def test_store_contract(kind: str, check: Any, tmp_path: Path) -> None:
    with make_store(kind, tmp_path) as store:
        check(store)


@pytest.mark.parametrize("kind", STORES)
def test_check_store_runs_every_check(kind: str, tmp_path: Path) -> None:
    made: list[ResultStore] = []

    def factory() -> ResultStore:
        folder = tmp_path / str(len(made))
        folder.mkdir()
        made.append(make_store(kind, folder))
        return made[-1]

    check_store(factory)
    assert len(made) == len(STORE_CHECKS)


class _ForgetsReplacement(MemoryStore):
    """A broken store: a second put of a key keeps the first row."""

    def put(self, rows: Any) -> None:
        super().put([r for r in rows if r.key not in self._rows])


def test_check_store_catches_a_broken_store() -> None:
    with pytest.raises(AssertionError, match="store check 'put_replaces"):
        check_store(_ForgetsReplacement)


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
    assert meta == {"format": "gridfold-results", "schema_version": "2"}
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
    with pytest.raises(StoreError, match=r"schema version 99, .*reads version 2; fix: use"):
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


# ----------------------------------------------------------------------------
# Run records (gridfold plan / status) and the migration that added them.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_run_records_round_trip_per_study(kind: str, tmp_path: Path) -> None:
    store: ResultStore = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "r.db")
    with store:
        plan = RunRecord("a.toml", "plan", 4, 35, 12.5, 40.0, 1.0)
        run = RunRecord("a.toml", "run", 2, 30, 20.25, 39.5, 2.0)
        for record in (plan, RunRecord("b.toml", "run", 1, 1, 0.5, 0.5, 3.0), run):
            store.record_run(record)
        assert store.run_records("a.toml") == [plan, run]
        assert store.run_records("nobody") == []


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with SQLiteStore(path) as store:
        store.put([row("a")])
    conn = sqlite3.connect(path)  # make it a store as version 1 wrote it
    conn.execute("DROP TABLE runs")
    conn.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with SQLiteStore(path) as store:
        assert list(store.get(["a"])) == ["a"]
        store.record_run(RunRecord("s", "run", 2, 1, 1.0, 1.0, 1.0))
        assert len(store.run_records("s")) == 1
    conn = sqlite3.connect(path)
    try:
        assert dict(conn.execute("SELECT name, value FROM meta"))["schema_version"] == "2"
    finally:
        conn.close()
