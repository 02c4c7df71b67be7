"""The shared-work framework: planner, units, fallbacks, and the forest path family."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold, ParameterGrid
from sklearn.svm import SVC

import gridfold
from gridfold.sharing.forest import ForestPath
from gridfold.sharing.planner import plan_units
from gridfold.tasks import Model, SharedTask, Study, StudyData, Task

KEYS = ("mean_test_score", "std_test_score", "rank_test_score", "split0_test_score")


def assert_same_as_sklearn(est: Any, grid: Any, X: Any, y: Any, **kw: Any) -> Any:
    with warnings.catch_warnings(record=True) as sk_warn:
        warnings.simplefilter("always")
        sk = SkGridSearchCV(est, grid, **kw).fit(X, y)
    with warnings.catch_warnings(record=True) as gf_warn:
        warnings.simplefilter("always")
        gf = gridfold.GridSearchCV(est, grid, share=True, n_jobs=1, **kw).fit(X, y)
    keys = [k for k in sk.cv_results_ if "_score" in k and "time" not in k]
    assert set(KEYS) <= set(keys) | {"std_test_score"}
    for key in keys:
        np.testing.assert_array_equal(gf.cv_results_[key], sk.cv_results_[key], err_msg=key)
    assert gf.best_params_ == sk.best_params_
    assert failures(gf_warn) == failures(sk_warn)
    return gf


def failures(caught: list[Any]) -> list[str]:
    # scikit-learn calls _fit_and_score with a callback context, gridfold without:
    # the tracebacks differ in line numbers only.
    messages = [str(w.message) for w in caught if "fits failed" in str(w.message)]
    return [re.sub(r"line \d+", "line N", m) for m in messages]


def study_for(est: Any, grid: Any, X: Any, y: Any, n_splits: int = 3) -> Study:
    candidates = tuple(ParameterGrid(grid))
    splits = tuple(KFold(n_splits).split(X, y))
    return Study((Model("m", est, candidates, check_scoring(est)),), StudyData(X, y, splits))


FORESTS = [RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, ExtraTreesRegressor]


@settings(max_examples=12, deadline=None)
@given(
    forest=st.sampled_from(FORESTS),
    seed=st.integers(0, 2**31 - 1),
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4, unique=True),
    max_features=st.sampled_from([["sqrt"], [0.5, 1.0], [None]]),
    bootstrap=st.booleans(),
)
def test_forest_path_equals_sklearn(
    forest: Any, seed: int, sizes: list[int], max_features: list[Any], bootstrap: bool
) -> None:
    maker = make_classification if is_classifier(forest()) else make_regression
    X, y = maker(n_samples=80, n_features=6, random_state=seed % 1000)
    est = forest(random_state=seed, bootstrap=bootstrap)
    grid = {"n_estimators": sizes, "max_features": max_features}
    assert_same_as_sklearn(est, grid, X, y, cv=3, return_train_score=True)


def test_forest_path_is_planned() -> None:
    X, y = make_classification(60, 5, random_state=0)
    est = RandomForestClassifier(random_state=0)
    study = study_for(est, {"n_estimators": [2, 4, 8], "max_depth": [2, 3]}, X, y)
    units = plan_units(study, n_workers=1)
    shared = [u for u in units if isinstance(u, SharedTask)]
    assert len(shared) == 2 * 3 and {u.kind for u in shared} == {ForestPath.name}
    assert all(len(u.candidates) == 3 for u in shared)
    assert not [u for u in units if isinstance(u, Task)]


@pytest.mark.parametrize(
    "est",
    [
        RandomForestClassifier(random_state=None),
        RandomForestClassifier(random_state=np.random.RandomState(0)),
        RandomForestClassifier(random_state=0, n_jobs=2),
    ],
    ids=["no-seed", "RandomState", "n_jobs=2"],
)
def test_forest_path_falls_back(est: Any) -> None:
    X, y = make_classification(60, 5, random_state=0)
    study = study_for(est, {"n_estimators": [2, 4]}, X, y)
    assert all(isinstance(u, Task) for u in plan_units(study, n_workers=1))


def test_share_false_plans_plain_tasks() -> None:
    X, y = make_classification(60, 5, random_state=0)
    study = study_for(RandomForestClassifier(random_state=0), {"n_estimators": [2, 4]}, X, y)
    assert plan_units(study, 1, share=False) == list(study.tasks())


def test_plain_estimators_plan_plain_tasks() -> None:
    X, y = make_classification(60, 5, random_state=0)
    study = study_for(SVC(), {"C": [1, 2, 3]}, X, y)
    assert plan_units(study, 4) == list(study.tasks())


def test_units_are_cut_when_workers_would_idle() -> None:
    X, y = make_classification(60, 5, random_state=0)
    est = RandomForestClassifier(random_state=0)
    study = study_for(est, {"n_estimators": [1, 2, 3, 4, 5, 6, 7, 8]}, X, y, n_splits=2)
    assert len(plan_units(study, n_workers=1)) == 2
    wide = plan_units(study, n_workers=8)
    assert len(wide) >= 8
    covered = sorted((t.candidate, t.split) for u in wide for t in u.tasks())  # type: ignore[union-attr]
    assert covered == sorted((c, s) for c in range(8) for s in range(2))


def test_failing_shared_fit_falls_back_to_each_candidates_own_error() -> None:
    # max_features=0 fails in fit: every candidate records it as sklearn does.
    X, y = make_classification(60, 5, random_state=0)
    est = RandomForestClassifier(random_state=0)
    grid = {"n_estimators": [2, 4], "max_features": [2, 0]}
    gf = assert_same_as_sklearn(est, grid, X, y, cv=3)
    assert np.isnan(gf.cv_results_["mean_test_score"]).sum() == 2


@pytest.mark.parametrize(("backend", "n_jobs"), [("threads", 2), ("processes", 2)])
def test_shared_units_run_on_every_executor(backend: str, n_jobs: int) -> None:
    X, y = make_classification(80, 5, random_state=0)
    est = RandomForestClassifier(random_state=3)
    grid = {"n_estimators": [3, 6, 9]}
    sk = SkGridSearchCV(est, grid, cv=4).fit(X, y)
    gf = gridfold.GridSearchCV(est, grid, cv=4, n_jobs=n_jobs, backend=backend).fit(X, y)
    np.testing.assert_array_equal(
        gf.cv_results_["mean_test_score"], sk.cv_results_["mean_test_score"]
    )


def test_shared_time_is_attributed_to_every_candidate() -> None:
    X, y = make_classification(200, 8, random_state=0)
    est = RandomForestClassifier(random_state=0)
    gf = gridfold.GridSearchCV(est, {"n_estimators": [5, 10, 40]}, cv=3).fit(X, y)
    fit = gf.cv_results_["mean_fit_time"]
    score = gf.cv_results_["mean_score_time"]
    assert (fit > 0).all() and (score > 0).all()
    # Shared fit time is split equally; scoring 40 trees takes longer than 5.
    assert np.allclose(fit, fit[0]) and score[2] > score[0]


def test_unhashable_settings_are_not_shared_but_still_run() -> None:
    # joblib.hash cannot pickle a lambda: such candidates simply fit on their own.
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = make_classification(60, 5, random_state=0)
    pipe = make_pipeline(FunctionTransformer(), KNeighborsClassifier())
    grid = {
        "functiontransformer__func": [lambda a: a, lambda a: 2 * a],
        "kneighborsclassifier__n_neighbors": [1, 3],
    }
    assert_same_as_sklearn(pipe, grid, X, y, cv=3)
    knn = {"weights": [lambda d: 1 / (1 + d)], "n_neighbors": [1, 3]}
    assert_same_as_sklearn(KNeighborsClassifier(), knn, X, y, cv=3)


def test_pipeline_that_changes_its_input_in_place_is_not_shared() -> None:
    # scikit-learn scores train scores on the array a copy=False step changed in fit.
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(90, 6, random_state=0)
    pipe = Pipeline([("s", StandardScaler(copy=False)), ("c", KNeighborsClassifier())])
    grid = {"c__n_neighbors": [1, 3]}
    assert all(isinstance(u, Task) for u in plan_units(study_for(pipe, grid, X, y), 1))
    assert_same_as_sklearn(pipe, grid, X * 5 + 3, y, cv=3, return_train_score=True, refit=False)


def test_pipeline_with_fit_params_is_not_shared() -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(60, 5, random_state=0)
    pipe = Pipeline([("s", StandardScaler()), ("c", SVC())])
    grid = {"c__C": [1.0, 2.0]}
    study = study_for(pipe, grid, X, y)
    assert any(isinstance(u, SharedTask) for u in plan_units(study, 1))
    weighted = Study(study.models, StudyData(X, y, study.data.splits, {"c__sample_weight": y + 1}))
    assert all(isinstance(u, Task) for u in plan_units(weighted, 1))
