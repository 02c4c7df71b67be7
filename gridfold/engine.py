"""Run a study: batch its tasks, submit them, collect results as they complete."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait

from gridfold import _sklearn
from gridfold.cost import CostModel, LPTQueue
from gridfold.exceptions import ExecutorError
from gridfold.executors.base import Executor
from gridfold.executors.pool import WorkerLost
from gridfold.sharing.early_refit import plan_refit
from gridfold.sharing.planner import plan_units
from gridfold.sharing.tail_refit import TailRefit
from gridfold.store.base import ResultStore, RunRecord, StoredResult
from gridfold.tasks import (
    KeptFit,
    RefitResult,
    RefitTask,
    Result,
    SharedTask,
    Study,
    Task,
    TaskResult,
    Unit,
    unit_size,
)

__all__ = ["run_study", "reusable_results", "Batcher", "RERUN_KINDS"]

OnResult = Callable[[TaskResult], None]
OnRefit = Callable[[RefitResult], None]
OnKept = Callable[[KeptFit], None]


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

    def limits(self, n_remaining: int) -> tuple[int, float]:
        """The most tasks and predicted seconds the next batch may hold.

        No more than an even share of the remaining work (see :meth:`size`);
        once anything was measured, units are packed up to ``target_seconds``
        of their own predicted time (:func:`_take`).
        """
        if self._tasks_seen == 0:
            return 1, math.inf
        return math.ceil(n_remaining / (2 * self.n_workers)), self.target_seconds

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
    store: ResultStore | None = None,
    label: str = "",
    retries: int = 1,
    refit_model: int | None = None,
    on_refit: OnRefit | None = None,
    tail_refit: TailRefit | None = None,
    on_kept: OnKept | None = None,
) -> list[TaskResult]:
    """Evaluate ``tasks`` (default: all of the study's) on ``executor``.

    With ``share`` (default), candidates whose fits share work are grouped
    (see :mod:`gridfold.sharing`); each still yields its own result, equal to
    its own fit's. Results are handed to ``on_result`` as they arrive and
    returned in arrival order. The first exception a task raises (only with
    ``error_score='raise'``) cancels what has not started, stops what is still
    running (on executors that can stop a fit) and propagates.

    With a ``store``, tasks whose result it holds are not run again (their
    stored result is returned, except crashes and timeouts, which depend on
    the machine and are retried), and every new result is written to it, under
    the study name ``label``, before ``on_result`` sees it.

    A worker that dies fails only the unit it was running: a shared unit is
    split into plain fits and run again; a fit is retried ``retries`` times,
    then recorded as failed (``error_kind="crash"``). A fit killed after the
    executor's ``fit_timeout`` is recorded at once (``error_kind="timeout"``).
    Either is then handled by ``error_score``, as scikit-learn handles a fit
    that raised. On Ctrl-C the running fits are stopped; what finished is kept.

    ``refit_model`` names a model the caller will refit on the whole data
    after the study. With ``share``, if one shared fit answers that refit
    exactly and running it alongside the folds shortens the run
    (:mod:`gridfold.sharing.early_refit`), it runs first and its
    :class:`RefitResult` goes to ``on_refit``; if it fails, crashes or is
    never run, ``on_refit`` is not called and the caller refits as usual.
    Otherwise, with a ``tail_refit`` on an executor whose fits can be stopped,
    a worker that finds nothing left to start refits the leader so far
    (:mod:`gridfold.sharing.tail_refit`); its :class:`RefitResult` goes to
    ``on_refit`` if that candidate still leads when the last fit is in.

    A model with a :class:`~gridfold.tasks.Continuation` that keeps its fits
    sends each fitted estimator back: each :class:`KeptFit` goes to
    ``on_kept`` (:mod:`gridfold.sharing.continuation`).
    """
    wanted = list(study.tasks()) if tasks is None else list(tasks)
    collector = _Collector(study, store, label, on_result, on_refit, on_kept)
    wanted = collector.reuse(wanted)
    units: list[Unit] = plan_units(study, executor.n_workers, share, tasks=wanted)
    if not units:
        return collector.results
    refit = None
    if share and refit_model is not None and on_refit is not None:
        refit = plan_refit(study, refit_model, units, executor.n_workers)
        units = units if refit is None else [refit, *units]  # the longest unit goes first
    speculate = share and refit is None and on_refit is not None and tail_refit is not None
    if not (speculate and executor.uses_processes and executor.n_workers > 1):
        tail_refit = None
    handle = executor.share(study)
    start = time.perf_counter()
    try:
        # Longest predicted first, a probe of every group before the rest (gridfold.cost);
        # the early refit stays first. Results are assembled by task, never by order. One
        # worker keeps the study's order: no order ends sooner there, and a seedless
        # estimator's draws from NumPy's global generator then match scikit-learn's.
        todo = LPTQueue(units, CostModel(study), reorder=executor.n_workers > 1)
        _Driver(study, executor, handle, collector, retries, tail_refit).run(todo)
    finally:
        executor.release(handle)
    if store is not None:
        # For `gridfold status`: what this run took, next to what `gridfold plan` predicted.
        new = collector.results[-len(wanted) :] if wanted else []
        store.record_run(
            RunRecord(
                study=label,
                kind="run",
                n_workers=executor.n_workers,
                n_fits=len(wanted),
                wall_seconds=time.perf_counter() - start,
                work_seconds=sum(r.fit_time + r.score_time for r in new),
                created=time.time(),
            )
        )
    return collector.results


class _Collector:
    """Where results go: the store first (so nothing finished is lost), then the caller."""

    def __init__(
        self,
        study: Study,
        store: ResultStore | None,
        label: str,
        on_result: OnResult | None,
        on_refit: OnRefit | None = None,
        on_kept: OnKept | None = None,
    ) -> None:
        self.study = study
        self.store = store
        self.label = label
        self.on_result = on_result
        self.on_refit = on_refit
        self.on_kept = on_kept
        self.results: list[TaskResult] = []
        self.keys: dict[Task, str] = {}
        self._param_text: dict[tuple[int, int], str] = {}
        if store is not None:
            from gridfold.store.keys import task_keys

            self.keys = task_keys(study)

    def reuse(self, tasks: list[Task]) -> list[Task]:
        """Hand over the stored results of ``tasks``; return the tasks still to run."""
        if self.store is None:
            return tasks
        found = reusable_results(self.store, self.keys, tasks)
        self._hand_over(list(found.values()))
        return [t for t in tasks if t not in found]

    def add(self, results: Sequence[Result]) -> None:
        tasks = [r for r in results if isinstance(r, TaskResult)]
        if self.store is not None and tasks:
            self.store.put([self._row(r) for r in tasks if r.task in self.keys])
        self._hand_over(tasks)
        for other in results:  # not stored: fitted models, not scores
            if isinstance(other, RefitResult) and self.on_refit is not None:
                self.on_refit(other)
            elif isinstance(other, KeptFit) and other.estimator is not None and self.on_kept:
                self.on_kept(other)

    def _hand_over(self, results: Sequence[TaskResult]) -> None:
        self.results.extend(results)
        if self.on_result is not None:
            for result in results:
                self.on_result(result)

    def _row(self, result: TaskResult) -> StoredResult:
        model = self.study.models[result.task.model]
        return StoredResult.from_result(
            self.keys[result.task],
            result,
            study=self.label,
            model=model.name,
            params=self._params(result.task.model, result.task.candidate),
        )

    def _params(self, model: int, candidate: int) -> str:
        """The candidate's readable parameters, computed once (a candidate recurs per split)."""
        from gridfold.store.keys import candidate_repr

        key = (model, candidate)
        if key not in self._param_text:
            self._param_text[key] = candidate_repr(self.study.models[model].candidates[candidate])
        return self._param_text[key]


def reusable_results(
    store: ResultStore, keys: Mapping[Task, str], tasks: Sequence[Task]
) -> dict[Task, TaskResult]:
    """The results ``store`` holds for ``tasks`` that a rerun keeps, in ``tasks``' order.

    Crashes and timeouts (:data:`RERUN_KINDS`) are left out: they are run again.
    """
    found = store.get(keys[t] for t in tasks if t in keys)
    out: dict[Task, TaskResult] = {}
    for task in tasks:
        row = found.get(keys.get(task, ""))
        if row is not None and row.error_kind not in RERUN_KINDS:
            out[task] = row.to_result(task)
    return out


#: Failures that depend on the machine, not on the fit: a resumed study retries them.
RERUN_KINDS = ("crash", "timeout")


class _Driver:
    """Keeps the executor busy and turns lost workers into retries or failed fits."""

    def __init__(
        self,
        study: Study,
        executor: Executor,
        handle: object,
        collector: _Collector,
        retries: int,
        tail_refit: TailRefit | None = None,
    ) -> None:
        self.study = study
        self.executor = executor
        self.handle = handle
        self.collector = collector
        self.retries = retries
        self.crashes: dict[Task, int] = {}
        self.batcher = Batcher(executor.n_workers)
        self.tail_refit = tail_refit
        self.bet: tuple[Future[list[Result]], int] | None = None  # the tail refit, its candidate

    def run(self, todo: LPTQueue) -> None:
        pending: dict[Future[list[Result]], list[Unit]] = {}
        try:
            while todo or any(future is not self._bet_future for future in pending):
                # Read each round: a cluster's workers may join (or leave) during the study.
                max_in_flight = self.executor.n_workers * self.executor.in_flight_per_worker
                while todo and len(pending) < max_in_flight:
                    batch = _take(todo, *self.batcher.limits(len(todo)))
                    running = sum(len(b) for b in pending.values())
                    self.executor.remaining(len(todo) + len(batch) + running)
                    pending[self.executor.submit(self.handle, batch)] = batch  # type: ignore[arg-type]
                if not todo and len(pending) < self.executor.n_workers:  # a worker is idle
                    self._bet(pending)
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    self._collect(future, pending.pop(future), todo)
            self._settle(pending, todo)
        except BaseException:
            # The run is over (Ctrl-C, error_score="raise"): stop the fits still running, an
            # early refit included, as joblib does; finished ones are already stored.
            self.executor.abort()
            raise
        finally:
            for future in pending:
                future.cancel()

    @property
    def _bet_future(self) -> Future[list[Result]] | None:
        """The tail refit's future: the loop does not wait for it (``_settle`` decides)."""
        return None if self.bet is None else self.bet[0]

    def _bet(self, pending: dict[Future[list[Result]], list[Unit]]) -> None:
        """Refit the leader so far on the idle worker, once (:mod:`.tail_refit`)."""
        if self.tail_refit is None or self.bet is not None:
            return
        leader = self.tail_refit.leader(self.study, self.collector.results)
        if leader is None:
            return
        unit = self.tail_refit.task(leader)
        running = sum(len(b) for b in pending.values())
        self.executor.remaining(running + 1)
        future = self.executor.submit(self.handle, [unit])  # type: ignore[arg-type]
        pending[future] = [unit]
        self.bet = (future, leader)

    def _settle(self, pending: dict[Future[list[Result]], list[Unit]], todo: LPTQueue) -> None:
        """Every fit is in: wait for the tail refit if its candidate still leads, else stop it."""
        if self.bet is None or self.bet[0] not in pending:
            return
        future, candidate = self.bet
        assert self.tail_refit is not None
        if self.tail_refit.leader(self.study, self.collector.results) == candidate:
            wait([future])
            self._collect(future, pending.pop(future), todo)
        else:
            # Nothing else runs now: abort stops only the lost bet (a process pool restarts
            # that worker on demand; Dask cancels the task).
            future.cancel()
            self.executor.abort()
            pending.pop(future)

    def _collect(self, future: Future[list[Result]], batch: list[Unit], todo: LPTQueue) -> None:
        try:
            results = future.result()
        except WorkerLost as lost:
            self.collector.add(lost.done)
            todo.push_front(lost.rest)  # never started: no attempt spent
            self._lost(lost, todo)
            return
        tasks = [r for r in results if isinstance(r, TaskResult)]
        self.batcher.observe(tasks)
        _measure(batch, tasks, todo)
        self.collector.add(results)

    def _lost(self, lost: WorkerLost, todo: LPTQueue) -> None:
        unit = lost.lost
        if isinstance(unit, RefitTask):
            return  # nothing is lost: the caller refits after the study, as usual
        if isinstance(unit, SharedTask):
            # Which of its fits failed is unknown: run them one by one, each with its own
            # attempts (and its own time limit).
            todo.push_front(unit.tasks())
            return
        kind = "timeout" if lost.timed_out else "crash"
        self.crashes[unit] = attempts = self.crashes.get(unit, 0) + 1
        if kind == "crash" and attempts <= self.retries:
            todo.push_front([unit])
            return
        message = _failure_message(self.study, unit, lost, attempts)
        self.collector.add([_sklearn.failed_result(self.study, unit, message, kind)])
        if self.study.error_score == "raise":
            raise ExecutorError(message.strip().splitlines()[-1]) from lost


def _failure_message(study: Study, task: Task, lost: WorkerLost, attempts: int) -> str:
    model = study.models[task.model]
    params = model.candidates[task.candidate]
    what = f"{model.name} with {params}"  # no split: scikit-learn groups equal messages
    if lost.timed_out:
        return (
            f"The fit of {what} was stopped.\n"
            f"FitTimeout: the fit {lost.reason} (fit_timeout); its worker was restarted"
        )
    return (
        f"The worker process fitting {what} died ({attempts} attempt"
        f"{'s' * (attempts != 1)}); a dead process leaves no Python traceback.\n"
        f"WorkerCrashed: the worker process {lost.reason}"
    )


def _measure(batch: Sequence[Unit], results: Sequence[TaskResult], todo: LPTQueue) -> None:
    """Tell ``todo`` how long each unit of ``batch`` took: its tasks' fit and score times."""
    if len(batch) == 1 and isinstance(batch[0], Task):  # the common case, kept cheap
        if results:
            todo.observe(batch[0], results[0].fit_time + results[0].score_time)
        return
    seconds = {r.task: r.fit_time + r.score_time for r in results}
    for unit in batch:
        if isinstance(unit, Task):
            if unit in seconds:
                todo.observe(unit, seconds[unit])
        elif isinstance(unit, SharedTask):
            times = [seconds[t] for t in unit.tasks() if t in seconds]
            if len(times) == len(unit.candidates):
                todo.observe(unit, sum(times))


def _take(todo: LPTQueue, n_tasks: int, seconds: float = math.inf) -> list[Unit]:
    """Pop units from ``todo`` until they hold ``n_tasks`` tasks (at least one unit), or
    until the next would take the batch's predicted time past ``seconds``.

    Packing by predicted time, not by a count from the mean fit time, keeps
    batches near their target when units of very different lengths follow
    each other (longest first: the mean of the long ones seen first would make
    the later, short ones' batches needlessly small).
    """
    predict = todo.cost.predict
    batch = [todo.popleft()]
    size, total = unit_size(batch[0]), predict(batch[0])
    while todo:
        following = todo.peek()
        size += unit_size(following)
        total += predict(following)
        if size > n_tasks or total > seconds:
            break
        batch.append(todo.popleft())
    return batch
