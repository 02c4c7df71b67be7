"""Executors on this machine: sequential, threads and worker processes."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from joblib import cpu_count, parallel_config
from threadpoolctl import threadpool_limits

from gridfold.data import FileHandle, InMemoryHandle, StudyHandle, dump_study
from gridfold.executors.base import Executor, check_fit_timeout
from gridfold.executors.pool import FaultTolerantPool
from gridfold.runtime import THREAD_ENV_VARS, InnerThreads, init_process_worker
from gridfold.tasks import RefitTask, Result, Study, Unit, unit_size
from gridfold.worker import run_batch, run_batch_in_thread

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

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[Result]]:
        future: Future[list[Result]] = Future()
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

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[Result]]:
        return self._pool.submit(run_batch_in_thread, handle, tuple(units))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


def _limit_openmp_in_thread(inner: int) -> None:
    threadpool_limits(limits=inner, user_api="openmp")
    # joblib's configuration is per thread: this pool thread's fits get capped
    # n_jobs for its life (the thread is the pool's, never the caller's).
    backend = InnerThreads()
    backend.cap = inner
    parallel_config(backend=backend).__enter__()


_pool_lock = threading.Lock()
_pool: FaultTolerantPool | None = None
_pool_key: tuple[int, int, float] | None = None


def _process_pool(n_workers: int, inner: int, idle_timeout: float) -> FaultTolerantPool:
    """gridfold's reusable process pool, kept for the life of the process.

    Worker start-up costs about a second (a fresh interpreter importing
    scikit-learn), so workers outlive one study, as joblib's do; idle ones
    exit after ``idle_timeout`` and are started again on demand.
    """
    global _pool, _pool_key
    key = (n_workers, inner, idle_timeout)
    with _pool_lock:
        if _pool is not None and (_pool_key != key or _pool.broken):
            _pool.shutdown()
            _pool = None
        if _pool is None:
            _pool = FaultTolerantPool(
                n_workers,
                env={var: str(inner) for var in THREAD_ENV_VARS},
                initializer=init_process_worker,
                initargs=(inner,),
                idle_timeout=idle_timeout,
            )
            _pool_key = key
        return _pool


class ProcessExecutor(Executor):
    """A reusable pool of worker processes that survives their deaths.

    Each worker caps BLAS/OpenMP threads at ``cores // n_workers`` and
    memory-maps the study's arrays once (see :mod:`gridfold.data`). A worker
    that dies fails only the unit it was running (see
    :mod:`gridfold.executors.pool`); with ``fit_timeout``, a unit running past
    it has its worker killed.
    """

    name = "processes"
    uses_processes = True
    supports_timeout = True

    def __init__(
        self,
        n_jobs: int | None = None,
        idle_timeout: float = 300.0,
        fit_timeout: float | None = None,
    ) -> None:
        super().__init__(n_jobs)
        self.fit_timeout = check_fit_timeout(fit_timeout)
        self._inner = inner_threads(self.n_workers)
        self._pool = _process_pool(self.n_workers, self._inner, idle_timeout)
        self._cleanups: dict[str, weakref.finalize] = {}
        self._threads: int | None = None

    def share(self, study: Study) -> StudyHandle:
        handle, cleanup = dump_study(study)
        self._cleanups[handle.path] = cleanup
        return handle

    def release(self, handle: StudyHandle) -> None:
        if isinstance(handle, FileHandle) and handle.path in self._cleanups:
            self._cleanups.pop(handle.path)()

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[Result]]:
        limits = [self.time_limit(u) for u in units]
        return self._pool.submit(handle, units, limits, self._threads)

    def remaining(self, n_units: int) -> None:
        """At a study's tail, fewer units than workers: the idle cores go to the units' n_jobs.

        A unit that starts while ``n_units`` are unfinished runs beside at
        most ``n_units - 1`` others, which keep their share, so it may use
        ``cores // n_units`` threads without more busy threads than cores.
        """
        if n_units >= self.n_workers:
            self._threads = None
        else:
            self._threads = max(self._inner, cpu_count() // max(1, n_units))

    def time_limit(self, unit: Unit) -> float | None:
        """Seconds ``unit`` may run: ``fit_timeout`` per fit it stands for.

        A refit has none, during the search as after it: ``fit_timeout`` is
        for the cross-validation's fits.
        """
        if self.fit_timeout is None or isinstance(unit, RefitTask):
            return None
        return self.fit_timeout * unit_size(unit)

    def abort(self) -> None:
        self._pool.kill_running()

    def shutdown(self) -> None:
        # The pool is reusable across studies; idle workers exit after ``idle_timeout``.
        for path in list(self._cleanups):
            self._cleanups.pop(path)()
