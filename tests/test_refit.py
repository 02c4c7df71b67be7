"""gridfold's refit gives scikit-learn's ``best_estimator_``, attribute for attribute.

The refit may grow a forest's trees on the search's idle cores
(:mod:`gridfold.refit`); every test here compares the fitted model with one
scikit-learn fitted plainly: the same ``get_params()``, every fitted attribute
equal (each tree's node arrays, each boosting predictor's nodes, every array
bit for bit) and the same predictions, bit for bit.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import sklearn.ensemble._forest as sk_forest
import sklearn.model_selection as skms
from conftest import BACKEND_IDS, BACKENDS
from joblib import cpu_count
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info

import gridfold
import gridfold.refit
from gridfold.refit import n_jobs_param, refit_estimator, refit_threads
from gridfold.testing._asserts import assert_same_state

# ----------------------------------------------------------------------------
# Deep comparison of two fitted models.
# ----------------------------------------------------------------------------


def assert_same_model(got: Any, expected: Any, X: np.ndarray) -> None:
    """Same parameters, same fitted state, same predictions bit for bit."""
    assert repr(got.get_params(deep=True)) == repr(expected.get_params(deep=True))
    assert_same_state(got, expected)
    for method in ("predict", "predict_proba", "decision_function"):
        if hasattr(expected, method):
            assert_array_equal(
                getattr(got, method)(X), getattr(expected, method)(X), err_msg=method, strict=True
            )


# ----------------------------------------------------------------------------
# Data, scorers and refit callables. Module level so that they pickle by
# reference into process workers.
# ----------------------------------------------------------------------------


def _classification(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n, 8, n_informative=5, n_classes=3, random_state=0)


def _regression(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(n, 8, noise=5.0, random_state=0)
    return X, y


def acc_and_f1(est: Any, X: Any, y: Any) -> dict[str, float]:
    pred = est.predict(X)
    return {"acc": accuracy_score(y, pred), "f1": f1_score(y, pred, average="macro")}


def lowest_mean_score(cv_results: dict) -> int:
    return int(np.argmin(cv_results["mean_test_score"]))


def both_searches(
    estimator: Any, grid: Any, X: np.ndarray, y: np.ndarray, backend: str, n_jobs: int, **kw: Any
) -> tuple[Any, Any]:
    fit_params = kw.pop("fit_params", {})
    expected = skms.GridSearchCV(estimator, grid, **kw).fit(X, y, **fit_params)
    got = gridfold.GridSearchCV(estimator, grid, backend=backend, n_jobs=n_jobs, **kw)
    return got.fit(X, y, **fit_params), expected


# ----------------------------------------------------------------------------
# The comparator itself must see differences.
# ----------------------------------------------------------------------------


def test_comparator_sees_a_different_tree_and_a_different_n_jobs() -> None:
    X, y = _classification()
    a = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    b = RandomForestClassifier(n_estimators=5, random_state=1).fit(X, y)
    with pytest.raises(AssertionError):
        assert_same_state(a, b)
    c = clone(a).set_params(n_jobs=2).fit(X, y)
    with pytest.raises(AssertionError):
        assert_same_model(c, a, X)
    assert_same_model(clone(a).fit(X, y), a, X)


# ----------------------------------------------------------------------------
# refit_estimator on its own: a forest grown on more cores is the same forest.
# ----------------------------------------------------------------------------

FORESTS = [
    (RandomForestClassifier(n_estimators=30, random_state=0), "clf"),
    (RandomForestRegressor(n_estimators=30, random_state=0), "reg"),
    (ExtraTreesClassifier(n_estimators=30, random_state=0), "clf"),
    (ExtraTreesRegressor(n_estimators=30, random_state=0), "reg"),
    (
        RandomForestClassifier(n_estimators=20, oob_score=True, max_samples=0.5, random_state=3),
        "clf",
    ),
    (
        RandomForestClassifier(n_estimators=20, class_weight="balanced_subsample", random_state=1),
        "clf",
    ),
    (ExtraTreesRegressor(n_estimators=20, bootstrap=True, oob_score=True, random_state=2), "reg"),
    (RandomForestRegressor(n_estimators=20, max_features=0.5, random_state=4), "reg"),
]


@pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize(("forest", "task"), FORESTS, ids=[repr(f) for f, _ in FORESTS])
def test_forest_refit_on_more_cores_is_the_same_forest(
    forest: Any, task: str, weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = _classification() if task == "clf" else _regression()
    fit_params = (
        {"sample_weight": np.random.RandomState(0).uniform(0.5, 2, len(y))} if weighted else {}
    )
    expected = clone(forest).fit(X, y, **fit_params)

    jobs = _record_forest_parallel(monkeypatch)
    got = refit_estimator(clone(forest), X, y, fit_params, n_threads=2)
    assert jobs == [2]  # the trees were grown on 2 jobs, not one
    assert got.n_jobs is None
    assert_same_model(got, expected, X)
    for tree_got, tree_expected in zip(got.estimators_, expected.estimators_, strict=True):
        assert_array_equal(tree_got.tree_.value, tree_expected.tree_.value, strict=True)


def _record_forest_parallel(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the ``n_jobs`` of every ``Parallel`` a forest's ``fit`` starts."""
    jobs: list[Any] = []

    class Recording(sk_forest.Parallel):  # type: ignore[misc, name-defined]
        def __init__(self, n_jobs: Any = None, **kwargs: Any) -> None:
            jobs.append(n_jobs)
            super().__init__(n_jobs=n_jobs, **kwargs)

    monkeypatch.setattr(sk_forest, "Parallel", Recording)
    return jobs


