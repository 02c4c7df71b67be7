"""Stores that wrap another store: to count what a run wrote, or to read without fitting.

An entry point that hands a store to a library function (``nested_cv(...,
store=...)``) sees only what it returns. These wrappers delegate every call
to the store they wrap and add one thing: :class:`CountingStore` counts the
rows written (the fits a run actually ran), :class:`StoredOnly` refuses to
let a fit run at all (``gridfold results``: every fit must be stored).
Neither closes the store it wraps: that stays with whoever opened it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gridfold.engine import RERUN_KINDS
from gridfold.exceptions import StoreError
from gridfold.store.base import ResultStore, RunRecord, StoredResult

__all__ = ["CountingStore", "StoredOnly"]


class _Delegating(ResultStore):
    """Every call goes to ``inner``; closing is the owner's business."""

    def __init__(self, inner: ResultStore) -> None:
        self.inner = inner

    def put(self, rows: Sequence[StoredResult]) -> None:
        self.inner.put(rows)

    def get(self, keys: Iterable[str]) -> dict[str, StoredResult]:
        return self.inner.get(keys)

    def rows(self, study: str | None = None) -> list[StoredResult]:
        return self.inner.rows(study)

    def __len__(self) -> int:
        return len(self.inner)

    def record_run(self, record: RunRecord) -> None:
        self.inner.record_run(record)

    def run_records(self, study: str) -> list[RunRecord]:
        return self.inner.run_records(study)

    def close(self) -> None:
        """Does nothing: the wrapped store belongs to whoever opened it."""


class CountingStore(_Delegating):
    """A store that counts the rows written through it.

    Parameters
    ----------
    inner : ResultStore
        The store every call goes to.

    Attributes
    ----------
    n_written : int
        Rows written so far: the fits that ran (a rerun that reuses every
        stored fit writes none).
    """

    def __init__(self, inner: ResultStore) -> None:
        super().__init__(inner)
        self.n_written = 0

    def put(self, rows: Sequence[StoredResult]) -> None:
        self.inner.put(rows)
        self.n_written += len(rows)


class StoredOnly(_Delegating):
    """A store that raises as soon as a run asks for a fit it does not hold.

    A run looks every task up before it fits anything, so the error comes
    before any fit; nothing is ever written.

    Parameters
    ----------
    inner : ResultStore
        The store to read.
    what : str
        What the run is, for the message (e.g. ``"nested cross-validation of
        model 'svc'"``).
    fix : str
        How to get the missing fits (e.g. ``"run `gridfold run study.toml`"``).
    """

    def __init__(self, inner: ResultStore, what: str, fix: str) -> None:
        super().__init__(inner)
        self.what = what
        self.fix = fix

    def get(self, keys: Iterable[str]) -> dict[str, StoredResult]:
        wanted = list(keys)
        found = self.inner.get(wanted)
        missing = [k for k in wanted if k not in found or found[k].error_kind in RERUN_KINDS]
        if missing:
            raise StoreError(
                f"{len(missing)} of {len(wanted)} fits of the {self.what} are not in the "
                f"store yet; fix: {self.fix}"
            )
        return found

    def put(self, rows: Sequence[StoredResult]) -> None:
        raise StoreError(f"the {self.what} needs fits the store does not hold; fix: {self.fix}")

    def record_run(self, record: RunRecord) -> None:
        """Nothing ran: nothing to record."""
