"""Run a study: batch its tasks, submit them, collect results as they complete."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait

from gridfold.executors.base import Executor
from gridfold.sharing.planner import plan_units
from gridfold.tasks import Study, Task, TaskResult, Unit, unit_size

__all__ = ["run_study", "Batcher"]

OnResult = Callable[[TaskResult], None]


class Batcher:
    """Sizes batches so each takes about ``target_seconds`` of compute.

    Starts with single tasks, then learns the mean task time from results, as
    joblib's auto-batching does. A batch never exceeds an even share of the
    remaining work, so the last batches still keep every worker busy.
    """

    def __init__(self, n_workers: int, target_seconds: float = 0.05) -> None:
        self.n_workers = n_workers
        self.target_seconds = target_seconds
        self._tasks_seen = 0
        self._seconds_seen = 0.0

    def observe(self, results: Sequence[TaskResult]) -> None:
        self._tasks_seen += len(results)
        self._seconds_seen += sum(r.fit_time + r.score_time for r in results)

    def size(self, n_remaining: int) -> int:
        if self._tasks_seen == 0:
            return 1
        mean = self._seconds_seen / self._tasks_seen
        wanted = self.target_seconds / mean if mean > 0 else n_remaining
        fair_share = math.ceil(n_remaining / (2 * self.n_workers))
        return max(1, min(int(wanted), fair_share))


def run_study(
    study: Study,
    executor: Executor,
    *,
    tasks: Sequence[Task] | None = None,
    on_result: OnResult | None = None,
    share: bool = True,
) -> list[TaskResult]:
    """Evaluate ``tasks`` (default: all of the study's) on ``executor``.

    With ``share`` (default), candidates whose fits share work are grouped
    (see :mod:`gridfold.sharing`); each still yields its own result, equal to
    its own fit's. Results are handed to ``on_result`` as they arrive and
    returned in arrival order. The first exception a task raises (only with
    ``error_score='raise'``) cancels what has not started and propagates.
    """
    units: list[Unit] = (
        plan_units(study, executor.n_workers, share) if tasks is None else list(tasks)
    )
    todo = deque(units)
    handle = executor.share(study)
    try:
        return _drive(executor, handle, todo, on_result)
    finally:
        executor.release(handle)


def _drive(
    executor: Executor, handle: object, todo: deque[Unit], on_result: OnResult | None
) -> list[TaskResult]:
    batcher = Batcher(executor.n_workers)
    max_in_flight = executor.n_workers * executor.in_flight_per_worker
    pending: dict[Future[list[TaskResult]], int] = {}
    results: list[TaskResult] = []
    try:
        while todo or pending:
            while todo and len(pending) < max_in_flight:
                batch = _take(todo, batcher.size(len(todo)))
                pending[executor.submit(handle, batch)] = len(batch)  # type: ignore[arg-type]
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                del pending[future]
                batch_results = future.result()
                batcher.observe(batch_results)
                results.extend(batch_results)
                if on_result is not None:
                    for result in batch_results:
                        on_result(result)
    finally:
        for future in pending:
            future.cancel()
    return results


def _take(todo: deque[Unit], n_tasks: int) -> list[Unit]:
    """Pop units from ``todo`` until they hold ``n_tasks`` tasks (at least one unit)."""
    batch = [todo.popleft()]
    size = unit_size(batch[0])
    while todo and size + unit_size(todo[0]) <= n_tasks:
        size += unit_size(todo[0])
        batch.append(todo.popleft())
    return batch
