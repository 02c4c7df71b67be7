"""Pipelines evaluated as a trie of step settings give scikit-learn's results.

Independent of transformer paths: every distinct prefix is fitted once per
split and its transforms reused, and the search's ``cv_results_``,
``best_params_`` and warnings must still be scikit-learn's, on the sequential
and the processes executor, with ``share=True`` and ``share=False``.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import assert_cv_results_equal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

import gridfold
from gridfold.sharing.evaluate import _PipelineEvaluator

BACKENDS = [("sequential", 1), ("processes", 2)]
CV = StratifiedKFold(3, shuffle=True, random_state=0)


class Fragile(TransformerMixin, BaseEstimator):
    """Scales by ``factor``; fails to fit when ``fail_fit``, to transform new data when
    ``fail_transform`` (its ``fit_transform`` on the training part still works)."""

    def __init__(self, factor: float = 1.0, fail_fit: bool = False, fail_transform: bool = False):
        self.factor = factor
        self.fail_fit = fail_fit
        self.fail_transform = fail_transform

    def fit(self, X: Any, y: Any = None) -> Fragile:
        if self.fail_fit:
            raise ValueError(f"Fragile cannot fit with factor={self.factor}")
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X: Any) -> Any:
        if self.fail_transform:
            raise ArithmeticError("Fragile cannot transform unseen data")
        return np.asarray(X) * self.factor

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        return np.asarray(self.fit(X, y) and X) * self.factor


class CountingScaler(StandardScaler):
    """A StandardScaler that counts its fits (in this process)."""

    fits = 0

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> CountingScaler:
        CountingScaler.fits += 1
        return super().fit(X, y, sample_weight)


_FIT_AND_SCORE_LINE = re.compile(r"line \d+, in _fit_and_score")


def _data(n_samples: int = 90, n_features: int = 5, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.randn(n_samples) > 0).astype(int)
    return X, y


def _relevant(caught: list[warnings.WarningMessage]) -> list[tuple[str, str]]:
    """The warnings a search itself issues (fit failures, non-finite scores).

    Line numbers of ``_fit_and_score`` in tracebacks are dropped: scikit-learn 1.9's
    search passes a callback context and fails on the ``fit`` call in that branch,
    gridfold's passes none and fails on the same call in the other branch.
    """
    return sorted(
        (w.category.__name__, _FIT_AND_SCORE_LINE.sub("_fit_and_score", str(w.message)))
        for w in caught
        if w.category is FitFailedWarning or "non-finite" in str(w.message)
    )


def _compare(
    estimator: Any,
    grid: Any,
    X: Any,
    y: Any,
    backend: str,
    n_jobs: int,
    ref_threads: int | None = None,
    **kwargs: Any,
) -> Any:
    """Fit scikit-learn's and gridfold's (share=True and False) searches; all must agree.

    ``ref_threads`` limits scikit-learn's BLAS/OpenMP threads as gridfold's workers are
    limited (and as joblib limits scikit-learn's own workers at the same ``n_jobs``).
    """
    kwargs.setdefault("cv", CV)
    with warnings.catch_warnings(record=True) as ref_caught, threadpool_limits(ref_threads):
        warnings.simplefilter("always")
        ref = SkGridSearchCV(estimator, grid, n_jobs=1, **kwargs).fit(X, y)
    for share in (True, False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = gridfold.GridSearchCV(
                estimator, grid, backend=backend, n_jobs=n_jobs, share=share, **kwargs
            ).fit(X, y)
        assert _relevant(caught) == _relevant(ref_caught)
        assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
        assert ours.best_index_ == ref.best_index_
        assert ours.best_params_ == ref.best_params_
        fit_times = ours.cv_results_["mean_fit_time"]
        assert (fit_times > 0).all() and fit_times.sum() > 0
        if share:
            shared = ours
    return shared


parametrize_backends = pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS)


# ---------------------------------------------------------------------------
# Shapes of pipelines and grids
# ---------------------------------------------------------------------------


@parametrize_backends
def test_two_step_grid_over_both_steps(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = make_pipeline(StandardScaler(), SVC())
    grid = {"standardscaler__with_mean": [True, False], "svc__C": [0.1, 1.0, 10.0]}
    _compare(pipeline, grid, X, y, backend, n_jobs, return_train_score=True)


@parametrize_backends
def test_four_step_grid_over_three_steps(backend: str, n_jobs: int) -> None:
    X, y = _data(n_features=4)
    pipeline = make_pipeline(
        MinMaxScaler(), PolynomialFeatures(), StandardScaler(), LogisticRegression(max_iter=500)
    )
    grid = {
        "polynomialfeatures__degree": [1, 2],
        "standardscaler__with_std": [True, False],
        "logisticregression__C": [0.1, 1.0],
    }
    _compare(pipeline, grid, X, y, backend, n_jobs, return_train_score=True)


@parametrize_backends
def test_final_step_replaced_by_candidates(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", SVC())])
    grid = [
        {"scale__with_mean": [True, False], "clf": [SVC(), LogisticRegression()]},
        {"clf": [KNeighborsClassifier()], "clf__n_neighbors": [3, 5, 7]},
    ]
    _compare(pipeline, grid, X, y, backend, n_jobs)


@parametrize_backends
def test_intermediate_step_replaced_and_passthrough(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = Pipeline([("scale", StandardScaler()), ("reduce", PCA()), ("clf", SVC())])
    grid = {
        "scale": [StandardScaler(), MinMaxScaler(), "passthrough"],
        "reduce": ["passthrough", PCA(n_components=2), None],
        "clf__C": [0.5, 2.0],
    }
    _compare(pipeline, grid, X, y, backend, n_jobs, return_train_score=True)


@parametrize_backends
def test_passthrough_steps_in_the_pipeline(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = Pipeline([("none", None), ("scale", "passthrough"), ("pca", PCA()), ("clf", SVC())])
    grid = {"pca__n_components": [2, 4], "clf__C": [0.5, 2.0]}
    _compare(pipeline, grid, X, y, backend, n_jobs)


@parametrize_backends
def test_nested_pipeline_step(backend: str, n_jobs: int) -> None:
    X, y = _data()
    inner = Pipeline([("scale", StandardScaler()), ("pca", PCA())])
    pipeline = Pipeline([("prep", inner), ("clf", SVC())])
    grid = {
        "prep__scale__with_std": [True, False],
        "prep__pca__n_components": [2, 3],
        "clf__C": [0.5, 2.0],
    }
    _compare(pipeline, grid, X, y, backend, n_jobs, return_train_score=True)


@parametrize_backends
def test_column_transformer_on_a_dataframe(backend: str, n_jobs: int) -> None:
    X, y = _data(n_features=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["colour"] = np.array(["red", "green", "blue"])[np.arange(len(X)) % 3]
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b", "c"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    pipeline = Pipeline([("columns", columns), ("clf", LogisticRegression())])
    grid = {
        "columns__num__with_mean": [True, False],
        "columns__cat": [OneHotEncoder(), "drop"],
        "clf__C": [0.1, 1.0],
    }
    _compare(pipeline, grid, frame, pd.Series(y), backend, n_jobs)


@parametrize_backends
def test_unsupervised_pipeline_without_y(backend: str, n_jobs: int) -> None:
    X, _ = _data()
    pipeline = make_pipeline(StandardScaler(), KMeans(n_init=2, random_state=0))
    grid = {"standardscaler__with_std": [True, False], "kmeans__n_clusters": [2, 3, 4]}
    # KMeans sums its inertia per OpenMP thread: its score depends on the thread count,
    # which gridfold limits to one per worker on two cores (as loky does for sklearn).
    threads = 1 if n_jobs > 1 else None
    _compare(pipeline, grid, X, None, backend, n_jobs, threads, cv=KFold(3), scoring=None)
    pipeline = make_pipeline(StandardScaler(), PCA())  # PCA.score: mean log-likelihood
    grid = {"standardscaler__with_std": [True, False], "pca__n_components": [1, 2, 4]}
    _compare(pipeline, grid, X, None, backend, n_jobs, cv=KFold(3), scoring=None)


@parametrize_backends
def test_regression_pipeline_with_several_scorers(backend: str, n_jobs: int) -> None:
    X, _ = _data()
    y = X @ np.arange(5.0) + np.random.RandomState(1).randn(len(X))
    pipeline = make_pipeline(PolynomialFeatures(), StandardScaler(), Ridge())
    grid = {"polynomialfeatures__degree": [1, 2], "ridge__alpha": [0.1, 1.0, 10.0]}
    scoring = ["r2", "neg_mean_squared_error"]
    _compare(
        pipeline,
        grid,
        X,
        y,
        backend,
        n_jobs,
        cv=KFold(3),
        scoring=scoring,
        refit="r2",
        return_train_score=True,
    )


@parametrize_backends
def test_pipeline_level_params_fall_back(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = make_pipeline(StandardScaler(), SVC())
    grid = {"memory": [None], "verbose": [False], "svc__C": [0.5, 2.0]}
    _compare(pipeline, grid, X, y, backend, n_jobs)


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


@parametrize_backends
def test_intermediate_step_failing_for_some_candidates(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = Pipeline([("fragile", Fragile()), ("scale", StandardScaler()), ("clf", SVC())])
    grid = {
        "fragile__fail_fit": [False, True],
        "fragile__factor": [1.0, 2.0],
        "clf__C": [0.5, 2.0],
    }
    _compare(pipeline, grid, X, y, backend, n_jobs, return_train_score=True)


@parametrize_backends
def test_pca_path_failing_for_some_values(backend: str, n_jobs: int) -> None:
    X, y = _data(n_features=5)
    pipeline = make_pipeline(StandardScaler(), PCA(), SVC())
    grid = {"pca__n_components": [2, 3, 50], "svc__C": [0.5, 2.0]}  # 50 > 5 features
    _compare(pipeline, grid, X, y, backend, n_jobs)


@parametrize_backends
def test_intermediate_step_failing_on_test_data(backend: str, n_jobs: int) -> None:
    # Pipeline.fit succeeds (fit_transform); scoring fails in transform: scikit-learn
    # records error_score for that candidate's test score and warns.
    X, y = _data()
    pipeline = Pipeline([("fragile", Fragile()), ("clf", SVC())])
    grid = {"fragile__fail_transform": [False, True], "clf__C": [0.5, 2.0]}
    _compare(pipeline, grid, X, y, backend, n_jobs)


def test_step_that_transforms_in_place() -> None:
    X, y = _data()
    pipeline = Pipeline([("scale", StandardScaler(copy=False)), ("clf", SVC())])
    grid = {"scale__with_std": [True, False], "clf__C": [0.5, 2.0]}
    # refit=False: the refit itself (copy=False) would centre the caller's X in place,
    # and the next search would see other data than the first.
    _compare(pipeline, grid, X * 3 + 5, y, "sequential", 1, refit=False)


@parametrize_backends
def test_error_score_raise(backend: str, n_jobs: int) -> None:
    X, y = _data()
    pipeline = Pipeline([("fragile", Fragile()), ("clf", SVC())])
    grid = {"fragile__fail_fit": [False, True], "clf__C": [0.5, 2.0]}
    message = re.escape("Fragile cannot fit with factor=1.0")
    with pytest.raises(ValueError, match=message):
        SkGridSearchCV(pipeline, grid, cv=CV, error_score="raise").fit(X, y)
    for share in (True, False):
        with pytest.raises(ValueError, match=message):
            gridfold.GridSearchCV(
                pipeline,
                grid,
                cv=CV,
                error_score="raise",
                backend=backend,
                n_jobs=n_jobs,
                share=share,
            ).fit(X, y)


def test_all_candidates_failing_raises_like_sklearn() -> None:
    X, y = _data()
    pipeline = make_pipeline(StandardScaler(), PCA(), SVC())
    grid = {"pca__n_components": [40, 50], "svc__C": [0.5, 2.0]}
    with pytest.raises(ValueError) as ref:
        SkGridSearchCV(pipeline, grid, cv=CV).fit(X, y)
    with pytest.raises(ValueError) as ours:
        gridfold.GridSearchCV(pipeline, grid, cv=CV, n_jobs=1).fit(X, y)
    normal = _FIT_AND_SCORE_LINE.sub
    assert normal("", str(ours.value)) == normal("", str(ref.value))


# ---------------------------------------------------------------------------
# Work is shared, and accounted for
# ---------------------------------------------------------------------------


def test_each_prefix_is_fitted_once_per_split() -> None:
    X, y = _data()
    pipeline = make_pipeline(CountingScaler(), SVC())
    grid = {"countingscaler__with_mean": [True, False], "svc__C": [0.1, 1.0, 10.0]}
    CountingScaler.fits = 0
    _compare(pipeline, grid, X, y, "sequential", 1)
    # scikit-learn: 6 candidates x 3 splits + refit; gridfold shared: 2 settings x 3
    # splits + refit; gridfold share=False as scikit-learn.
    assert CountingScaler.fits == (18 + 1) + (6 + 1) + (18 + 1)


def test_shared_fit_time_is_divided_among_candidates() -> None:
    X, y = _data(n_samples=300, n_features=20)
    pipeline = make_pipeline(StandardScaler(), SelectKBest(k=10), SVC())
    grid = {"selectkbest__k": [5, 10], "svc__C": [0.1, 1.0, 10.0]}
    ours = _compare(pipeline, grid, X, y, "sequential", 1)
    times = ours.cv_results_["mean_fit_time"]
    assert (times > 0).all()
    assert (ours.cv_results_["mean_score_time"] > 0).all()


def test_pipeline_unit_runs_the_trie() -> None:
    X, y = _data()
    pipeline = make_pipeline(StandardScaler(), SVC())
    grid = {"svc__C": [0.5, 2.0]}
    calls: list[int] = []
    original = _PipelineEvaluator.run

    def run(self: _PipelineEvaluator) -> Any:
        calls.append(len(self.unit.candidates))
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_PipelineEvaluator, "run", run)
        gridfold.GridSearchCV(pipeline, grid, cv=CV, n_jobs=1).fit(X, y)
    assert calls == [2, 2, 2]
