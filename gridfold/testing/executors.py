"""The executor contract, as checks any registered backend must pass.

Each ``check_*`` function takes a backend name (as :func:`gridfold.executors.get_executor`
takes it) and a worker count, goes through the public seams only
(``get_executor`` and :func:`gridfold.engine.run_study`), and raises
``AssertionError`` if the backend breaks the contract of
:class:`~gridfold.executors.base.Executor`: one result per task, the same
results as the sequential executor, an ``error_score='raise'`` exception of
the right type, failures recorded, reuse across studies, data shared once,
thread limits restored, temporary files removed, nested searches kept
sequential, and, for backends that run fits in processes, a dead worker that
costs only its own unit. A third-party backend registered with
:func:`~gridfold.executors.register_executor` runs them the same way::

    from gridfold.testing import check_executor

    def test_my_backend():
        check_executor("my-backend", n_jobs=2)

Probes that must observe a worker from the inside are scorers: they run where
the fit runs and hand their observation back as a score. They and the test
estimators live in this module, so workers import them by reference.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from gridfold.engine import run_study
from gridfold.executors import get_executor
from gridfold.executors.base import Executor
from gridfold.executors.pool import WorkerLost
from gridfold.tasks import Model, Study, StudyData, Task, TaskResult
from gridfold.testing._asserts import raises

__all__ = [
    "EXECUTOR_CHECKS",
    "check_executor",
    "Boom",
    "BoomError",
    "Majority",
    "make_study",
    "probe_study",
    "comparable",
]


# ----------------------------------------------------------------------------
# Estimators, probes and studies
# ----------------------------------------------------------------------------


class BoomError(RuntimeError):
    """A distinctive exception type, to check that the type survives a worker."""


class Majority(ClassifierMixin, BaseEstimator):
    """Predicts the training set's majority class: the base of the misbehaving test fits."""

    def fit(self, X: Any, y: Any) -> Self:
        values, counts = np.unique(y, return_counts=True)
        self.classes_ = values
        self.majority_ = values[np.argmax(counts)]
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.majority_)


class Boom(Majority):
    """Predicts the majority class; ``fail=True`` raises :class:`BoomError`, ``"exit"`` kills."""

    def __init__(self, fail: bool | str = False) -> None:
        self.fail = fail

    def fit(self, X: Any, y: Any) -> Self:
        if self.fail == "exit":
            os._exit(7)  # a worker process dies in the middle of a fit
        if self.fail:
            raise BoomError("boom: fail=True")
        return super().fit(X, y)


def nesting_probe(est: Any, X: Any, y: Any) -> dict[str, float]:
    """What a search started inside this worker would run on."""
    from gridfold.runtime import in_worker

    nested = get_executor(None, 2)
    forced = get_executor("processes", 2)
    with nested, forced:
        return {
            "in_worker": float(in_worker()),
            "nested_sequential": float(nested.name == "sequential" and nested.n_workers == 1),
            "forced_sequential": float(forced.name == "sequential"),
        }


