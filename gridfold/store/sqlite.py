"""A results store in one SQLite file, safe for several processes at once.

Layout: a ``results`` table (one row per task key, scores as JSON text, see
:mod:`gridfold.store.base`), a ``runs`` table (what ``gridfold plan``
predicted and what runs took, :class:`~gridfold.store.base.RunRecord`) and a
``meta`` table that marks the file as a gridfold results store and records
:data:`SCHEMA_VERSION`. A file of version 1 (no ``runs`` table) is migrated
when opened: the table is added, nothing else changes.

Several ``gridfold`` processes may write one file at the same time (Optuna's
"database is locked", optuna/optuna#820, is what happens otherwise):

- WAL journal: readers never block the writer and the writer never blocks
  readers; ``synchronous=NORMAL`` skips the fsync per commit (a power cut may
  lose the last commits, never corrupt the file: those fits just run again);
- a busy timeout (:data:`BUSY_TIMEOUT`): a writer waits for another's
  transaction instead of failing;
- writes start with ``BEGIN IMMEDIATE``, which takes the write lock up front
  and so waits in the busy handler; a deferred transaction that upgrades from
  read to write can fail at once with "database is locked";
- should "database is locked" still happen, the operation is retried a few
  times with growing, jittered sleeps, then :class:`~gridfold.exceptions.StoreError`.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gridfold.exceptions import StoreError
from gridfold.store.base import ResultStore, RunRecord, StoredResult, decode_row, encode_row

__all__ = ["SQLiteStore", "SCHEMA_VERSION", "BUSY_TIMEOUT"]

T = TypeVar("T")

#: Version of the table layout; a file of another version is refused.
SCHEMA_VERSION = 2
#: Seconds a connection waits for another process's write transaction.
BUSY_TIMEOUT = 60.0

_FORMAT = "gridfold-results"
_RETRIES = 5  # attempts when SQLite still reports "locked" after the busy timeout
_CHUNK = 500  # keys per SELECT ... IN (...): below every SQLite's variable limit
_COLUMNS = (
    "key, study, model, params, split, test_scores, train_scores, n_test_samples, "
    "fit_time, score_time, fit_error, error_kind, created"
)
_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE results (
        key TEXT PRIMARY KEY,
        study TEXT NOT NULL,
        model TEXT NOT NULL,
        params TEXT NOT NULL,
        split INTEGER NOT NULL,
        test_scores TEXT NOT NULL,
        train_scores TEXT,
        n_test_samples INTEGER NOT NULL,
        fit_time REAL,
        score_time REAL,
        fit_error TEXT,
        error_kind TEXT,
        created REAL NOT NULL
    )""",
    # rows(study) reads by study in rowid order: the index holds (study, rowid).
    "CREATE INDEX results_study ON results (study)",
)
_RUNS = """CREATE TABLE runs (
        study TEXT NOT NULL,
        kind TEXT NOT NULL,
        n_workers INTEGER NOT NULL,
        n_fits INTEGER NOT NULL,
        wall_seconds REAL NOT NULL,
        work_seconds REAL NOT NULL,
        created REAL NOT NULL
    )"""
#: Statements that bring a store of the key's version to the next version.
_MIGRATIONS: dict[int, tuple[str, ...]] = {1: (_RUNS,)}
_RUN_COLUMNS = "study, kind, n_workers, n_fits, wall_seconds, work_seconds, created"
_INSERT = f"INSERT OR REPLACE INTO results ({_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_FIX = "fix: pass another store path (--store or store=) or delete the file"


