"""Executors on this machine: sequential, threads and loky processes."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from joblib import cpu_count
from joblib.externals.loky import ProcessPoolExecutor
from threadpoolctl import threadpool_limits

from gridfold.data import FileHandle, InMemoryHandle, StudyHandle, dump_study
from gridfold.executors.base import Executor
from gridfold.tasks import Study, TaskResult, Unit
from gridfold.worker import THREAD_ENV_VARS, init_process_worker, run_batch, run_batch_in_thread

__all__ = ["SequentialExecutor", "ThreadExecutor", "ProcessExecutor", "inner_threads"]


def inner_threads(n_workers: int) -> int:
    """BLAS/OpenMP threads per worker so that workers x threads <= cores."""
    return max(1, cpu_count() // n_workers)


class SequentialExecutor(Executor):
    """Runs each batch in the calling thread when it is submitted.

    No pool, no pickling, no thread limits: a debugger stops inside a fit.
    """

    name = "sequential"
    in_flight_per_worker = 1

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_workers = 1

    def share(self, study: Study) -> StudyHandle:
        return InMemoryHandle(study)

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[TaskResult]]:
        future: Future[list[TaskResult]] = Future()
        try:
            future.set_result(run_batch(handle, units))
        except Exception as exc:  # noqa: BLE001 - handed to the caller by the future
            future.set_exception(exc)
        return future


class ThreadExecutor(Executor):
    """A thread pool, for estimators that release the GIL.

    joblib's thread backend sets no BLAS/OpenMP limit (scikit-learn #34070,
    joblib #1824); this one caps them at ``cores // n_workers`` while it lives.
    BLAS pools are process-wide, so the cap is set (and later restored) from
    the calling thread; OpenMP's is per thread, so each pool thread sets its own.
    """

    name = "threads"

    def __init__(self, n_jobs: int | None = None) -> None:
        super().__init__(n_jobs)
        inner = inner_threads(self.n_workers)
        self._limits: Any = threadpool_limits(limits=inner)
        self._pool = ThreadPoolExecutor(
            self.n_workers,
            thread_name_prefix="gridfold",
            initializer=_limit_openmp_in_thread,
            initargs=(inner,),
        )

    def share(self, study: Study) -> StudyHandle:
        return InMemoryHandle(study)

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[TaskResult]]:
        return self._pool.submit(run_batch_in_thread, handle, tuple(units))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


def _limit_openmp_in_thread(inner: int) -> None:
    threadpool_limits(limits=inner, user_api="openmp")


_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[int, int, float] | None = None


def _process_pool(n_workers: int, inner: int, idle_timeout: float) -> ProcessPoolExecutor:
    """gridfold's own reusable loky pool, kept for the life of the process.

    Not loky's global reusable executor: joblib (scikit-learn's ``n_jobs``)
    claims that one slot with other arguments, so each would shut the other's
    pool down, and joblib then fails on gridfold's pool. Idle workers exit
    after ``idle_timeout``; loky starts new ones on the next submit.
    """
    global _pool, _pool_key
    key = (n_workers, inner, idle_timeout)
    with _pool_lock:
        if _pool is not None and (
            _pool_key != key or _pool._flags.broken or _pool._flags.shutdown
        ):
            _pool.shutdown(wait=True)
            _pool = None
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=n_workers,
                timeout=idle_timeout,
                initializer=init_process_worker,
                initargs=(inner,),
                env={var: str(inner) for var in THREAD_ENV_VARS},
            )
            _pool_key = key
        return _pool


class ProcessExecutor(Executor):
    """A reusable loky process pool: workers outlive one study, as in joblib.

    Each worker caps BLAS/OpenMP threads at ``cores // n_workers`` and
    memory-maps the study's arrays once (see :mod:`gridfold.data`).
    """

    name = "processes"
    uses_processes = True

    def __init__(self, n_jobs: int | None = None, idle_timeout: float = 300.0) -> None:
        super().__init__(n_jobs)
        self._pool = _process_pool(self.n_workers, inner_threads(self.n_workers), idle_timeout)
        self._cleanups: dict[str, weakref.finalize] = {}

    def share(self, study: Study) -> StudyHandle:
        handle, cleanup = dump_study(study)
        self._cleanups[handle.path] = cleanup
        return handle

    def release(self, handle: StudyHandle) -> None:
        if isinstance(handle, FileHandle) and handle.path in self._cleanups:
            self._cleanups.pop(handle.path)()

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[TaskResult]]:
        future: Future[list[TaskResult]] = self._pool.submit(run_batch, handle, tuple(units))
        return future

    def shutdown(self) -> None:
        # The pool is reusable across studies (worker start-up costs ~1 s);
        # loky ends idle workers after ``idle_timeout``.
        for path in list(self._cleanups):
            self._cleanups.pop(path)()
