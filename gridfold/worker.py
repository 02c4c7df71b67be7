"""The only code that runs in workers: evaluate a batch of tasks."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from threadpoolctl import threadpool_limits

from gridfold.data import StudyHandle
from gridfold.sharing.evaluate import evaluate_unit
from gridfold.tasks import RefitResult, Result, Unit

__all__ = [
    "run_batch",
    "run_batch_in_thread",
    "run_unit",
    "unpicklable_result",
    "init_process_worker",
    "in_worker",
    "in_process_worker",
    "THREAD_ENV_VARS",
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
    """Initializer of every worker process: cap BLAS/OpenMP threads."""
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


def run_batch(handle: StudyHandle, units: Sequence[Unit]) -> list[Result]:
    """Evaluate ``units`` of the study behind ``handle``, in order."""
    study = handle.load()
    return [result for unit in units for result in evaluate_unit(study, unit)]


def run_batch_in_thread(handle: StudyHandle, units: Sequence[Unit]) -> list[Result]:
    """:func:`run_batch` for a pool thread, marked so nested searches stay sequential."""
    _thread_state.busy = True
    try:
        return run_batch(handle, units)
    finally:
        _thread_state.busy = False


def run_unit(handle: StudyHandle, unit: Unit) -> list[Result]:
    """Evaluate one unit of the study behind ``handle`` (in a pool worker)."""
    return evaluate_unit(handle.load(), unit)


def unpicklable_result(handle: StudyHandle, result: Result, exc: BaseException) -> Result:
    """``result`` if it pickles, else a failed one saying why it could not be sent back.

    A refit that cannot be sent back is left to the caller, which refits as usual.
    """
    import cloudpickle

    from gridfold._sklearn import failed_result

    try:
        cloudpickle.dumps(result)
        return result
    except Exception:  # noqa: BLE001 - any pickling error
        message = (
            f"ResultNotPicklable: the result of this fit could not be sent back from the "
            f"worker: {exc!r}"
        )
        if isinstance(result, RefitResult):
            return RefitResult(result.task, (), result.fit_time, message)
        return failed_result(handle.load(), result.task, message, "exception")
