"""Warnings raised in a worker process, shown again in the caller.

A search's refit runs in the caller in scikit-learn, so its warnings reach the
user; when gridfold runs the refit in a worker process
(:mod:`gridfold.sharing.early_refit`), the worker records them and the caller
issues them again where scikit-learn's refit would have, under the caller's
own warning filters.
"""

from __future__ import annotations

import pickle
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

from gridfold.runtime import in_process_worker

__all__ = ["CaughtWarning", "record_warnings", "replay_warnings"]


@dataclass(frozen=True)
class CaughtWarning:
    """One recorded warning: the warning itself, or its text if it does not pickle."""

    category: type[Warning]
    message: Warning | str
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
    caught: list[CaughtWarning] = []
    if not in_process_worker():
        yield caught
        return
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")  # the caller's filters decide, on replay
        yield caught
    caught.extend(
        CaughtWarning(r.category, _picklable(r.message), r.filename, r.lineno) for r in records
    )


def _picklable(message: Warning | str) -> Warning | str:
    try:
        pickle.dumps(message)
    except Exception:  # noqa: BLE001 - a warning whose arguments do not pickle
        return str(message)
    return message


def replay_warnings(caught: Iterable[CaughtWarning]) -> None:
    """Issue each recorded warning again, in order, as the code that raised it would.

    Attributed to the module that raised it (found by file name among the
    caller's imported modules) and counted in that module's registry, so that
    filters naming a module, and the "default" action (once per location),
    apply as they would to the warning raised in the caller.
    """
    for w in caught:
        module = _module_of(w.filename)
        if module is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        warnings.warn_explicit(
            w.message,
            w.category,
            w.filename,
            w.lineno,
            module=module.__name__,
            registry=vars(module).setdefault("__warningregistry__", {}),
            module_globals=vars(module),
        )


def _module_of(filename: str) -> ModuleType | None:
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == filename:
            return module
    return None