def test_forest_in_a_pipeline_grows_on_more_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _classification()
    pipe = Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=20))])
    pipe.set_params(rf__random_state=0)
    expected = clone(pipe).fit(X, y)
    jobs = _record_forest_parallel(monkeypatch)
    got = refit_estimator(clone(pipe), X, y, {}, n_threads=2)
    assert jobs == [2]
    assert_same_model(got, expected, X)


def test_unseeded_forest_draws_its_seeds_from_the_global_generator_as_before() -> None:
    X, y = _classification()
    np.random.seed(7)
    expected = RandomForestClassifier(n_estimators=10).fit(X, y)
    after_expected = np.random.random_sample()
    np.random.seed(7)
    got = refit_estimator(RandomForestClassifier(n_estimators=10), X, y, {}, n_threads=2)
    assert np.random.random_sample() == after_expected
    assert_same_model(got, expected, X)


def test_n_jobs_is_restored_when_the_fit_raises() -> None:
    X, y = _classification()
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    with pytest.raises(ValueError):
        refit_estimator(forest, X, y[:-1], {}, n_threads=2)
    assert forest.n_jobs is None


@pytest.mark.parametrize(
    ("estimator", "key"),
    [
        (RandomForestClassifier(), "n_jobs"),
        (ExtraTreesRegressor(n_jobs=1), "n_jobs"),
        (Pipeline([("s", StandardScaler()), ("rf", RandomForestRegressor())]), "rf__n_jobs"),
        (Pipeline([("p", Pipeline([("et", ExtraTreesClassifier())]))]), "p__et__n_jobs"),
        (RandomForestClassifier(verbose=1), None),  # joblib would print differently
        (type("MyForest", (RandomForestClassifier,), {})(), None),  # subclasses may differ
        (Pipeline([("rf", RandomForestClassifier()), ("svc", SVC())]), None),
        (HistGradientBoostingClassifier(), None),
        (SVC(), None),
    ],
    ids=repr,
)
def test_which_estimators_grow_on_more_cores(estimator: Any, key: str | None) -> None:
    assert n_jobs_param(estimator) == key


def test_refit_threads_is_the_search_worker_count() -> None:
    assert refit_threads(None) == 1
    assert refit_threads(1) == 1
    assert refit_threads(-1) == cpu_count()


def test_a_nested_search_refits_on_one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inside a gridfold worker the other workers are still busy.
    monkeypatch.setattr(gridfold.refit, "in_worker", lambda: True)
    assert refit_threads(-1) == 1


def test_a_forest_already_on_every_core_keeps_its_n_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _classification()
    jobs = _record_forest_parallel(monkeypatch)
    forest = refit_estimator(
        RandomForestClassifier(n_estimators=5, n_jobs=-1, random_state=0), X, y, {}, n_threads=2
    )
    assert jobs == [-1] and forest.n_jobs == -1


# ----------------------------------------------------------------------------
# The searches: gridfold's best_estimator_ is scikit-learn's.
# ----------------------------------------------------------------------------