def xy() -> tuple[np.ndarray, np.ndarray]:
    """A small three-class data set (90 x 5), the same on every call."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=90) > 0).astype(int) + (X[:, 1] > 1)
    return X, y


def make_study(
    X: np.ndarray,
    y: np.ndarray,
    *,
    models: tuple[Model, ...] | None = None,
    n_splits: int = 3,
    error_score: Any = np.nan,
    return_train_score: bool = False,
) -> Study:
    """A study of ``models`` (default: a tree grid and :class:`Boom`) on stratified splits."""
    if models is None:
        tree = DecisionTreeClassifier(random_state=0)
        scorer = check_scoring(tree, ["accuracy", "f1_macro"])
        models = (
            Model("tree", tree, tuple({"max_depth": d} for d in (1, 2, None)), scorer),
            Model("boom", Boom(), ({},), check_scoring(Boom(), "accuracy")),
        )
    splits = tuple(StratifiedKFold(n_splits, shuffle=True, random_state=0).split(X, y))
    return Study(
        models=models,
        data=StudyData(X, y, splits),
        return_train_score=return_train_score,
        error_score=error_score,
    )


def probe_study(X: np.ndarray, y: np.ndarray, scorer: Any, n_candidates: int = 4) -> Study:
    """A tree grid whose "scorer" is a probe run where each fit runs."""
    tree = DecisionTreeClassifier(random_state=0)
    cands = tuple({"max_depth": d} for d in range(1, n_candidates + 1))
    return make_study(X, y, models=(Model("probe", tree, cands, scorer),), n_splits=2)


def comparable(results: list[TaskResult]) -> list[tuple[Any, ...]]:
    """Everything in a result but its timings, in task order."""
    return sorted(
        (r.task, repr(r.test_scores), repr(r.train_scores), r.n_test_samples, r.fit_error)
        for r in results
    )


@contextmanager
def _executor(backend: str, n_jobs: int) -> Iterator[Executor]:
    with get_executor(backend, n_jobs) as ex:
        yield ex


def _reference(study: Study) -> list[tuple[Any, ...]]:
    with get_executor("sequential", 1) as reference:
        return comparable(run_study(study, reference))


# ----------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------


def check_every_task_yields_exactly_one_result(backend: str, n_jobs: int) -> None:
    study = make_study(*xy())
    seen: list[TaskResult] = []
    with _executor(backend, n_jobs) as ex:
        results = run_study(study, ex, on_result=seen.append)
    counts = Counter(r.task for r in results)
    assert set(counts) == set(study.tasks())
    assert set(counts.values()) == {1}
    assert len(results) == study.n_tasks == 12
    assert [r.task for r in seen] == [r.task for r in results]


def check_a_subset_of_tasks(backend: str, n_jobs: int) -> None:
    study = make_study(*xy())
    wanted = [Task(0, 2, 1), Task(1, 0, 0), Task(0, 0, 2)]
    with _executor(backend, n_jobs) as ex:
        results = run_study(study, ex, tasks=wanted)
    assert sorted(r.task for r in results) == sorted(wanted)


def check_results_equal_the_sequential_executors(backend: str, n_jobs: int) -> None:
    study = make_study(*xy(), return_train_score=True)
    with _executor(backend, n_jobs) as ex:
        got = comparable(run_study(study, ex))
    expected = _reference(study)
    assert got == expected
    assert all(isinstance(t[1], str) for t in expected)


def check_error_score_raise_propagates_the_exception_type(backend: str, n_jobs: int) -> None:
    models = (
        Model("tree", DecisionTreeClassifier(), ({"max_depth": 1},) * 3, check_scoring(Boom())),
        Model("boom", Boom(), ({"fail": False}, {"fail": True}), check_scoring(Boom())),
    )
    study = make_study(*xy(), models=models, error_score="raise")
    with _executor(backend, n_jobs) as ex:
        with raises(BoomError, match="boom: fail=True"):
            run_study(study, ex)
        # The executor survives a raising task and runs the next study.
        assert len(run_study(make_study(*xy()), ex)) == 12


def check_a_failed_fit_is_recorded_not_raised(backend: str, n_jobs: int) -> None:
    models = (Model("boom", Boom(), ({"fail": True}, {"fail": False}), check_scoring(Boom())),)
    with _executor(backend, n_jobs) as ex:
        results = run_study(make_study(*xy(), models=models), ex)
    failed = [r for r in results if r.failed]
    assert {r.task.candidate for r in failed} == {0} and len(failed) == 3
    assert all(r.fit_error and "BoomError: boom: fail=True" in r.fit_error for r in failed)
    assert all(r.fit_error and "Traceback" in r.fit_error for r in failed)
    assert all(np.isnan(r.test_scores) for r in failed)  # type: ignore[arg-type]
    assert not any(np.isnan(r.test_scores) for r in results if not r.failed)  # type: ignore[arg-type]


def check_an_executor_runs_a_second_study(backend: str, n_jobs: int) -> None:
    X, y = xy()
    second_study = make_study(X[::-1], y[::-1], n_splits=2)
    with _executor(backend, n_jobs) as ex:
        first = run_study(make_study(X, y), ex)
        second = run_study(second_study, ex)
    assert len(first) == 12 and len(second) == second_study.n_tasks == 8
    assert comparable(second) == _reference(second_study)


def check_shutdown_is_idempotent(backend: str, n_jobs: int) -> None:
    ex = get_executor(backend, n_jobs)
    ex.shutdown()
    ex.shutdown()


def check_n_jobs_semantics(backend: str, n_jobs: int) -> None:
    from gridfold.exceptions import ParameterError

    cores = joblib.cpu_count()
    cases: tuple[tuple[Any, int], ...] = ((None, 1), (1, 1), (2, 2), (-1, cores), (np.int64(2), 2))
    for given, workers in cases:
        with get_executor(backend, given) as ex:
            assert ex.n_workers in (1, workers), (given, ex.n_workers)
    for bad in (0, 1.5, "2", True):
        with raises(ParameterError, match="n_jobs"):
            get_executor(backend, bad)  # type: ignore[arg-type]
    with joblib.parallel_config(n_jobs=2), get_executor(backend, None) as ex:
        assert ex.n_workers in (1, 2)


def check_data_is_shared_once_per_study(backend: str, n_jobs: int) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(6000, 40))  # 1.9 MB
    y = (X[:, 0] > 0).astype(int)
    handles: list[Any] = []
    with _executor(backend, n_jobs) as ex:
        submit = ex.submit

        def spy(handle: Any, units: Any) -> Any:
            handles.append(handle)
            return submit(handle, units)

        ex.submit = spy  # type: ignore[method-assign]
        study = probe_study(X, y, check_scoring(DecisionTreeClassifier(), "accuracy"), 2)
        run_study(study, ex)
    assert handles and len({id(h) for h in handles}) == 1  # one handle per study
    if ex.uses_processes:  # what travels with each batch is the handle, never the data
        assert len(pickle.dumps((handles[0], [Task(0, 0, 0)] * 8))) < X.nbytes // 100
    else:  # in memory: the caller's own objects
        assert handles[0].load() is study


def check_thread_limits_are_restored(backend: str, n_jobs: int) -> None:
    from threadpoolctl import threadpool_info

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    with _executor(backend, n_jobs) as ex:
        run_study(make_study(*xy()), ex)
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


@contextmanager
def _temp_folder() -> Iterator[str]:
    saved = os.environ.get("JOBLIB_TEMP_FOLDER")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["JOBLIB_TEMP_FOLDER"] = folder
        try:
            yield folder
        finally:
            if saved is None:
                del os.environ["JOBLIB_TEMP_FOLDER"]
            else:
                os.environ["JOBLIB_TEMP_FOLDER"] = saved


def check_temporary_files_are_removed_after_each_study(backend: str, n_jobs: int) -> None:
    with _temp_folder() as folder, _executor(backend, n_jobs) as ex:
        run_study(make_study(*xy()), ex)
        assert os.listdir(folder) == []  # removed when the study ends, not at shutdown
        models = (Model("boom", Boom(), ({"fail": True},), check_scoring(Boom())),)
        with raises(BoomError):
            run_study(make_study(*xy(), models=models, error_score="raise"), ex)
        assert os.listdir(folder) == []  # also after a failed study


def check_a_search_nested_in_a_worker_runs_sequentially(backend: str, n_jobs: int) -> None:
    with _executor(backend, n_jobs) as ex:
        results = run_study(probe_study(*xy(), nesting_probe, n_candidates=2), ex)
        parallel = ex.n_workers > 1
    for r in results:
        scores: dict[str, float] = r.test_scores  # type: ignore[assignment]
        if parallel:
            assert scores["in_worker"] == 1.0
            assert scores["nested_sequential"] == 1.0
            assert scores["forced_sequential"] == 1.0


def check_a_dead_worker_fails_only_its_unit(backend: str, n_jobs: int) -> None:
    with _executor(backend, n_jobs) as ex:
        if not ex.uses_processes:
            return  # a thread or the caller cannot die alone
        models = (
            Model("boom", Boom(), ({"fail": False}, {"fail": "exit"}), check_scoring(Boom())),
        )
        study = make_study(*xy(), models=models)
        handle = ex.share(study)
        try:
            batch = [Task(0, 0, 0), Task(0, 1, 0), Task(0, 0, 1)]
            future = ex.submit(handle, batch)
            with raises(WorkerLost, match="exited with code 7"):
                future.result(timeout=300)
            lost = future.exception()
            assert isinstance(lost, WorkerLost)
            assert lost.lost == Task(0, 1, 0)  # the unit it died in, exactly
            # The unit before it is kept (done) or handed back to run again (rest, when its
            # results had not reached the driver); the unit after it never started.
            done = [r.task for r in lost.done]
            assert done + list(lost.rest) == [Task(0, 0, 0), Task(0, 0, 1)]
            # The executor lives on: the next batch runs on a new worker.
            again = ex.submit(handle, [Task(0, 0, 1), Task(0, 0, 2)]).result(timeout=300)
            assert [r.task for r in again] == [Task(0, 0, 1), Task(0, 0, 2)]
        finally:
            ex.release(handle)


#: Every check of the contract, by name.
EXECUTOR_CHECKS: dict[str, Callable[[str, int], None]] = {
    check.__name__.removeprefix("check_"): check
    for check in (
        check_every_task_yields_exactly_one_result,
        check_a_subset_of_tasks,
        check_results_equal_the_sequential_executors,
        check_error_score_raise_propagates_the_exception_type,
        check_a_failed_fit_is_recorded_not_raised,
        check_an_executor_runs_a_second_study,
        check_shutdown_is_idempotent,
        check_n_jobs_semantics,
        check_data_is_shared_once_per_study,
        check_thread_limits_are_restored,
        check_temporary_files_are_removed_after_each_study,
        check_a_search_nested_in_a_worker_runs_sequentially,
        check_a_dead_worker_fails_only_its_unit,
    )
}


def check_executor(backend: str, n_jobs: int = 2) -> None:
    """Run every check of the executor contract on ``backend``.

    Parameters
    ----------
    backend : str
        A registered backend name (:func:`gridfold.available_backends`).
    n_jobs : int, default=2
        Workers to ask for.

    Raises
    ------
    AssertionError
        Naming the first check the backend fails.
    """
    for name, check in EXECUTOR_CHECKS.items():
        try:
            check(backend, n_jobs)
        except AssertionError as exc:
            raise AssertionError(f"executor check {name!r} failed on {backend!r}: {exc}") from exc
