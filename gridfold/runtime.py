"""Where code is running: the facts about gridfold's worker runtime.

This module imports nothing of gridfold, so that any module (the executors,
the refit, the warning replay) can ask "am I inside a worker?" without
importing the code that runs there (:mod:`gridfold.worker`, which imports
the sharing families, which import the task types). Keeping these facts here
is what keeps that import graph a tree.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

__all__ = [
    "THREAD_ENV_VARS",
    "init_process_worker",
    "in_process_worker",
    "in_worker",
    "worker_thread",
]

# Read by native libraries when they load, so set before any import in a
# worker process; threadpoolctl covers the libraries already loaded.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_WORKER_FLAG = "GRIDFOLD_IN_WORKER"
_thread_state = threading.local()


def init_process_worker(inner_threads: int) -> None:
    """Initializer of every worker process: mark it, and cap BLAS/OpenMP threads."""
    os.environ[_WORKER_FLAG] = "1"
    threadpool_limits(limits=inner_threads)


def in_process_worker() -> bool:
    """True inside a gridfold worker process (not a pool thread, not the caller)."""
    return os.environ.get(_WORKER_FLAG) == "1"


def in_worker() -> bool:
    """True inside a parallel gridfold worker: nested searches run sequentially.

    Nesting pools would oversubscribe the cores the outer pool already uses.
    """
    return in_process_worker() or getattr(_thread_state, "busy", False)


@contextmanager
def worker_thread() -> Iterator[None]:
    """Mark the calling pool thread as a worker while the block runs."""
    _thread_state.busy = True
    try:
        yield
    finally:
        _thread_state.busy = False