SEARCHES = {
    # single path parameter: every candidate differs only in n_estimators
    "rf-clf-path": (RandomForestClassifier(random_state=0), {"n_estimators": [5, 10, 20]}, "clf"),
    "et-reg-path": (ExtraTreesRegressor(random_state=0), {"n_estimators": [5, 10, 20]}, "reg"),
    # not a single path: max_depth changes the trees too
    "rf-reg-depth": (
        RandomForestRegressor(random_state=0),
        {"n_estimators": [5, 15], "max_depth": [3, None]},
        "reg",
    ),
    "et-clf-depth": (
        ExtraTreesClassifier(random_state=0),
        {"n_estimators": [5, 15], "max_depth": [3, None]},
        "clf",
    ),
    "rf-pipeline": (
        Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(random_state=0))]),
        {"rf__n_estimators": [5, 15], "rf__min_samples_leaf": [1, 5]},
        "clf",
    ),
    "hgb-early-stopping": (
        HistGradientBoostingClassifier(early_stopping=True, n_iter_no_change=3, random_state=0),
        {"max_iter": [10, 50, 200]},
        "clf",
    ),
    "hgb-early-stopping-loss": (
        HistGradientBoostingRegressor(
            early_stopping=True, scoring="loss", n_iter_no_change=2, random_state=0
        ),
        {"max_iter": [10, 50, 200]},
        "reg",
    ),
    "hgb-no-early-stopping": (
        HistGradientBoostingClassifier(early_stopping=False, random_state=0),
        {"max_iter": [10, 30], "learning_rate": [0.1, 0.3]},
        "clf",
    ),
}


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("case", sorted(SEARCHES))
def test_best_estimator_equals_sklearn(case: str, backend: str, n_jobs: int) -> None:
    estimator, grid, task = SEARCHES[case]
    X, y = _classification() if task == "clf" else _regression()
    got, expected = both_searches(estimator, grid, X, y, backend, n_jobs, cv=3)
    assert got.best_params_ == expected.best_params_
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)
    assert_same_model(got.best_estimator_, clone(got.best_estimator_).fit(X, y), X)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_forest_best_estimator_with_sample_weight(backend: str, n_jobs: int) -> None:
    X, y = _classification()
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    got, expected = both_searches(
        RandomForestClassifier(random_state=0, oob_score=True),
        {"n_estimators": [10, 20]},
        X,
        y,
        backend,
        n_jobs,
        cv=3,
        fit_params={"sample_weight": weights},
    )
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_randomized_search_best_estimator(backend: str, n_jobs: int) -> None:
    X, y = _regression()
    space = {"n_estimators": [5, 10, 20], "max_features": [0.5, 1.0]}
    kwargs: dict[str, Any] = {"n_iter": 4, "random_state": 0, "cv": 3}
    expected = skms.RandomizedSearchCV(ExtraTreesRegressor(random_state=0), space, **kwargs)
    got = gridfold.RandomizedSearchCV(
        ExtraTreesRegressor(random_state=0), space, backend=backend, n_jobs=n_jobs, **kwargs
    )
    got.fit(X, y)
    expected.fit(X, y)
    assert got.best_params_ == expected.best_params_
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_callable_refit(backend: str, n_jobs: int) -> None:
    X, y = _classification()
    got, expected = both_searches(
        ExtraTreesClassifier(random_state=0),
        {"n_estimators": [5, 10, 20]},
        X,
        y,
        backend,
        n_jobs,
        cv=3,
        refit=lowest_mean_score,
    )
    assert got.best_index_ == expected.best_index_
    assert not hasattr(got, "best_score_") and not hasattr(expected, "best_score_")
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("scoring", ["list", "callable"])
def test_multimetric_refit(backend: str, n_jobs: int, scoring: str) -> None:
    X, y = _classification()
    kwargs: dict[str, Any] = (
        {"scoring": ["accuracy", "f1_macro"], "refit": "f1_macro"}
        if scoring == "list"
        else {"scoring": acc_and_f1, "refit": "f1"}
    )
    got, expected = both_searches(
        RandomForestClassifier(random_state=0),
        {"n_estimators": [5, 20], "max_depth": [2, None]},
        X,
        y,
        backend,
        n_jobs,
        cv=3,
        **kwargs,
    )
    assert got.best_params_ == expected.best_params_
    assert got.best_score_ == expected.best_score_
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_refit_false_fits_nothing(backend: str, n_jobs: int) -> None:
    X, y = _classification()
    got, expected = both_searches(
        RandomForestClassifier(random_state=0),
        {"n_estimators": [5, 10]},
        X,
        y,
        backend,
        n_jobs,
        cv=3,
        refit=False,
    )
    for search in (got, expected):
        assert not hasattr(search, "best_estimator_") and not hasattr(search, "refit_time_")
    assert got.best_params_ == expected.best_params_


# ----------------------------------------------------------------------------
# The refit runs with the caller's BLAS/OpenMP threads, as scikit-learn's does.
# ----------------------------------------------------------------------------

#: (OpenMP threads HGB would use, BLAS/OpenMP pools' thread counts) at each full-data fit.
_THREADS_AT_REFIT: list[tuple[int, list[tuple[str, int]]]] = []
_REFIT_ROWS = 240


class ThreadProbe(HistGradientBoostingClassifier):
    """Records the thread counts a fit on the whole data (the refit) runs with."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ThreadProbe:
        if len(X) == _REFIT_ROWS and threading.current_thread() is threading.main_thread():
            _THREADS_AT_REFIT.append(_thread_counts())
        return super().fit(X, y, sample_weight=sample_weight)


def _thread_counts() -> tuple[int, list[tuple[str, int]]]:
    pools = [(pool["user_api"], pool["num_threads"]) for pool in threadpool_info()]
    return _openmp_effective_n_threads(), pools


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_hgb_refit_gets_every_thread_the_caller_has(backend: str, n_jobs: int) -> None:
    X, y = _classification(_REFIT_ROWS)
    _THREADS_AT_REFIT.clear()
    search = gridfold.GridSearchCV(
        ThreadProbe(max_iter=5), {"max_iter": [3, 5]}, cv=3, backend=backend, n_jobs=n_jobs
    )
    search.fit(X, y)
    assert _THREADS_AT_REFIT == [_thread_counts()]  # no limit left by the search's executor
