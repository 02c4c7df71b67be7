"""Results stores: every task result of a study, kept as it arrives, by content key.

A crashed or interrupted study reruns only the tasks without a stored result;
see :class:`ResultStore` for the contract and :mod:`gridfold.store.keys` for
what a key covers.

- :class:`MemoryStore`: a dict, for tests and for several searches in one process.
- :class:`SQLiteStore`: an SQLite file, shared safely by several processes.
- :func:`open_store`: the store a ``store=`` argument names (None, a store or a path).
"""

from __future__ import annotations

from gridfold.store.base import ResultStore, StoredResult, open_store
from gridfold.store.memory import MemoryStore
from gridfold.store.sqlite import SQLiteStore

__all__ = [
    "ResultStore",
    "StoredResult",
    "MemoryStore",
    "SQLiteStore",
    "open_store",
]
