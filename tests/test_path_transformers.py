"""Transformer paths (``PCA.n_components``, ``SelectKBest.k``) are exact.

Each view, every fitted attribute of it and its ``fit_transform`` output must
equal a separate fit's bit for bit; a pipeline search that uses the paths must
give scikit-learn's ``cv_results_``; settings the paths cannot prove exact must
not use them.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from conftest import assert_cv_results_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.feature_selection import (
    SelectKBest,
    chi2,
    f_classif,
    f_regression,
    mutual_info_classif,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

import gridfold
from gridfold.sharing import transformers
from gridfold.sharing.transformers import PCAPath, SelectKBestPath, resolve_pca_solver

HYPOTHESIS = settings(max_examples=15, deadline=None)
# The two whole-pipeline searches cost ~2 s an example (scikit-learn's own per-fit checks
# dominate): fewer examples keep .ci/run under its 15 minutes; each CI run draws new ones.
PIPELINE_HYPOTHESIS = settings(max_examples=8, deadline=None)
PCA_PATH = PCAPath()
SKB_PATH = SelectKBestPath()
CV = 3


def _assert_same(a: Any, b: Any, what: str) -> None:
    assert type(a) is type(b), (what, type(a), type(b))
    if isinstance(b, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), what
        layout = (b.flags.c_contiguous, b.flags.f_contiguous)
        assert (a.flags.c_contiguous, a.flags.f_contiguous) == layout, what
        np.testing.assert_array_equal(a, b, err_msg=what)
    elif isinstance(b, float) and np.isnan(b):
        assert np.isnan(a), what
    else:
        assert a == b, (what, a, b)


def _assert_views_exact(fam: Any, estimator: Any, values: list[Any], X: Any, y: Any) -> None:
    """Every view as a separate fit: attributes, fit_transform and transform output."""
    views = fam.fit_transform_views(estimator, values, X, y, {})
    assert len(views) == len(values)
    X_new = np.asarray(X)[::2] * 1.25 + 0.5
    for value, (view, Xt) in zip(values, views, strict=True):
        own = clone(estimator).set_params(**{fam.param: value})
        _assert_same(Xt, own.fit_transform(X, y), f"fit_transform {value}")
        assert sorted(vars(view)) == sorted(vars(own)), value
        params = own.get_params(deep=False)  # equal by construction; clone copies them
        for name, expected in vars(own).items():
            if name in params:
                continue
            _assert_same(vars(view)[name], expected, f"{name} {value}")
        _assert_same(view.transform(X_new), own.transform(X_new), f"transform {value}")


# ---------------------------------------------------------------------------
# Views equal separate fits
# ---------------------------------------------------------------------------


@st.composite
def _pca_case(draw: st.DrawFn) -> tuple[np.ndarray, list[Any], dict[str, Any]]:
    n_features = draw(st.integers(2, 10))
    tall = draw(st.booleans())  # tall: 'auto' resolves to 'covariance_eigh'
    n_samples = draw(st.integers(10 * n_features, 12 * n_features) if tall else st.integers(3, 40))
    X = np.random.RandomState(draw(st.integers(0, 2**16))).randn(n_samples, n_features)
    if draw(st.booleans()):
        X[:, -1] = X[:, 0]  # rank deficient: a zero variance, noise_variance_ near 0
    n_all = min(X.shape)
    ks = draw(st.lists(st.integers(1, n_all) | st.none(), min_size=2, max_size=5, unique=True))
    params = {
        "whiten": draw(st.booleans()),
        "svd_solver": draw(st.sampled_from(["auto", "full", "covariance_eigh"])),
    }
    return X, ks, params


@HYPOTHESIS
@given(_pca_case())
def test_pca_views_equal_separate_fits(case: tuple[np.ndarray, list[Any], dict[str, Any]]) -> None:
    X, ks, params = case
    _assert_views_exact(PCA_PATH, PCA(**params), ks, X, None)


@pytest.mark.parametrize("shape", [(60, 520), (700, 60), (510, 60)])
def test_pca_views_equal_separate_fits_when_auto_mixes_solvers(shape: tuple[int, int]) -> None:
    # 'auto' picks 'randomized' for small k on such shapes and 'full' for large k.
    X = np.random.RandomState(0).randn(*shape)
    n_all = min(shape)
    ks = [2, 3, int(0.8 * n_all), n_all - 1, None]
    estimator = PCA(random_state=0)  # seeded: separate randomized fits agree
    solvers = [resolve_pca_solver("auto", k, shape) for k in ks]
    fitted = [clone(estimator).set_params(n_components=k).fit(X)._fit_svd_solver for k in ks]
    assert solvers == fitted
    with mock.patch.object(
        PCAPath, "_from_one_fit", autospec=True, side_effect=PCAPath._from_one_fit
    ) as spy:
        _assert_views_exact(PCA_PATH, estimator, ks, X, None)
    shared = [k for k, s in zip(ks, solvers, strict=True) if s != "randomized"]
    assert spy.call_count == (1 if len(shared) >= 2 else 0)
    if spy.call_count:
        assert [ks[i] for i in spy.call_args.args[3]] == shared


@pytest.mark.parametrize(
    "make_X",
    [
        pytest.param(lambda X: X.astype(np.float32), id="float32"),
        pytest.param(lambda X: np.asfortranarray(X), id="fortran"),
        pytest.param(lambda X: __import__("pandas").DataFrame(X), id="dataframe"),
    ],
)
def test_pca_views_equal_separate_fits_for_other_inputs(make_X: Any) -> None:
    X = make_X(np.random.RandomState(1).randn(80, 6))
    for solver in ("full", "covariance_eigh"):
        _assert_views_exact(PCA_PATH, PCA(svd_solver=solver), [1, 3, 6, None], X, None)


@st.composite
def _select_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[Any], Any]:
    n_samples, n_features = draw(st.integers(8, 40)), draw(st.integers(1, 12))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    # Small integers: many tied scores, so the stable order decides.
    X = rng.randint(0, 3, size=(n_samples, n_features)).astype(float)
    if n_features > 2 and draw(st.booleans()):
        X[:, 1] = X[:, 0]
        X[:, -1] = 1.0  # constant: f_classif gives NaN, cleaned to the lowest score
    y = np.arange(n_samples) % draw(st.integers(2, 3))
    ks = draw(
        st.lists(
            st.integers(0, n_features + 2) | st.just("all"), min_size=2, max_size=6, unique=True
        )
    )
    score = draw(
        st.sampled_from(
            [f_classif, chi2, f_regression, functools.partial(mutual_info_classif, random_state=0)]
        )
    )
    return X, y, ks, score


@HYPOTHESIS
@given(_select_case())
def test_select_k_best_views_equal_separate_fits(
    case: tuple[np.ndarray, np.ndarray, list[Any], Any],
) -> None:
    X, y, ks, score = case
    estimator = SelectKBest(score)
    assert SKB_PATH.partition(estimator, ks, len(X)) == [list(range(len(ks)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN scores, k > n_features, nothing selected
        _assert_views_exact(SKB_PATH, estimator, ks, X, y)


def test_select_k_best_warns_as_a_separate_fit_does() -> None:
    X, y = np.random.RandomState(0).randn(30, 4), np.arange(30) % 2
    with pytest.warns(UserWarning, match="k=9 is greater than n_features=4"):
        SKB_PATH.fit_transform_views(SelectKBest(k=2), [2, 9], X, y, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SKB_PATH.fit_transform_views(SelectKBest(k=2), [2, 3, "all"], X, y, {})


# ---------------------------------------------------------------------------
# What the paths refuse
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator, values",
    [
        pytest.param(PCA(svd_solver="randomized", random_state=0), [2, 3], id="randomized"),
        pytest.param(PCA(svd_solver="arpack"), [2, 3], id="arpack"),
        pytest.param(PCA(), [0.5, 0.9], id="float"),
        pytest.param(PCA(), ["mle", 2], id="mle"),
        pytest.param(PCA(), [True, 2], id="bool"),
        pytest.param(PCA(copy=False), [2, 3], id="copy-false"),
        pytest.param(PCA().set_output(transform="pandas"), [2, 3], id="pandas-output"),
        pytest.param(SelectKBest(mutual_info_classif), [2, 3], id="unseeded-score"),
        pytest.param(SelectKBest(lambda X, y: X.sum(axis=0)), [2, 3], id="user-score"),
        pytest.param(SelectKBest(), [-1, 2], id="negative-k"),
    ],
)
def test_partition_refuses_what_it_cannot_prove(estimator: Any, values: list[Any]) -> None:
    fam = PCA_PATH if isinstance(estimator, PCA) else SKB_PATH
    assert fam.partition(estimator, values, 100) == []


def test_partition_keeps_only_exact_values() -> None:
    assert PCA_PATH.partition(PCA(), [2, 0.5, None, "mle", 3], 100) == [[0, 2, 4]]
    assert SKB_PATH.partition(SelectKBest(), [2, "all", 0, -3], 100) == [[0, 1, 2]]


def test_pca_sparse_input_is_fitted_per_value() -> None:
    from scipy.sparse import csr_matrix

    X = csr_matrix(np.random.RandomState(0).randn(40, 8))
    estimator = PCA(random_state=0)  # 'auto' on sparse input resolves to arpack
    with mock.patch.object(transformers, "_decompose", wraps=transformers._decompose) as decompose:
        _assert_views_exact(PCA_PATH, estimator, [2, 3], X.toarray(), None)
        assert decompose.called  # dense: shared
        decompose.reset_mock()
        views = PCA_PATH.fit_transform_views(estimator, [2, 3], X, None, {})
    assert not decompose.called
    for k, (view, Xt) in zip([2, 3], views, strict=True):
        np.testing.assert_array_equal(Xt, PCA(k, random_state=0).fit_transform(X))
        assert view._fit_svd_solver == "arpack"


# ---------------------------------------------------------------------------
# gridfold's pipeline search against scikit-learn's
# ---------------------------------------------------------------------------


@contextmanager
def _spy(fam_type: Any) -> Iterator[mock.MagicMock]:
    with mock.patch.object(
        fam_type,
        "fit_transform_views",
        autospec=True,
        side_effect=fam_type.fit_transform_views,
    ) as spy:
        yield spy


def _compare(
    pipeline: Any,
    grid: Any,
    X: Any,
    y: Any,
    train_score: bool,
    fam_type: type,
    calls_per_split: int = 1,
) -> None:
    kwargs: dict[str, Any] = {
        "cv": KFold(CV, shuffle=True, random_state=0),
        "n_jobs": 1,
        "return_train_score": train_score,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, k > n_features: alike on both sides
        ref = SkGridSearchCV(pipeline, grid, **kwargs).fit(X, y)
        with _spy(fam_type) as spy:
            ours = gridfold.GridSearchCV(pipeline, grid, share=True, **kwargs).fit(X, y)
    assert spy.call_count == CV * calls_per_split  # one shared fit per split and prefix
    keys = ["mean_test_score", "rank_test_score", *(f"split{i}_test_score" for i in range(CV))]
    if train_score:
        keys += ["mean_train_score", *(f"split{i}_train_score" for i in range(CV))]
    for key in keys:
        np.testing.assert_array_equal(ours.cv_results_[key], ref.cv_results_[key], err_msg=key)
    assert_cv_results_equal(ours.cv_results_, ref.cv_results_)
    assert ours.best_params_ == ref.best_params_
    assert ours.best_index_ == ref.best_index_


def _classification(seed: int, n_samples: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.randn(n_samples) > 0).astype(int)
    return X, y


@PIPELINE_HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    n_features=st.integers(3, 8),
    tall=st.booleans(),
    whiten=st.booleans(),
    classifier=st.sampled_from(["svc", "logisticregression"]),
    train_score=st.booleans(),
)
def test_pca_pipeline_search_equals_sklearn(
    seed: int, n_features: int, tall: bool, whiten: bool, classifier: str, train_score: bool
) -> None:
    n_samples = 16 * n_features if tall else 45  # tall: 'covariance_eigh', else 'full'
    X, y = _classification(seed, n_samples, n_features)
    final = SVC() if classifier == "svc" else LogisticRegression(max_iter=200)
    pipeline = make_pipeline(StandardScaler(), PCA(whiten=whiten), final)
    grid = {"pca__n_components": [1, 2, n_features], f"{classifier}__C": [0.1, 1.0, 10.0]}
    _compare(pipeline, grid, X, y, train_score, PCAPath)


@PIPELINE_HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    n_features=st.integers(3, 10),
    score=st.sampled_from([f_classif, chi2]),
    classifier=st.sampled_from(["svc", "logisticregression"]),
    train_score=st.booleans(),
)
def test_select_k_best_pipeline_search_equals_sklearn(
    seed: int, n_features: int, score: Any, classifier: str, train_score: bool
) -> None:
    X, y = _classification(seed, 60, n_features)
    X = np.round(X, 1)  # ties among scores
    final = SVC() if classifier == "svc" else LogisticRegression(max_iter=200)
    pipeline = make_pipeline(MinMaxScaler(), SelectKBest(score), final)
    grid = {"selectkbest__k": [1, 2, n_features, "all"], f"{classifier}__C": [0.1, 1.0]}
    _compare(pipeline, grid, X, y, train_score, SelectKBestPath)


def test_pca_then_select_k_best_pipeline_equals_sklearn() -> None:
    X, y = _classification(3, 90, 8)
    pipeline = make_pipeline(StandardScaler(), SelectKBest(), PCA(), SVC())
    grid = {
        "selectkbest__k": [4, 6, 8],
        "pca__n_components": [1, 2, 4],
        "svc__C": [0.5, 2.0],
    }
    _compare(pipeline, grid, X, y, True, PCAPath, calls_per_split=3)  # one per k of SelectKBest
    _compare(pipeline, grid, X, y, False, SelectKBestPath)


def test_regression_pipeline_equals_sklearn() -> None:
    X, _ = _classification(4, 70, 6)
    y = X @ np.arange(6.0) + np.random.RandomState(4).randn(70)
    pipeline = make_pipeline(StandardScaler(), PCA(), Ridge())
    _compare(
        pipeline, {"pca__n_components": [1, 3, 5], "ridge__alpha": [0.1, 1.0]}, X, y, True, PCAPath
    )
    pipeline = make_pipeline(SelectKBest(f_regression), Ridge())
    _compare(
        pipeline,
        {"selectkbest__k": [1, 3, 5], "ridge__alpha": [0.1, 1.0]},
        X,
        y,
        False,
        SelectKBestPath,
    )


@pytest.mark.parametrize(
    "pca, ks",
    [
        pytest.param(PCA(svd_solver="randomized", random_state=0), [1, 2, 3], id="randomized"),
        pytest.param(PCA(), [0.5, 0.8, 0.95], id="float"),
        pytest.param(PCA(svd_solver="arpack", random_state=0), [1, 2], id="arpack"),
    ],
)
def test_pca_pipeline_fallback_uses_no_path(pca: Any, ks: list[Any]) -> None:
    X, y = _classification(5, 60, 5)
    pipeline = make_pipeline(StandardScaler(), pca, SVC())
    _compare(
        pipeline,
        {"pca__n_components": ks, "svc__C": [0.5, 2.0]},
        X,
        y,
        True,
        PCAPath,
        calls_per_split=0,
    )


def test_pca_pipeline_auto_resolving_to_randomized_fits_alone() -> None:
    # 700 train rows x 80 features: 'auto' picks 'randomized' for k < 64, else 'full'.
    X, y = _classification(6, 1050, 80)
    pipeline = make_pipeline(StandardScaler(), PCA(random_state=0), SVC())
    grid = {"pca__n_components": [2, 3, 70, 80], "svc__C": [1.0]}
    with mock.patch.object(transformers, "_decompose", wraps=transformers._decompose) as spy:
        _compare(pipeline, grid, X, y, False, PCAPath)
    assert spy.call_count == CV  # one decomposition per split answers k = 70 and 80
    assert all(call.args[0].n_components == 80 for call in spy.call_args_list)


def test_select_k_best_unseeded_score_uses_no_path() -> None:
    X, y = _classification(7, 40, 5)
    score = functools.partial(mutual_info_classif, random_state=None)
    pipeline = make_pipeline(SelectKBest(score), SVC())
    with _spy(SelectKBestPath) as spy:
        gridfold.GridSearchCV(pipeline, {"selectkbest__k": [1, 2]}, cv=CV, n_jobs=1).fit(X, y)
    assert spy.call_count == 0
