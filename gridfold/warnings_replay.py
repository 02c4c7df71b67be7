"""Warnings raised in a worker process, shown again in the caller.

A search's refit runs in the caller in scikit-learn, so its warnings reach the
user; when gridfold runs the refit in a worker process
(:mod:`gridfold.sharing.early_refit`), the worker records them and the caller
issues them again where scikit-learn's refit would have, under the caller's
own warning filters.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["CaughtWarning", "record_warnings", "replay_warnings"]


@dataclass(frozen=True)
class CaughtWarning:
    """One recorded warning, in a form that pickles (the message as text)."""

    category: type[Warning]
    message: str
    filename: str
    lineno: int


@contextmanager
def record_warnings() -> Iterator[list[CaughtWarning]]:
    """Record the warnings raised inside, in a worker process; elsewhere, let them through.

    The list is filled when the block ends. Outside worker processes
    (sequential and thread executors) warnings already reach the user, and
    :func:`warnings.catch_warnings` would be wrong there: it is process-wide,
    so in a thread it would swallow other threads' warnings.
    """
    from gridfold.worker import in_process_worker

    caught: list[CaughtWarning] = []
    if not in_process_worker():
        yield caught
        return
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")  # the caller's filters decide, on replay
        yield caught
    caught.extend(CaughtWarning(r.category, str(r.message), r.filename, r.lineno) for r in records)


def replay_warnings(caught: Iterable[CaughtWarning]) -> None:
    """Issue each recorded warning again, in order, under the current filters."""
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
