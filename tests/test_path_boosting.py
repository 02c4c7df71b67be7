"""Gradient boosting paths (``n_estimators``, HGB ``max_iter``): bit-identical to separate fits.

Three layers: the family against separate fits (every prediction method and
the fitted score arrays, early stopping included); ``gridfold.GridSearchCV``
against scikit-learn's on random data and grids (the spy checks the path
really ran); and every condition the family cannot prove exact falling back.

HGB fits use OpenMP; both sides of every comparison run in this process at
the same thread count, capped at one here: on a loaded machine two spinning
OpenMP threads make these tiny fits several times slower.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import joblib
import numpy as np
import pytest
from conftest import assert_cv_results_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, check_scoring, make_scorer
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

import gridfold
from gridfold.sharing import plan_units
from gridfold.sharing.base import family
from gridfold.sharing.boosting import GradientBoostingPath, HistGradientBoostingPath
from gridfold.tasks import Model, SharedTask, Study, StudyData, Task
from gridfold.testing._asserts import assert_same_state

GB = GradientBoostingPath()
HGB = HistGradientBoostingPath()
CV = 3
HYPOTHESIS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PREDICT_METHODS = ("predict", "predict_proba", "decision_function")
FITTED_ARRAYS = (
    "n_estimators_",
    "n_iter_",
    "train_score_",
    "validation_score_",
    "oob_scores_",
    "oob_improvement_",
    "oob_score_",
)


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _data(seed: int, n: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` 0: regression; else labels balanced so every stratified fold has each."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    if classes == 0:
        return X, X @ rng.normal(size=4) + np.sin(3 * X[:, 0]) + rng.normal(scale=0.3, size=n)
    score = X @ rng.normal(size=4) + rng.normal(scale=0.5, size=n)
    return X, np.argsort(np.argsort(score)) * classes // n


def _ints(lo: int, hi: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(lo, hi), min_size=2, max_size=4, unique=True)


# ---------------------------------------------------------------------------
# The family against separate fits
# ---------------------------------------------------------------------------


def _assert_views_equal(fam: Any, est: Any, values: list[int], X: Any, y: Any, **fp: Any) -> None:
    """Views equal separate fits, and so do the views as a worker scores them
    (``scoring_views``: shared prefix sums), on three arrays asked for in turn."""
    assert fam.partition(est, values, len(y)) == [list(range(len(values)))]
    views = fam.fit_views(est, values, X, y, fp)
    scored = fam.scoring_views(fam.fit_views(est, values, X, y, fp))
    arrays = [X, X[::-1].copy(), X[: len(X) // 2]]
    for value, view, scoring in zip(values, views, scored, strict=True):
        ref = clone(est).set_params(**{fam.param: value}).fit(X, y, **fp)
        assert view.get_params() == ref.get_params()
        for method in PREDICT_METHODS:
            if hasattr(ref, method):
                got, expected = getattr(view, method)(X), getattr(ref, method)(X)
                np.testing.assert_array_equal(got, expected, err_msg=f"{value} {method}")
                for A in [*arrays, X]:  # more arrays than the cache keeps, then X again
                    got, expected = getattr(scoring, method)(A), getattr(ref, method)(A)
                    np.testing.assert_array_equal(
                        got, expected, err_msg=f"{value} {method} scoring view", strict=True
                    )
        for attr in FITTED_ARRAYS:
            if hasattr(ref, attr):
                got, expected = getattr(view, attr), getattr(ref, attr)
                np.testing.assert_array_equal(got, expected, err_msg=f"{value} {attr}")


GB_VIEW_CASES = {
    "subsample-max-features": GradientBoostingClassifier(
        random_state=0, subsample=0.7, max_features=2, max_depth=2
    ),
    "early-stop-classifier": GradientBoostingClassifier(
        random_state=1, n_iter_no_change=2, validation_fraction=0.3, learning_rate=0.8
    ),
    "early-stop-huber-oob": GradientBoostingRegressor(
        random_state=2, loss="huber", subsample=0.5, n_iter_no_change=3
    ),
    "init-zero": GradientBoostingRegressor(random_state=0, init="zero", max_depth=2),
}


@pytest.mark.parametrize("case", list(GB_VIEW_CASES))
def test_gb_views_equal_separate_fits(case: str) -> None:
    est = GB_VIEW_CASES[case]
    X, y = _data(0, 150, 3 if isinstance(est, GradientBoostingClassifier) else 0)
    _assert_views_equal(GB, est, [1, 4, 15, 60], X, y)


def test_gb_views_with_sample_weight() -> None:
    X, y = _data(1, 120, 2)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    est = GradientBoostingClassifier(random_state=0, subsample=0.8)
    _assert_views_equal(GB, est, [2, 9, 20], X, y, sample_weight=weights)


def test_gb_early_stopping_stops_between_values() -> None:
    """The case the min(k, stop) rule is for: the longest run stops before its end."""
    X, y = _data(0, 150, 3)
    est = GB_VIEW_CASES["early-stop-classifier"]
    views = GB.fit_views(est, [1, 4, 60], X, y, {})
    assert views[-1].n_estimators_ < 60
    assert [v.n_estimators_ for v in views[:2]] == [1, 4]


HGB_VIEW_CASES = {
    "plain-multiclass": HistGradientBoostingClassifier(min_samples_leaf=5),
    "feature-subsampling": HistGradientBoostingClassifier(
        random_state=0, max_features=0.5, min_samples_leaf=5
    ),
    "early-stop-loss": HistGradientBoostingClassifier(
        random_state=0, early_stopping=True, n_iter_no_change=2, min_samples_leaf=5
    ),
    # Predefined scorers patch ``_raw_predict`` on the instance during fit.
    "early-stop-scorer": HistGradientBoostingClassifier(
        random_state=0, early_stopping=True, scoring="accuracy", n_iter_no_change=3
    ),
    "early-stop-default-score": HistGradientBoostingRegressor(
        random_state=3, early_stopping=True, scoring=None, n_iter_no_change=2
    ),
    "early-stop-on-train": HistGradientBoostingRegressor(
        random_state=1, early_stopping=True, validation_fraction=None, n_iter_no_change=2, tol=1e-3
    ),
    "regressor-poisson": HistGradientBoostingRegressor(loss="poisson", min_samples_leaf=5),
}


@pytest.mark.parametrize("case", list(HGB_VIEW_CASES))
def test_hgb_views_equal_separate_fits(case: str) -> None:
    est = HGB_VIEW_CASES[case]
    X, y = _data(0, 300, 3 if isinstance(est, HistGradientBoostingClassifier) else 0)
    if case == "regressor-poisson":
        y = np.exp(y / 4)
    _assert_views_equal(HGB, est, [1, 3, 10, 80], X, y)


def test_hgb_views_with_validation_data_and_weights() -> None:
    X, y = _data(2, 300, 2)
    est = HistGradientBoostingClassifier(random_state=0, early_stopping=True, n_iter_no_change=2)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, 200)
    _assert_views_equal(
        HGB, est, [2, 5, 60], X[:200], y[:200], sample_weight=weights, X_val=X[200:], y_val=y[200:]
    )


def test_hgb_scoring_views_add_each_tree_once_per_array(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data(0, 300, 3)
    est = HistGradientBoostingClassifier(early_stopping=False, min_samples_leaf=5)
    views = HGB.scoring_views(HGB.fit_views(est, [5, 10, 40], X, y, {}))
    added: list[int] = []
    original = HistGradientBoostingClassifier._predict_iterations

    def counting(self: Any, X: Any, predictors: Any, *args: Any) -> None:
        added.append(len(predictors))
        original(self, X, predictors, *args)

    monkeypatch.setattr(HistGradientBoostingClassifier, "_predict_iterations", counting)
    train = X[:100]
    for view in views:  # as a worker scores them: test part, then train part, per view
        view.predict_proba(X)
        view.decision_function(train)
    assert sum(added) == 40 + 40  # each array: 40 trees, not 5 + 10 + 40
    added.clear()
    views[2].predict(X)  # asked again: nothing left to add
    shorter = views[0].predict_proba(X)  # shorter than the running sum: its own 5 trees
    assert added == [0, 5]
    monkeypatch.undo()
    expected = clone(est).set_params(max_iter=5).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(shorter, expected, strict=True)


def test_hgb_scoring_time_is_shared_by_its_views() -> None:
    X, y = _data(0, 300, 3)
    est = HistGradientBoostingClassifier(early_stopping=False, random_state=0)
    search = gridfold.GridSearchCV(est, {"max_iter": [5, 20, 60]}, cv=CV).fit(X, y)
    score = search.cv_results_["mean_score_time"]
    assert (score > 0).all() and np.allclose(score, score[0])


@pytest.mark.parametrize("case", ["plain-multiclass", "early-stop-scorer", "regressor-poisson"])
def test_hgb_fit_does_not_depend_on_the_thread_count(case: str) -> None:
    """What a refit in a one-thread worker rests on (``boosting.py`` docstring): the
    same model, attribute for attribute, at every thread count from 1 to 4 that OpenMP
    grants here (at least 1 and 2 on a machine with two cores)."""
    est = HGB_VIEW_CASES[case]
    X, y = _data(4, 2000, 3 if isinstance(est, HistGradientBoostingClassifier) else 0)
    if case == "regressor-poisson":
        y = np.exp(y / 4)
    fits, granted = [], []
    for threads in (1, 2, 3, 4):
        with threadpool_limits(limits=threads, user_api="openmp"):
            granted.append(_openmp_effective_n_threads())
            fits.append(clone(est).set_params(max_iter=30, random_state=0).fit(X, y))
    assert [m._bin_mapper.n_threads for m in fits] == granted  # each fit used what it was given
    if joblib.cpu_count() >= 2:
        assert len(set(granted)) >= 2
    for model in fits[1:]:
        model._bin_mapper.n_threads = fits[0]._bin_mapper.n_threads  # recorded, not used to fit
        assert_same_state(model, fits[0])
        for method in PREDICT_METHODS:
            if hasattr(model, method):
                got, expected = getattr(model, method)(X), getattr(fits[0], method)(X)
                np.testing.assert_array_equal(got, expected, strict=True)


def test_hgb_scorer_early_stopping_stops_between_values() -> None:
    X, y = _data(0, 300, 3)
    views = HGB.fit_views(HGB_VIEW_CASES["early-stop-scorer"], [2, 80], X, y, {})
    assert 2 < views[1].n_iter_ < 80
    assert views[0].n_iter_ == 2


# ---------------------------------------------------------------------------
# gridfold's search against scikit-learn's
# ---------------------------------------------------------------------------


@contextmanager
def _spy(fam_type: Any) -> Iterator[mock.MagicMock]:
    with mock.patch.object(
        fam_type, "fit_views", autospec=True, side_effect=fam_type.fit_views
    ) as spy:
        yield spy


def _compare(estimator: Any, grid: dict[str, list[Any]], X: Any, y: Any, train_score: bool) -> None:
    fam = GB if GB.matches(estimator) else HGB
    kwargs: dict[str, Any] = {"cv": CV, "n_jobs": 1, "return_train_score": train_score}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fit may fail alike on both sides
        ref = SkGridSearchCV(estimator, grid, **kwargs).fit(X, y)
        with _spy(type(fam)) as spy:
            ours = gridfold.GridSearchCV(estimator, grid, share=True, **kwargs).fit(X, y)
    n_groups = len(ref.cv_results_["params"]) // len(grid[fam.param])
    assert spy.call_count == CV * n_groups  # one shared fit per group and split
    keys = ["mean_test_score", "rank_test_score", *(f"split{i}_test_score" for i in range(CV))]
    if train_score:
        keys += ["mean_train_score", *(f"split{i}_train_score" for i in range(CV))]
    for key in keys:
        np.testing.assert_array_equal(ours.cv_results_[key], ref.cv_results_[key], err_msg=key)
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert ours.best_params_ == ref.best_params_
    assert ours.best_index_ == ref.best_index_


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(45, 90),
    classes=st.sampled_from([0, 2, 3]),
    values=_ints(1, 25),
    depths=st.sampled_from([[1], [1, 3]]),
    subsample=st.sampled_from([1.0, 0.6]),
    max_features=st.sampled_from([None, 2]),
    early=st.sampled_from([None, 2]),
    random_state=st.integers(0, 100),
    train_score=st.booleans(),
)
def test_gb_search_equals_sklearn(
    seed: int,
    n: int,
    classes: int,
    values: list[int],
    depths: list[int],
    subsample: float,
    max_features: int | None,
    early: int | None,
    random_state: int,
    train_score: bool,
) -> None:
    X, y = _data(seed, n, classes)
    cls = GradientBoostingRegressor if classes == 0 else GradientBoostingClassifier
    est = cls(
        subsample=subsample,
        max_features=max_features,
        n_iter_no_change=early,
        validation_fraction=0.25,
        learning_rate=0.5,
        random_state=random_state,
    )
    _compare(est, {"n_estimators": values, "max_depth": depths}, X, y, train_score)


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(60, 120),
    classes=st.sampled_from([0, 2, 3]),
    values=_ints(1, 30),
    rates=st.sampled_from([[0.3], [0.1, 0.5]]),
    early=st.sampled_from([False, "loss", "named", None]),
    max_features=st.sampled_from([1.0, 0.5]),
    random_state=st.integers(0, 100),
    train_score=st.booleans(),
)
def test_hgb_search_equals_sklearn(
    seed: int,
    n: int,
    classes: int,
    values: list[int],
    rates: list[float],
    early: str | bool | None,
    max_features: float,
    random_state: int,
    train_score: bool,
) -> None:
    X, y = _data(seed, n, classes)
    cls = HistGradientBoostingRegressor if classes == 0 else HistGradientBoostingClassifier
    scoring = {"loss": "loss", "named": "accuracy" if classes else "r2", None: None}
    est = cls(
        min_samples_leaf=5,
        max_features=max_features,
        early_stopping=early is not False,
        scoring=scoring.get(early, "loss"),  # type: ignore[arg-type]
        n_iter_no_change=2,
        random_state=random_state,
    )
    _compare(est, {"max_iter": values, "learning_rate": rates}, X, y, train_score)


# ---------------------------------------------------------------------------
# Conditions that cannot be proven exact fall back
# ---------------------------------------------------------------------------

VALUES = [5, 10, 20]


@pytest.mark.parametrize(
    "est",
    [
        GradientBoostingClassifier(),  # random_state=None: the trees draw from it
        GradientBoostingRegressor(random_state=np.random.RandomState(0)),
        GradientBoostingClassifier(random_state=0, init=DummyClassifier()),
        GradientBoostingRegressor(random_state=0, init=LinearRegression()),
    ],
    ids=["gb-no-seed", "gb-randomstate", "gb-init-clf", "gb-init-reg"],
)
def test_gb_falls_back(est: Any) -> None:
    assert GB.partition(est, VALUES, 100) == []


def _scorer_callable(est: Any, X: Any, y: Any) -> float:
    return float(accuracy_score(y, est.predict(X)))


@pytest.mark.parametrize(
    ("est", "n_train"),
    [
        (HistGradientBoostingClassifier(early_stopping=True), 100),
        (HistGradientBoostingClassifier(early_stopping="auto"), 10_001),
        (HistGradientBoostingRegressor(max_features=0.5), 100),
        (HistGradientBoostingRegressor(early_stopping=False), 200_001),  # binning subsample
        (
            HistGradientBoostingClassifier(random_state=np.random.RandomState(0), max_features=0.9),
            100,
        ),
        (HistGradientBoostingClassifier(random_state=0, scoring=_scorer_callable), 20_000),
        (
            HistGradientBoostingClassifier(
                random_state=0, early_stopping=True, scoring=make_scorer(accuracy_score)
            ),
            100,
        ),
    ],
    ids=[
        "early-no-seed",
        "auto-early-no-seed",
        "feature-subsample-no-seed",
        "binning-subsample-no-seed",
        "randomstate-instance",
        "auto-early-callable-scorer",
        "early-callable-scorer",
    ],
)
def test_hgb_falls_back(est: Any, n_train: int) -> None:
    assert HGB.partition(est, VALUES, n_train) == []


@pytest.mark.parametrize(
    ("est", "n_train"),
    [
        (HistGradientBoostingClassifier(), 10_000),  # 'auto' stays off: no draw is used
        (HistGradientBoostingRegressor(early_stopping=False, scoring=_scorer_callable), 50_000),
        (HistGradientBoostingClassifier(random_state=0, early_stopping="auto"), 50_000),
        (HistGradientBoostingClassifier(random_state=0, max_features=0.3), 100),
    ],
    ids=["auto-off-no-seed", "no-early-callable-unused", "auto-on-seeded", "subsample-seeded"],
)
def test_hgb_shares(est: Any, n_train: int) -> None:
    assert HGB.partition(est, VALUES, n_train) == [[0, 1, 2]]


@pytest.mark.parametrize("fam", [GB, HGB], ids=["gb", "hgb"])
def test_invalid_values_are_fitted_alone(fam: Any) -> None:
    est = fam.estimator_types[0](random_state=0)
    assert fam.partition(est, [0, 5, 2.5, True, 10, -1, np.int64(7)], 100) == [[1, 4, 6]]
    assert fam.partition(est, [5, 0], 100) == []


def test_gb_monitor_fits_each_value_separately() -> None:
    X, y = _data(0, 80, 2)
    calls: list[int] = []

    def monitor(i: int, est: Any, local: Any) -> bool:
        calls.append(i)
        return False

    views = GB.fit_views(
        GradientBoostingClassifier(random_state=0), [3, 5], X, y, {"monitor": monitor}
    )
    assert [v.n_estimators_ for v in views] == [3, 5]
    assert calls == [0, 1, 2, 0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------


def _units(est: Any, values: list[int], param: str, n: int = 60) -> list[Any]:
    X, y = _data(0, n, 2)
    splits = tuple(KFold(CV).split(X))
    candidates = tuple({param: v} for v in values)
    model = Model("m", est, candidates, check_scoring(est))
    return plan_units(Study((model,), StudyData(X, y, splits)), n_workers=1)


@pytest.mark.parametrize(
    ("est", "param", "kind"),
    [
        (GradientBoostingClassifier(random_state=0), "n_estimators", GB.name),
        (GradientBoostingRegressor(random_state=0, n_iter_no_change=3), "n_estimators", GB.name),
        (HistGradientBoostingClassifier(), "max_iter", HGB.name),
        (HistGradientBoostingRegressor(random_state=0, early_stopping=True), "max_iter", HGB.name),
    ],
)
def test_planner_shares(est: Any, param: str, kind: str) -> None:
    units = _units(est, VALUES, param)
    assert units == [SharedTask(0, (0, 1, 2), s, kind) for s in range(CV)]
    assert isinstance(family(kind), type(GB) if kind == GB.name else type(HGB))


@pytest.mark.parametrize(
    ("est", "param"),
    [
        (GradientBoostingClassifier(), "n_estimators"),
        (HistGradientBoostingClassifier(early_stopping=True), "max_iter"),
    ],
)
def test_planner_falls_back_to_plain_tasks(est: Any, param: str) -> None:
    units = _units(est, VALUES, param)
    assert sorted(units) == sorted(Task(0, c, s) for c in range(3) for s in range(CV))
