"""Results stores: every task result of a study, kept as it arrives, by content key.

A crashed or interrupted study reruns only the tasks without a stored result;
see :class:`ResultStore` for the contract and :mod:`gridfold.store.keys` for
what a key covers.

- :class:`MemoryStore`: a dict, for tests and for several searches in one process.
- :class:`SQLiteStore`: an SQLite file, shared safely by several processes.
- :func:`open_store`: the store a ``store=`` argument names (None, a store or a path).
- :func:`task_keys`, :func:`candidate_repr`: keys and readable parameters of a study's tasks.

:mod:`gridfold.store.keys` imports scikit-learn, so it is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gridfold.store.base import ResultStore, RunRecord, StoredResult, open_store
from gridfold.store.memory import MemoryStore
from gridfold.store.sqlite import SQLiteStore

__all__ = [
    "ResultStore",
    "RunRecord",
    "StoredResult",
    "MemoryStore",
    "SQLiteStore",
    "open_store",
    "task_keys",
    "candidate_repr",
    "KEY_VERSION",
]

_LAZY = {"task_keys", "candidate_repr", "KEY_VERSION"}

if TYPE_CHECKING:
    from gridfold.store.keys import KEY_VERSION, candidate_repr, task_keys


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gridfold.store' has no attribute {name!r}")
    value = getattr(importlib.import_module("gridfold.store.keys"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
