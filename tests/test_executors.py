"""Executors: the shipped contract suite on every registered backend, then the local ones' own.

The contract is :mod:`gridfold.testing.executors` (``check_executor``), which a
third-party backend runs the same way. Here each check is a test per backend,
and then what gridfold's own executors promise besides: exact ``n_jobs``
counts, memory-mapped data, BLAS/OpenMP limits in workers, nesting through
``compare``, coexistence with joblib's pool. Probes that must observe a worker
from the inside are scorers: they run where the fit runs and hand their
observation back as a score.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

import gridfold

# The function's home module; `gridfold.compare` itself is pinned in test_compare.py.
from gridfold.comparison import compare
from gridfold.data import FileHandle
from gridfold.engine import run_study
from gridfold.executors import get_executor
from gridfold.executors.local import SequentialExecutor
from gridfold.testing import EXECUTOR_CHECKS, check_executor
from gridfold.testing.executors import make_study, probe_study

BACKENDS = gridfold.available_backends()
N_JOBS = 2


# ----------------------------------------------------------------------------
# Probes (module level: pickled by reference into workers). The shared
# estimators, studies and the contract itself live in gridfold.testing.executors.
# ----------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------
# The contract: every registered backend passes the shipped suite
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("check", list(EXECUTOR_CHECKS.values()), ids=list(EXECUTOR_CHECKS))
def test_executor_contract(backend: str, check: Any) -> None:
    check(backend, N_JOBS)


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


def joblib_probe(est: Any, X: Any, y: Any) -> dict[str, float]:
    """Threads a fit's own ``n_jobs`` gets, counted by the threads that really ran."""
    import threading
    import time

    from joblib import Parallel, delayed

    def ident(_: int) -> int:
        time.sleep(0.002)  # long enough for every thread of the pool to take some
        return threading.get_ident()

    return {
        "all_cores": float(
            len(set(Parallel(n_jobs=-1, prefer="threads")(delayed(ident)(i) for i in range(64))))
        ),
        "explicit_8": float(len(set(Parallel(n_jobs=8)(delayed(ident)(i) for i in range(64))))),
    }


def test_a_fits_own_n_jobs_gets_only_the_cores_workers_leave(
    executor: Any, backend: str, xy: tuple
) -> None:
    """A forest's n_jobs=-1 (or an explicit 8) inside a worker: never more threads than cores."""
    if backend == "sequential":
        pytest.skip("in the caller's process: its n_jobs is the caller's")
    study = probe_study(*xy, joblib_probe, n_candidates=8)
    results = run_study(study, executor)
    share = max(1, CORES // executor.n_workers)
    # Most units run while the others keep every worker busy: the worker's share.
    for key in ("all_cores", "explicit_8"):
        threads = sorted(r.test_scores[key] for r in results)
        assert threads[0] == share, (key, threads)
        assert threads[-1] <= CORES, (key, threads)


def test_the_last_unit_gets_the_idle_cores(xy: tuple) -> None:
    """One unit on two workers: the idle worker's core goes to the unit's own n_jobs."""
    study = probe_study(*xy, joblib_probe, n_candidates=1)
    split0 = type(study.data)(study.data.X, study.data.y, study.data.splits[:1])
    study = type(study)(models=study.models, data=split0)
    with get_executor("processes", 2) as ex:
        (result,) = run_study(study, ex)
    assert result.test_scores["all_cores"] == CORES
    assert result.test_scores["explicit_8"] == CORES
    # BLAS/OpenMP stay at the worker's share: more threads could change a sum's last bits.
    (blas,) = run_study(
        probe_study(*xy, thread_probe, n_candidates=1), get_executor("processes", 2)
    )[:1]
    assert blas.test_scores["blas"] == max(1, CORES // 2)


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


class _DropsTheLastResult(SequentialExecutor):
    """A broken backend: each batch loses its last result."""

    def submit(self, handle: Any, units: Any) -> Any:
        future = super().submit(handle, units)
        future._result = future.result()[:-1]  # type: ignore[attr-defined]
        return future


def test_check_executor_catches_a_broken_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridfold.executors import base

    check_executor("sequential")  # the real one passes ...
    monkeypatch.setitem(base._REGISTRY, "broken", lambda: _DropsTheLastResult)
    with pytest.raises(AssertionError, match="'every_task_yields_exactly_one_result'"):
        check_executor("broken")  # ... a broken one is named