class SQLiteStore(ResultStore):
    """A :class:`~gridfold.store.base.ResultStore` in an SQLite file.

    Parameters
    ----------
    path : str or path-like
        The file; created (with its tables) if missing. Its folder must exist.
    timeout : float, default=BUSY_TIMEOUT
        Seconds to wait for another process's write before retrying.

    Raises
    ------
    StoreError
        If the folder does not exist, the file is not an SQLite database, is
        another program's database or another schema version's store, or
        cannot be opened.

    Notes
    -----
    The connection is made with ``check_same_thread=False`` so that the store
    may be created in one thread and used in another, but it must be used by
    one thread at a time (the study's driver), as every store. Several
    processes may use the same file at once. ``put`` costs one transaction
    (no fsync in WAL mode with ``synchronous=NORMAL``), well under a
    millisecond for a batch of tens of rows.

    Examples
    --------
    >>> import tempfile, os
    >>> from gridfold.store import SQLiteStore
    >>> path = os.path.join(tempfile.mkdtemp(), "results.db")
    >>> with SQLiteStore(path) as store:
    ...     len(store)
    0
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        _check_path(self.path)
        conn = self._retry("open", lambda: _connect(self.path, timeout))
        try:
            self._retry("open", lambda: _prepare(conn, self.path))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def put(self, rows: Sequence[StoredResult]) -> None:
        encoded = [encode_row(row) for row in rows]  # all checked before the transaction
        if not encoded:
            return
        conn = self._connection()
        self._retry("write", lambda: _write(conn, encoded))

    def get(self, keys: Iterable[str]) -> dict[str, StoredResult]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, StoredResult] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = f"SELECT {_COLUMNS} FROM results WHERE key IN ({', '.join('?' * len(chunk))})"
            for values in self._fetch(query, chunk):
                found[values[0]] = decode_row(values)
        return {key: found[key] for key in wanted if key in found}  # in the order asked

    def rows(self, study: str | None = None) -> list[StoredResult]:
        if study is None:
            fetched = self._fetch(f"SELECT {_COLUMNS} FROM results ORDER BY rowid", [])
        else:
            query = f"SELECT {_COLUMNS} FROM results WHERE study = ? ORDER BY rowid"
            fetched = self._fetch(query, [study])
        return [decode_row(values) for values in fetched]

    def __len__(self) -> int:
        ((count,),) = self._fetch("SELECT COUNT(*) FROM results", [])
        return int(count)

    def record_run(self, record: RunRecord) -> None:
        conn = self._connection()
        values = (
            record.study,
            record.kind,
            record.n_workers,
            record.n_fits,
            float(record.wall_seconds),
            float(record.work_seconds),
            record.created or time.time(),
        )
        query = f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        self._retry("write", lambda: _execute(conn, query, values))

    def run_records(self, study: str) -> list[RunRecord]:
        query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE study = ? ORDER BY rowid"
        return [RunRecord(*values) for values in self._fetch(query, [study])]

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # the last connection to close checkpoints and removes the WAL file

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}{', closed' if self._conn is None else ''})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the results store {self.path} is closed; fix: open it again")
        return self._conn

    def _fetch(self, query: str, args: Sequence[object]) -> list[Any]:
        conn = self._connection()
        return self._retry("read", lambda: conn.execute(query, args).fetchall())

    def _retry(self, action: str, op: Callable[[], T]) -> T:
        """Run ``op``; retry while the database is locked; sqlite3 errors become StoreError."""
        for attempt in range(_RETRIES):
            try:
                return op()
            except sqlite3.OperationalError as err:
                if not _is_locked(err) or attempt == _RETRIES - 1:
                    raise _store_error(self.path, action, err) from err
            except sqlite3.Error as err:
                raise _store_error(self.path, action, err) from err
            time.sleep(min(1.0, 0.05 * 2**attempt) * (1.0 + random.random()))
        raise AssertionError("unreachable")  # the last attempt returns or raises


def _check_path(path: Path) -> None:
    """Refuse, with a fix, paths SQLite would reject with 'unable to open database file'."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(
            f"cannot create the results store {path}: folder {folder} does not exist; "
            "fix: create the folder or pass another store path (--store or store=)"
        )
    if path.is_dir():
        raise StoreError(
            f"{path} is a folder, not a results store file; "
            f"fix: pass a file path such as {path / 'results.db'}"
        )


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; _write issues its own.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        # The first statement reads the file header: a file that is not a database fails here.
        conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new (empty) database; check those of an existing one."""
    if not _tables(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _tables(conn):  # another process may have created them meanwhile
                for statement in (*_SCHEMA, _RUNS):
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta (name, value) VALUES (?, ?)",
                    [("format", _FORMAT), ("schema_version", str(SCHEMA_VERSION))],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    _migrate(conn)
    _check_schema(conn, path)


def _version(conn: sqlite3.Connection) -> int | None:
    """The schema version of a gridfold store; None for anything else (_check_schema says)."""
    if "meta" not in _tables(conn):
        return None
    try:
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.Error:  # another program's "meta" table
        return None
    version = str(meta.get("schema_version"))
    return int(version) if meta.get("format") == _FORMAT and version.isdigit() else None


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a gridfold store of an older known version to :data:`SCHEMA_VERSION`."""
    version = _version(conn)
    if version is None or version not in _MIGRATIONS:
        return  # current, newer, or not ours: _check_schema says which
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)  # another process may have migrated it meanwhile
        while version is not None and version in _MIGRATIONS:
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
            version += 1
            conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(version),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    tables = _tables(conn)
    meta = dict(conn.execute("SELECT name, value FROM meta").fetchall()) if "meta" in tables else {}
    if meta.get("format") != _FORMAT or "results" not in tables:
        found = ", ".join(sorted(tables))
        raise StoreError(
            f"{path} is not a gridfold results store (an SQLite database with tables: {found}); "
            + _FIX
        )
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        raise StoreError(
            f"{path} is a gridfold results store of schema version {version}, and this gridfold "
            f"reads version {SCHEMA_VERSION}; fix: use the gridfold version that wrote it, "
            "or pass another store path (--store or store=), or delete the file"
        )


def _write(conn: sqlite3.Connection, encoded: Sequence[tuple[object, ...]]) -> None:
    """One transaction for the whole batch: all rows or none, one commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT, encoded)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _execute(conn: sqlite3.Connection, query: str, values: Sequence[object]) -> None:
    """One statement in its own write transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(query, values)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _is_locked(err: sqlite3.OperationalError) -> bool:
    message = str(err).lower()
    return "locked" in message or "busy" in message


def _store_error(path: Path, action: str, err: sqlite3.Error) -> StoreError:
    message = str(err)
    if "file is not a database" in message or "malformed" in message:
        return StoreError(f"{path} is not a gridfold results store ({message}); {_FIX}")
    if isinstance(err, sqlite3.OperationalError) and _is_locked(err):
        return StoreError(
            f"cannot {action} the results store {path}: {message} (other processes kept it "
            f"locked through {_RETRIES} attempts); fix: wait for them to finish, or pass "
            "another store path (--store or store=)"
        )
    return StoreError(
        f"cannot {action} the results store {path}: {message}; fix: check the file's "
        "permissions and free disk space, or pass another store path (--store or store=)"
    )
