"""The refit answered during the search: planned only when exact and quicker, identical always.

Three layers: the cost model and its decision (:func:`plan_refit`, one test
per reason to refit after the search instead); searches whose refit a worker
did alongside the folds, compared with scikit-learn's ``best_estimator_``
attribute by attribute on every executor; and what happens when that early
refit fails, crashes or warns (the refit after the search takes over, or the
warning is shown in the caller as scikit-learn's refit shows it).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.model_selection as skms
from conftest import BACKEND_IDS, BACKENDS
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_refit import assert_same_model

import gridfold
import gridfold.engine
import gridfold.searchcv
from gridfold.sharing import early_refit
from gridfold.sharing.base import register
from gridfold.sharing.boosting import GradientBoostingPath, HistGradientBoostingPath
from gridfold.sharing.early_refit import makespan, plan_refit
from gridfold.sharing.forest import ForestPath
from gridfold.sharing.planner import plan_units
from gridfold.tasks import Model, RefitTask, Study, StudyData

# ----------------------------------------------------------------------------
# The cost model.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("costs", "n_workers", "expected"),
    [
        ([], 2, 0.0),
        ([3.0], 2, 3.0),
        ([1.0] * 5, 2, 3.0),  # 5 folds on 2 workers: 3 rounds
        ([1.25, *[1.0] * 5], 2, 3.25),  # the refit first fills the third round's hole
        ([1.0, 1.0, 2.0], 2, 3.0),  # in order, not longest first
        ([1.0] * 5, 1, 5.0),
        ([2.0, 1.0, 1.0], 8, 2.0),
    ],
)
def test_makespan_is_list_scheduling_in_order(
    costs: list[float], n_workers: int, expected: float
) -> None:
    assert makespan(costs, n_workers) == expected


def _study(estimator: Any, grid: dict[str, list[Any]], n: int = 500, n_splits: int = 5) -> Study:
    X, y = make_classification(n, 6, random_state=0)
    splits = tuple(KFold(n_splits).split(X, y))
    candidates = tuple(skms.ParameterGrid(grid))
    model = Model("m", estimator, candidates, None)
    return Study(models=(model,), data=StudyData(X, y, splits))


def _plan(study: Study, n_workers: int) -> RefitTask | None:
    return plan_refit(study, 0, plan_units(study, n_workers), n_workers)


FOREST = RandomForestClassifier(random_state=0)
TREES = {"n_estimators": [25, 50, 100, 200]}


def test_a_forest_path_on_two_workers_refits_early() -> None:
    # 5 folds of 400 rows and 200 trees (cost 1 each) + the refit (500 rows: 1.25)
    # early: 3.25 rounds; after: 3 rounds + 1.25 / 2 workers = 3.625.
    refit = _plan(_study(FOREST, TREES), 2)
    assert refit == RefitTask(0, (0, 1, 2, 3), "forest_n_estimators")


def test_hgb_refits_early_where_a_forest_would_not() -> None:
    # 4 folds on 2 workers: 2 rounds. A forest's refit after them grows on both cores
    # (2 + 1.33/2 = 2.67 < early 3.0); HGB's gains little from OpenMP threads and is
    # counted as one core's (2 + 1.33 > 3.0; early_refit.py's docstring).
    assert _plan(_study(FOREST, TREES, n_splits=4), 2) is None
    hgb = HistGradientBoostingClassifier(random_state=0)
    assert _plan(_study(hgb, {"max_iter": [10, 20]}, n_splits=4), 2) is not None


def test_a_wide_pool_refits_after_the_search_on_every_core() -> None:
    # 8 workers and 5 folds: the planner cuts the paths in halves; the early refit
    # (1.25) would end after the longest fold (1.0) plus the refit on 8 cores.
    assert _plan(_study(FOREST, TREES), 8) is None


@pytest.mark.parametrize(
    ("estimator", "grid", "why"),
    [
        (FOREST, TREES, "one worker"),
        (FOREST, {"n_estimators": [5, 10], "max_depth": [2, None]}, "two paths"),
        (FOREST, {"max_depth": [2, None]}, "no path"),
        (
            RandomForestClassifier(oob_score=True, random_state=0),
            TREES,
            "oob_score_ reads all trees",
        ),
        (RandomForestClassifier(verbose=1, random_state=0), TREES, "verbose"),
        (RandomForestClassifier(), TREES, "no integer random_state"),
        (
            HistGradientBoostingClassifier(max_features=0.5, random_state=0),
            {"max_iter": [5, 10]},
            "the feature generator moves on per split",
        ),
        (GradientBoostingClassifier(random_state=0), TREES, "_rng moves on per stage"),
        (
            HistGradientBoostingClassifier(early_stopping=False),
            {"max_iter": [5, 10]},
            "seeds from the caller's global generator",
        ),
        (
            Pipeline([("s", StandardScaler()), ("rf", RandomForestClassifier(random_state=0))]),
            {"rf__n_estimators": [5, 10]},
            "a pipeline",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_refits_after_the_search_when(estimator: Any, grid: dict, why: str) -> None:
    n_workers = 1 if why == "one worker" else 2
    assert _plan(_study(estimator, grid), n_workers) is None


def test_nothing_left_to_run_means_no_early_refit() -> None:
    study = _study(FOREST, TREES)
    assert plan_refit(study, 0, [], 2) is None


# ----------------------------------------------------------------------------
# Searches: the early refit is scikit-learn's refit.
# ----------------------------------------------------------------------------

SEARCHES = {
    "forest-clf": (RandomForestClassifier(random_state=0), {"n_estimators": [4, 8, 30]}, "clf"),
    "extra-trees-reg-bootstrap": (
        ExtraTreesRegressor(random_state=1, bootstrap=True, max_samples=0.7),
        {"n_estimators": [3, 12]},
        "reg",
    ),
    "hgb-clf-early-stopping": (
        HistGradientBoostingClassifier(random_state=0, early_stopping=True, n_iter_no_change=2),
        {"max_iter": [3, 10, 60]},
        "clf",
    ),
    "hgb-reg-scorer-stopping": (
        HistGradientBoostingRegressor(
            random_state=0, early_stopping=True, scoring="r2", n_iter_no_change=2
        ),
        {"max_iter": [4, 40]},
        "reg",
    ),
    "hgb-reg-categorical": (
        HistGradientBoostingRegressor(
            categorical_features=[0], early_stopping=False, random_state=0
        ),
        {"max_iter": [5, 15]},
        "reg",
    ),
}


def _data(task: str, n: int = 360) -> tuple[np.ndarray, np.ndarray]:
    if task == "clf":
        return make_classification(n, 8, n_informative=5, n_classes=3, random_state=0)
    X, y = make_regression(n, 8, noise=5.0, random_state=0)
    X[:, 0] = np.random.RandomState(0).randint(0, 5, n)  # a categorical column
    return X, y


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS[1:], ids=BACKEND_IDS[1:])
@pytest.mark.parametrize("case", sorted(SEARCHES))
def test_early_refit_is_sklearns_refit(case: str, backend: str, n_jobs: int) -> None:
    estimator, grid, task = SEARCHES[case]
    X, y = _data(task)
    cv = 5  # 5 folds on 2 workers: the early refit shortens the run
    expected = skms.GridSearchCV(estimator, grid, cv=cv).fit(X, y)
    got = gridfold.GridSearchCV(estimator, grid, cv=cv, backend=backend, n_jobs=n_jobs).fit(X, y)
    assert got._refit_during_search
    assert got.best_params_ == expected.best_params_
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)
    assert got.refit_time_ > 0


def test_sequential_search_refits_after_it() -> None:
    X, y = _data("clf")
    got = gridfold.GridSearchCV(FOREST, TREES, cv=5, n_jobs=1).fit(X, y)
    assert not got._refit_during_search


def test_share_false_refits_after_the_search() -> None:
    X, y = _data("clf")
    search = gridfold.GridSearchCV(FOREST, {"n_estimators": [3, 6]}, cv=5, n_jobs=2, share=False)
    assert not search.fit(X, y)._refit_during_search


def test_every_refit_metric_picks_its_view() -> None:
    X, y = _data("clf")
    grid = {"n_estimators": [2, 5, 30]}
    kwargs: dict[str, Any] = {"scoring": ["accuracy", "neg_log_loss"], "refit": "neg_log_loss"}
    expected = skms.GridSearchCV(FOREST, grid, cv=5, **kwargs).fit(X, y)
    got = gridfold.GridSearchCV(FOREST, grid, cv=5, n_jobs=2, **kwargs).fit(X, y)
    assert got._refit_during_search and got.best_index_ == expected.best_index_
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


def test_randomized_search_refits_early() -> None:
    X, y = _data("reg")
    space = {"n_estimators": list(range(2, 30))}
    kwargs: dict[str, Any] = {"n_iter": 5, "random_state": 0, "cv": 5}
    est = ExtraTreesRegressor(random_state=0)
    expected = skms.RandomizedSearchCV(est, space, **kwargs).fit(X, y)
    got = gridfold.RandomizedSearchCV(est, space, n_jobs=2, **kwargs).fit(X, y)
    assert got._refit_during_search
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


def test_a_resumed_search_with_nothing_left_refits_after_it() -> None:
    X, y = _data("clf")
    store = gridfold.store.MemoryStore()
    first = gridfold.GridSearchCV(FOREST, TREES, cv=5, n_jobs=2, store=store).fit(X, y)
    again = gridfold.GridSearchCV(FOREST, TREES, cv=5, n_jobs=2, store=store).fit(X, y)
    assert first._refit_during_search and not again._refit_during_search
    assert_same_model(again.best_estimator_, first.best_estimator_, X)


# ----------------------------------------------------------------------------
# When the early refit goes wrong, or warns.
# ----------------------------------------------------------------------------


class WorkerKillingForest(RandomForestClassifier):
    """A forest whose fit on every row kills the gridfold worker process fitting it."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> WorkerKillingForest:
        if len(X) == len(_data("clf")[0]) and os.environ.get("GRIDFOLD_IN_WORKER") == "1":
            os._exit(7)
        return super().fit(X, y, sample_weight=sample_weight)


