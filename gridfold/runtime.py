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
from typing import Any

from joblib import register_parallel_backend
from joblib._parallel_backends import SequentialBackend, ThreadingBackend
from threadpoolctl import threadpool_limits

__all__ = [
    "THREAD_ENV_VARS",
    "init_process_worker",
    "inner_jobs",
    "set_inner_jobs",
    "in_process_worker",
    "in_worker",
    "worker_thread",
]

# Read by native libraries when they load, so set before any import in a
# worker process; threadpoolctl covers the libraries already loaded.
# LOKY_MAX_CPU_COUNT is joblib's cpu_count(): what n_jobs=-1 means in a fit.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "LOKY_MAX_CPU_COUNT",
)
_WORKER_FLAG = "GRIDFOLD_IN_WORKER"
_thread_state = threading.local()
_inner_jobs = 1
_INNER_BACKEND = "gridfold-inner"


def init_process_worker(inner_threads: int) -> None:
    """Initializer of every worker process: mark it, and cap its inner parallelism.

    BLAS/OpenMP pools get ``inner_threads``; so does joblib inside a fit
    (a forest's or kNN's ``n_jobs``, even an explicit ``n_jobs=8``): the
    default backend becomes threads capped at :func:`inner_jobs`, so a fit
    never starts more threads than the cores its worker was left.
    """
    global _inner_jobs
    os.environ[_WORKER_FLAG] = "1"
    os.environ["LOKY_MAX_CPU_COUNT"] = str(inner_threads)
    threadpool_limits(limits=inner_threads)
    _inner_jobs = inner_threads
    register_parallel_backend(_INNER_BACKEND, InnerThreads, make_default=True)


def inner_jobs() -> int:
    """Threads a fit in this worker may use for its own ``n_jobs``."""
    return _inner_jobs


def set_inner_jobs(n: int) -> None:
    """Give the next fits ``n`` threads for their ``n_jobs`` (a study's tail: idle cores).

    Only joblib-level parallelism grows: scikit-learn's ``n_jobs`` does not
    change results, while more BLAS threads could change the last bits of a
    sum, so BLAS/OpenMP stay at the worker's share.
    """
    global _inner_jobs
    _inner_jobs = max(1, int(n))


class InnerThreads(ThreadingBackend):
    """joblib's thread backend with ``n_jobs`` capped at :func:`inner_jobs` (or ``cap``)."""

    cap: int | None = None

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        if n_jobs is not None and n_jobs < 0:  # -1: all cores (LOKY_MAX_CPU_COUNT hides them)
            n_jobs = max(1, _machine_cores() + 1 + n_jobs)
        wanted = int(super().effective_n_jobs(n_jobs))
        return max(1, min(wanted, self.cap or _inner_jobs))

    def get_nested_backend(self) -> tuple[Any, int | None]:
        # A Parallel inside one of these threads runs in it: the cap holds all the way down.
        return SequentialBackend(nesting_level=self.nesting_level + 1), None


def _machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
