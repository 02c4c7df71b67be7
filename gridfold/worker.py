"""The only code that runs in workers: evaluate a batch of tasks."""

from __future__ import annotations

from collections.abc import Sequence

import cloudpickle

from gridfold._sklearn import failed_result
from gridfold.data import StudyHandle
from gridfold.runtime import worker_thread
from gridfold.sharing.evaluate import evaluate_unit
from gridfold.tasks import KeptFit, RefitResult, Result, Unit

__all__ = ["run_batch", "run_batch_in_thread", "run_unit", "unpicklable_result"]


def run_batch(handle: StudyHandle, units: Sequence[Unit]) -> list[Result]:
    """Evaluate ``units`` of the study behind ``handle``, in order."""
    study = handle.load()
    return [result for unit in units for result in evaluate_unit(study, unit)]


def run_batch_in_thread(handle: StudyHandle, units: Sequence[Unit]) -> list[Result]:
    """:func:`run_batch` for a pool thread, marked so nested searches stay sequential."""
    with worker_thread():
        return run_batch(handle, units)


def run_unit(handle: StudyHandle, unit: Unit) -> list[Result]:
    """Evaluate one unit of the study behind ``handle`` (in a pool worker)."""
    return evaluate_unit(handle.load(), unit)


def unpicklable_result(handle: StudyHandle, result: Result, exc: BaseException) -> Result:
    """``result`` if it pickles, else a failed one saying why it could not be sent back.

    A refit that cannot be sent back is left to the caller, which refits as usual;
    a kept fit is sent back empty.
    """
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
        if isinstance(result, KeptFit):  # the next rung fits that candidate afresh
            return KeptFit(result.task, None)
        return failed_result(handle.load(), result.task, message, "exception")
