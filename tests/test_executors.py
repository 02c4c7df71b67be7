"""Executor conformance: one suite, run against every registered backend.

Every test goes through the public seams: ``get_executor(name, n_jobs)`` and
``run_study``. Probes that must observe a worker from the inside (thread
limits, memory maps, nesting) are scorers: they run where the fit runs and
hand their observation back as a score.
"""

from __future__ import annotations

import mmap
import os
import pickle
from collections import Counter
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

import gridfold

# The function's home module; `gridfold.compare` itself is pinned in test_compare.py.
from gridfold.comparison import compare
from gridfold.data import FileHandle
from gridfold.engine import run_study
from gridfold.executors import get_executor
from gridfold.tasks import Model, Study, StudyData, Task

BACKENDS = gridfold.available_backends()
N_JOBS = 2


# ----------------------------------------------------------------------------
# Estimators and probes (module level: pickled by reference into workers).
# ----------------------------------------------------------------------------


class BoomError(RuntimeError):
    """A distinctive exception type, to check that the type survives a worker."""


class Boom(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; raises :class:`BoomError` in fit when ``fail``."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def fit(self, X: Any, y: Any) -> Boom:
        if self.fail:
            raise BoomError("boom: fail=True")
        values, counts = np.unique(y, return_counts=True)
        self.classes_ = values
        self.majority_ = values[np.argmax(counts)]
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.majority_)


def thread_probe(est: Any, X: Any, y: Any) -> dict[str, float]:
    """BLAS and OpenMP threads as seen from inside a fit's scoring call."""
    import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_info

    info = threadpool_info()
    by_api = {
        api: max((i["num_threads"] for i in info if i["user_api"] == api), default=-1)
        for api in ("blas", "openmp")
    }
    return {**{k: float(v) for k, v in by_api.items()}, "pid": float(os.getpid())}