class _WorkerKillingForestPath(ForestPath):
    name = "test_worker_killing_forest"
    estimator_types = (WorkerKillingForest,)


# Registered when this module is imported: also in the worker that unpickles the forest.
register(_WorkerKillingForestPath())


def test_a_crashed_early_refit_is_done_after_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    planned: list[Any] = []

    def spy(*args: Any) -> Any:
        planned.append(early_refit.plan_refit(*args))
        return planned[-1]

    monkeypatch.setattr(gridfold.engine, "plan_refit", spy)
    X, y = _data("clf")
    est = WorkerKillingForest(random_state=0)
    got = gridfold.GridSearchCV(est, TREES, cv=5, n_jobs=2, backend="processes").fit(X, y)
    assert [type(p) for p in planned] == [RefitTask]  # planned, ran, and its worker died
    assert not got._refit_during_search
    expected = skms.GridSearchCV(RandomForestClassifier(random_state=0), TREES, cv=5).fit(X, y)
    np.testing.assert_array_equal(
        got.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(
        got.best_estimator_.predict_proba(X), expected.best_estimator_.predict_proba(X)
    )
    # The pool lost a worker and carries on.
    again = gridfold.GridSearchCV(FOREST, TREES, cv=5, n_jobs=2, backend="processes").fit(X, y)
    assert again._refit_during_search


def test_an_early_refit_that_raises_raises_again_where_sklearns_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []

    def spy(result: Any, candidate: int) -> Any:
        seen.append(result)
        return early_refit.take_refit(result, candidate)

    monkeypatch.setattr(gridfold.searchcv, "take_refit", spy)
    X, y = _data("clf")
    X = X.copy()
    X[0, 0] = np.inf  # the folds that train on row 0 fail; the one testing on it fits
    est = RandomForestClassifier(random_state=0)
    grid = {"n_estimators": [2, 5]}
    cv = KFold(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="infinity") as sk_error:
            skms.GridSearchCV(est, grid, cv=cv).fit(X, y)
        with pytest.raises(ValueError, match="infinity") as gf_error:
            gridfold.GridSearchCV(est, grid, cv=cv, n_jobs=2).fit(X, y)
    assert str(gf_error.value) == str(sk_error.value)
    (early,) = seen  # the early refit ran, failed, and the refit after the search raised
    assert early.estimators == () and "infinity" in early.error


def test_a_raising_fold_stops_the_early_refit_and_the_pool_carries_on() -> None:
    X, y = _data("clf")
    X = X.copy()
    X[0, 0] = np.inf  # folds that train on row 0 raise
    search = gridfold.GridSearchCV(
        FOREST, TREES, cv=KFold(5), n_jobs=2, backend="processes", error_score="raise"
    )
    with pytest.raises(ValueError, match="infinity"):
        search.fit(X, y)
    X, y = _data("clf")
    again = gridfold.GridSearchCV(FOREST, TREES, cv=5, n_jobs=2, backend="processes").fit(X, y)
    assert again._refit_during_search


def test_the_refit_has_no_time_limit_in_the_pool() -> None:
    from gridfold.executors.local import ProcessExecutor

    with ProcessExecutor(2, fit_timeout=5.0) as executor:
        assert executor.time_limit(RefitTask(0, (0, 1), "forest_n_estimators")) is None


def test_the_early_refits_warnings_reach_the_caller() -> None:
    X, y = _data("clf")
    column = y.reshape(-1, 1)  # forests warn about a column vector y
    est = RandomForestClassifier(random_state=0)
    cv = StratifiedKFold(5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = gridfold.GridSearchCV(est, TREES, cv=cv, n_jobs=2, backend="processes")
        got.fit(X, column)
    assert got._refit_during_search
    assert [w.category for w in caught] == [DataConversionWarning]  # the refit's, as sklearn's
    assert "column-vector y" in str(caught[0].message)


def test_replayed_warnings_follow_module_filters() -> None:
    X, y = _data("clf")
    column = y.reshape(-1, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DataConversionWarning, module="sklearn")
        got = gridfold.GridSearchCV(FOREST, TREES, cv=5, n_jobs=2, backend="processes")
        got.fit(X, column)
    assert got._refit_during_search
    assert not [w for w in caught if w.category is DataConversionWarning]


# ----------------------------------------------------------------------------
# More inputs: data frames, sample weights, a callable refit.
# ----------------------------------------------------------------------------


def test_data_frame_with_categories() -> None:
    pd = pytest.importorskip("pandas")
    X, y = _data("reg")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["f0"] = frame["f0"].astype(int).astype("category")
    est = HistGradientBoostingRegressor(
        categorical_features="from_dtype", early_stopping=False, random_state=0
    )
    grid = {"max_iter": [5, 20]}
    expected = skms.GridSearchCV(est, grid, cv=5).fit(frame, y)
    got = gridfold.GridSearchCV(est, grid, cv=5, n_jobs=2).fit(frame, y)
    assert got._refit_during_search
    assert list(got.feature_names_in_) == list(expected.feature_names_in_)
    assert_same_model(got.best_estimator_, expected.best_estimator_, frame)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS[1:], ids=BACKEND_IDS[1:])
def test_sample_weight_and_a_callable_refit(backend: str, n_jobs: int) -> None:
    X, y = _data("clf")
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))

    def fewest_trees(cv_results: dict) -> int:
        return 0

    kwargs: dict[str, Any] = {"cv": 5, "refit": fewest_trees}
    expected = skms.GridSearchCV(FOREST, TREES, **kwargs).fit(X, y, sample_weight=weights)
    got = gridfold.GridSearchCV(FOREST, TREES, backend=backend, n_jobs=n_jobs, **kwargs)
    got.fit(X, y, sample_weight=weights)
    assert got._refit_during_search and got.best_index_ == expected.best_index_ == 0
    assert_same_model(got.best_estimator_, expected.best_estimator_, X)


@pytest.mark.parametrize(
    ("fam", "estimator", "exact"),
    [
        (ForestPath(), RandomForestClassifier(random_state=0), True),
        (ForestPath(), RandomForestClassifier(random_state=0, oob_score=True), False),
        (ForestPath(), RandomForestClassifier(random_state=0, verbose=2), False),
        (HistGradientBoostingPath(), HistGradientBoostingClassifier(random_state=0), True),
        (HistGradientBoostingPath(), HistGradientBoostingClassifier(), False),
        (HistGradientBoostingPath(), HistGradientBoostingRegressor(random_state=np.int64(3)), True),
        (
            HistGradientBoostingPath(),
            HistGradientBoostingClassifier(random_state=0, max_features=0.9),
            False,
        ),
        (
            HistGradientBoostingPath(),
            HistGradientBoostingClassifier(random_state=0, verbose=1),
            False,
        ),
        (GradientBoostingPath(), GradientBoostingClassifier(random_state=0), False),
    ],
    ids=repr,
)
def test_refit_exact(fam: Any, estimator: Any, exact: bool) -> None:
    assert fam.refit_exact(estimator, [5, 10]) is exact
