"""A results store in a dict: for tests, and to resume searches within one process."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gridfold.exceptions import StoreError
from gridfold.store.base import (
    EncodedRow,
    ResultStore,
    RunRecord,
    StoredResult,
    decode_row,
    encode_row,
)

__all__ = ["MemoryStore"]


class MemoryStore(ResultStore):
    """A :class:`~gridfold.store.base.ResultStore` that lives as long as the object.

    Pass the same object to several searches (``GridSearchCV(store=store)``)
    and each one reuses the fits the others already made. Rows are kept
    encoded, exactly as :class:`~gridfold.store.sqlite.SQLiteStore` keeps
    them, so both stores accept, reject and return the same rows; nothing is
    shared between processes.

    Examples
    --------
    >>> from gridfold.store import MemoryStore
    >>> with MemoryStore() as store:
    ...     len(store)
    0
    """

    def __init__(self) -> None:
        # dict keeps insertion order; a replaced key is popped first so that it
        # moves to the end, as SQLite's INSERT OR REPLACE gives it a new rowid.
        self._rows: dict[str, EncodedRow] | None = {}
        self._runs: list[RunRecord] = []

    def put(self, rows: Sequence[StoredResult]) -> None:
        encoded = [encode_row(row) for row in rows]  # all checked before any is stored
        table = self._table()
        for values in encoded:
            table.pop(values[0], None)
            table[values[0]] = values

    def get(self, keys: Iterable[str]) -> dict[str, StoredResult]:
        table = self._table()
        return {key: decode_row(table[key]) for key in keys if key in table}

    def rows(self, study: str | None = None) -> list[StoredResult]:
        values = self._table().values()
        return [decode_row(v) for v in values if study is None or v[1] == study]

    def __len__(self) -> int:
        return len(self._table())

    def record_run(self, record: RunRecord) -> None:
        self._table()  # closed: StoreError
        self._runs.append(record)

    def run_records(self, study: str) -> list[RunRecord]:
        self._table()
        return [r for r in self._runs if r.study == study]

    def close(self) -> None:
        self._rows = None

    def __repr__(self) -> str:
        state = "closed" if self._rows is None else f"{len(self._rows)} rows"
        return f"MemoryStore({state})"

    def _table(self) -> dict[str, EncodedRow]:
        if self._rows is None:
            raise StoreError("the MemoryStore is closed; fix: use a new MemoryStore()")
        return self._rows