def memory_mapped(array: Any) -> bool:
    """Whether ``array``'s memory is a file mapping (itself or a view of one), not a copy."""
    while array is not None:
        if isinstance(array, np.memmap | mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


class MemmapProbe:
    """Scorer that loads another study's :class:`FileHandle` inside the worker."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, est: Any, X: Any, y: Any) -> dict[str, float]:
        data = FileHandle(self.path).load().data
        return {
            "memmap_X": float(memory_mapped(data.X)),
            "memmap_y": float(memory_mapped(data.y)),
            # Seen as plain ndarrays: a memmap subclass slows every numpy operation on it.
            "plain_X": float(type(data.X) is np.ndarray),
            "pid": float(os.getpid()),
        }


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


def pid_scorer(est: Any, X: Any, y: Any) -> float:
    return float(os.getpid())


# ----------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=90) > 0).astype(int) + (X[:, 1] > 1)
    return X, y


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def executor(backend: str) -> Any:
    with get_executor(backend, N_JOBS) as ex:
        yield ex


def make_study(
    X: np.ndarray,
    y: np.ndarray,
    *,
    models: tuple[Model, ...] | None = None,
    n_splits: int = 3,
    error_score: Any = np.nan,
    return_train_score: bool = False,
) -> Study:
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
    tree = DecisionTreeClassifier(random_state=0)
    cands = tuple({"max_depth": d} for d in range(1, n_candidates + 1))
    return make_study(X, y, models=(Model("probe", tree, cands, scorer),), n_splits=2)


def comparable(results: list) -> list[tuple]:
    """Everything in a result but its timings, in task order."""
    return sorted(
        (r.task, repr(r.test_scores), repr(r.train_scores), r.n_test_samples, r.fit_error)
        for r in results
    )


# ----------------------------------------------------------------------------
# The contract
# ----------------------------------------------------------------------------


def test_every_task_yields_exactly_one_result(executor: Any, xy: tuple) -> None:
    study = make_study(*xy)
    seen: list = []
    results = run_study(study, executor, on_result=seen.append)
    counts = Counter(r.task for r in results)
    assert set(counts) == set(study.tasks())
    assert set(counts.values()) == {1}
    assert len(results) == study.n_tasks == 12
    assert [r.task for r in seen] == [r.task for r in results]


def test_subset_of_tasks(executor: Any, xy: tuple) -> None:
    study = make_study(*xy)
    wanted = [Task(0, 2, 1), Task(1, 0, 0), Task(0, 0, 2)]
    results = run_study(study, executor, tasks=wanted)
    assert sorted(r.task for r in results) == sorted(wanted)


def test_results_identical_across_executors(executor: Any, xy: tuple) -> None:
    study = make_study(*xy, return_train_score=True)
    with get_executor("sequential", 1) as reference:
        expected = comparable(run_study(study, reference))
    assert comparable(run_study(study, executor)) == expected
    assert all(isinstance(t[1], str) for t in expected)  # sanity: scores present


def test_exception_with_error_score_raise_propagates_type(executor: Any, xy: tuple) -> None:
    models = (
        Model("tree", DecisionTreeClassifier(), ({"max_depth": 1},) * 3, check_scoring(Boom())),
        Model("boom", Boom(), ({"fail": False}, {"fail": True}), check_scoring(Boom())),
    )
    study = make_study(*xy, models=models, error_score="raise")
    with pytest.raises(BoomError, match="boom: fail=True"):
        run_study(study, executor)
    # The executor survives a raising task and runs the next study.
    results = run_study(make_study(*xy), executor)
    assert len(results) == 12


def test_failed_fit_is_recorded_not_raised(executor: Any, xy: tuple) -> None:
    models = (Model("boom", Boom(), ({"fail": True}, {"fail": False}), check_scoring(Boom())),)
    results = run_study(make_study(*xy, models=models), executor)
    failed = [r for r in results if r.failed]
    assert {r.task.candidate for r in failed} == {0} and len(failed) == 3
    assert all("BoomError: boom: fail=True" in r.fit_error for r in failed)
    assert all("Traceback" in r.fit_error for r in failed)
    assert all(np.isnan(r.test_scores) for r in failed)
    assert not any(np.isnan(r.test_scores) for r in results if not r.failed)


def test_executor_is_reusable_for_a_second_study(executor: Any, xy: tuple) -> None:
    X, y = xy
    first = run_study(make_study(X, y), executor)
    second_study = make_study(X[::-1], y[::-1], n_splits=2)
    second = run_study(second_study, executor)
    assert len(first) == 12 and len(second) == second_study.n_tasks == 8
    with get_executor("sequential", 1) as reference:
        assert comparable(second) == comparable(run_study(second_study, reference))


def test_shutdown_is_idempotent(backend: str) -> None:
    ex = get_executor(backend, N_JOBS)
    ex.shutdown()
    ex.shutdown()


# ----------------------------------------------------------------------------
# n_jobs
# ----------------------------------------------------------------------------

CORES = joblib.cpu_count()


@pytest.mark.parametrize(
    ("n_jobs", "workers"),
    [(None, 1), (1, 1), (2, 2), (-1, CORES), (-2, max(1, CORES - 1)), (np.int64(2), 2)],
    ids=["None", "1", "2", "-1", "-2", "np.int64"],
)
def test_n_jobs_semantics(backend: str, n_jobs: Any, workers: int) -> None:
    with get_executor(backend, n_jobs) as ex:
        expected = 1 if backend == "sequential" else workers
        assert ex.n_workers == expected


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True, False], ids=repr)
def test_invalid_n_jobs(backend: str, n_jobs: Any) -> None:
    with pytest.raises(gridfold.ParameterError, match="n_jobs") as err:
        get_executor(backend, n_jobs)
    message = str(err.value)
    assert repr(n_jobs) in message and "Expected" in message and "fix" in message.lower()


def test_n_jobs_none_follows_joblib_parallel_config(backend: str) -> None:
    with joblib.parallel_config(n_jobs=2), get_executor(backend, None) as ex:
        assert ex.n_workers == (1 if backend == "sequential" else 2)


# ----------------------------------------------------------------------------
# Parallel hygiene: data shared once, thread limits, temp files, nesting
# ----------------------------------------------------------------------------


def test_large_arrays_are_shared_once_not_pickled_per_task(executor: Any) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(6000, 40))  # 1.9 MB
    y = (X[:, 0] > 0).astype(int)
    handles: list = []
    submit = executor.submit

    def spy(handle: Any, tasks: Any) -> Any:
        handles.append(handle)
        return submit(handle, tasks)

    executor.submit = spy
    study = probe_study(X, y, check_scoring(DecisionTreeClassifier(), "accuracy"), 2)
    run_study(study, executor)
    assert handles and len({id(h) for h in handles}) == 1  # one handle per study
    if not executor.uses_processes:
        assert handles[0].load() is study  # in-memory: the caller's own objects
        return
    handle = handles[0]
    assert isinstance(handle, FileHandle)
    assert len(pickle.dumps((handle, [Task(0, 0, 0)] * 8))) < 2_000 < X.nbytes // 100


def test_process_workers_memory_map_the_study(backend: str, xy: tuple, tmp_path: Any) -> None:
    with get_executor(backend, N_JOBS) as ex:
        if not ex.uses_processes:
            pytest.skip(f"{backend} shares the caller's memory; nothing is mapped")
        rng = np.random.RandomState(1)
        big = make_study(rng.normal(size=(5000, 30)), rng.randint(0, 2, 5000))
        handle = ex.share(big)
        try:
            assert isinstance(handle, FileHandle)
            assert memory_mapped(handle.load().data.X)  # here, and ...
            results = run_study(probe_study(*xy, MemmapProbe(handle.path)), ex)
        finally:
            ex.release(handle)
        assert not os.path.exists(handle.path)
    pids = {r.test_scores["pid"] for r in results}
    assert os.getpid() not in pids  # ... in the worker processes too
    assert all(r.test_scores["memmap_X"] == 1.0 for r in results), results[0]
    assert all(r.test_scores["memmap_y"] == 1.0 for r in results)
    assert all(r.test_scores["plain_X"] == 1.0 for r in results)


@pytest.mark.parametrize("api", ["blas", "openmp"])
def test_inner_threads_are_limited(executor: Any, backend: str, api: str, xy: tuple) -> None:
    # OpenMP's thread count is per thread: pool threads must set their own.
    results = run_study(probe_study(*xy, thread_probe), executor)
    threads = {r.test_scores[api] for r in results}
    assert min(threads) >= 1, f"{api} runtime not loaded in the worker"
    assert executor.n_workers * max(threads) <= CORES, (backend, api, threads)
    if executor.n_workers > 1:
        assert max(threads) == max(1, CORES // executor.n_workers)


def test_thread_limits_are_restored_after_the_study(backend: str, xy: tuple) -> None:
    from threadpoolctl import threadpool_info

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    with get_executor(backend, N_JOBS) as ex:
        run_study(make_study(*xy), ex)
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


def test_temp_folder_removed_after_run(
    backend: str, xy: tuple, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBLIB_TEMP_FOLDER", str(tmp_path))
    during: list[list[str]] = []
    with get_executor(backend, N_JOBS) as ex:
        run_study(make_study(*xy), ex, on_result=lambda r: during.append(os.listdir(tmp_path)))
        assert os.listdir(tmp_path) == []  # removed when the study ends, not at shutdown
        models = (Model("boom", Boom(), ({"fail": True},), check_scoring(Boom())),)
        with pytest.raises(BoomError):
            run_study(make_study(*xy, models=models, error_score="raise"), ex)
        assert os.listdir(tmp_path) == []  # also after a failed study
    if ex.uses_processes:
        assert all(len(d) == 1 and d[0].startswith("gridfold-") for d in during)
    else:
        assert all(d == [] for d in during)  # nothing written at all


def test_nested_search_in_worker_runs_sequentially(executor: Any, xy: tuple) -> None:
    results = run_study(probe_study(*xy, nesting_probe, n_candidates=2), executor)
    parallel = executor.n_workers > 1
    for r in results:
        assert r.test_scores["in_worker"] == float(parallel)
        if parallel:
            assert r.test_scores["nested_sequential"] == 1.0
            assert r.test_scores["forced_sequential"] == 1.0


def test_nested_gridsearch_via_compare_stays_in_the_worker(backend: str, xy: tuple) -> None:
    if backend == "sequential":
        pytest.skip("the sequential executor has no workers to nest in")
    inner = gridfold.GridSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 2, 3]},
        scoring={"acc": "accuracy", "pid": pid_scorer},
        refit="acc",
        cv=2,
        n_jobs=2,  # would start a pool if it were not nested
    )

    def outer(est: Any, X: Any, y: Any) -> dict[str, float]:
        from gridfold.runtime import in_worker

        pids = est.cv_results_["mean_test_pid"]
        return {
            "acc": float(est.score(X, y)),
            "inner_in_this_process": float(np.all(pids == os.getpid())),
            "in_worker": float(in_worker()),
        }

    res = compare({"gs": inner}, *xy, cv=2, scoring=outer, backend=backend, n_jobs=2)
    assert (res.scores["test_in_worker"] == 1.0).all()
    assert (res.scores["test_inner_in_this_process"] == 1.0).all()
    assert res.scores["test_acc"].between(0, 1).all()


def test_process_pool_coexists_with_joblib_pool() -> None:
    """scikit-learn's n_jobs (joblib's loky pool) and gridfold's pool must not evict each other."""
    import sklearn.model_selection as skms
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    import gridfold
    from gridfold.executors import local

    X, y = load_iris(return_X_y=True)
    grid = {"max_depth": [1, 2]}
    gridfold.GridSearchCV(DecisionTreeClassifier(), grid, n_jobs=2, backend="processes").fit(X, y)
    pool = local._pool
    skms.GridSearchCV(DecisionTreeClassifier(), grid, n_jobs=2).fit(X, y)
    gridfold.GridSearchCV(DecisionTreeClassifier(), grid, n_jobs=2, backend="processes").fit(X, y)
    assert local._pool is pool


def test_failed_share_leaves_no_temp_folder(tmp_path: Any, monkeypatch: Any) -> None:
    """A study that cannot be written (unpicklable parameter) must not leave its folder."""
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    import gridfold

    class Unpicklable:
        def __reduce__(self) -> Any:
            raise TypeError("not picklable")

    monkeypatch.setenv("JOBLIB_TEMP_FOLDER", str(tmp_path))
    X, y = load_iris(return_X_y=True)
    search = gridfold.GridSearchCV(
        DecisionTreeClassifier(), {"max_depth": [1, Unpicklable()]}, n_jobs=2, backend="processes"
    )
    with pytest.raises(TypeError, match="not picklable"):
        search.fit(X, y)
    assert list(tmp_path.iterdir()) == []
