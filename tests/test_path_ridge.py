"""The Ridge / RidgeClassifier ``alpha`` path: bit-identical to separate fits."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.base import clone
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold, StratifiedKFold

import gridfold
from gridfold.sharing import plan_units
from gridfold.sharing.base import family
from gridfold.sharing.ridge import RidgePath
from gridfold.tasks import Model, SharedTask, Study, StudyData, Task

FAMILY = RidgePath()
KIND = RidgePath.name
HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _data(seed: int, n: int, p: int, classifier: bool, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if classifier:
        labels = np.arange(n) % n_out  # every class in every stratified fold
        return X, rng.permutation(labels)
    w = rng.normal(size=(p, n_out))
    y = X @ w + rng.normal(scale=0.5, size=(n, n_out))
    return X, (y[:, 0] if n_out == 1 else y)


def _assert_same_fit(got: Any, ref: Any) -> None:
    """Same fitted attributes, arrays equal bit for bit and of the same dtype."""
    assert type(got) is type(ref)
    assert got.get_params() == ref.get_params()
    assert sorted(vars(got)) == sorted(vars(ref))
    for key, expected in vars(ref).items():
        value = getattr(got, key)
        if key == "_label_binarizer":
            np.testing.assert_array_equal(value.classes_, expected.classes_)
            assert value.y_type_ == expected.y_type_
        elif isinstance(expected, np.ndarray):
            assert value.dtype == expected.dtype, key
            np.testing.assert_array_equal(value, expected, err_msg=key)
        else:
            assert type(value) is type(expected), key
            assert value == expected, key


def _compare_searches(
    estimator: Any, alphas: list[float], X: Any, y: Any, cv: Any, **fit_params: Any
) -> Any:
    grid = {"alpha": alphas}
    ours = gridfold.GridSearchCV(
        estimator, grid, cv=cv, share=True, n_jobs=1, return_train_score=True
    ).fit(X, y, **fit_params)
    ref = SkGridSearchCV(estimator, grid, cv=cv, n_jobs=1, return_train_score=True).fit(
        X, y, **fit_params
    )
    keys = ["mean_test_score", "std_test_score", "rank_test_score", "mean_train_score"]
    keys += [f"split{i}_{kind}_score" for i in range(cv.n_splits) for kind in ("test", "train")]
    for key in keys:
        np.testing.assert_array_equal(ours.cv_results_[key], ref.cv_results_[key], err_msg=key)
    assert ours.best_params_ == ref.best_params_
    assert ours.best_index_ == ref.best_index_
    return ours, ref


class _Spy:
    """Counts ``fit_views`` calls on the registered ridge family (sequential runs only)."""

    def __init__(self) -> None:
        fam = family(KIND)
        assert isinstance(fam, RidgePath)
        self.fam = fam
        self.calls = 0

    def __enter__(self) -> _Spy:
        original = type(self.fam).fit_views

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(self.fam, *args, **kwargs)

        self.fam.fit_views = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.fam.fit_views


alpha_grids = st.lists(
    st.sampled_from([0.0, 1e-4, 1e-2, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0, 1e4]),
    min_size=2,
    max_size=6,
    unique=True,
)


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    wide=st.booleans(),
    classifier=st.booleans(),
    n_out=st.integers(1, 3),
    alphas=alpha_grids,
    fit_intercept=st.booleans(),
    solver=st.sampled_from(["auto", "cholesky", "svd"]),
    weighted=st.booleans(),
)
def test_search_matches_sklearn(
    seed: int,
    wide: bool,
    classifier: bool,
    n_out: int,
    alphas: list[float],
    fit_intercept: bool,
    solver: str,
    weighted: bool,
) -> None:
    n, p = (30, 45) if wide else (60, 8)
    n_out = max(n_out, 2) if classifier else n_out
    X, y = _data(seed, n, p, classifier, n_out)
    est_cls = RidgeClassifier if classifier else Ridge
    estimator = est_cls(solver=solver, fit_intercept=fit_intercept)
    cv = (StratifiedKFold if classifier else KFold)(3, shuffle=True, random_state=seed)
    fit_params = {}
    if weighted:
        fit_params["sample_weight"] = np.random.default_rng(seed).uniform(0.1, 3.0, size=n)
    with warnings.catch_warnings(), _Spy() as spy:
        warnings.simplefilter("ignore")  # ill-conditioned solves warn on both sides alike
        ours, _ = _compare_searches(estimator, alphas, X, y, cv, **fit_params)
    assert spy.calls == cv.n_splits  # the path answered every split


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    shape=st.sampled_from([(40, 6), (12, 30), (25, 25)]),
    classifier=st.booleans(),
    n_out=st.integers(1, 3),
    alphas=alpha_grids,
    fit_intercept=st.booleans(),
    solver=st.sampled_from(["auto", "cholesky", "svd"]),
    weighted=st.booleans(),
    float32=st.booleans(),
    class_weight=st.sampled_from([None, "balanced"]),
    copy_X=st.booleans(),
)
def test_views_equal_separate_fits(
    seed: int,
    shape: tuple[int, int],
    classifier: bool,
    n_out: int,
    alphas: list[float],
    fit_intercept: bool,
    solver: str,
    weighted: bool,
    float32: bool,
    class_weight: str | None,
    copy_X: bool,
) -> None:
    n, p = shape
    n_out = max(n_out, 2) if classifier else n_out
    X, y = _data(seed, n, p, classifier, n_out)
    if float32:
        X = X.astype(np.float32)
    params: dict[str, Any] = dict(solver=solver, fit_intercept=fit_intercept, copy_X=copy_X)
    if classifier:
        estimator: Any = RidgeClassifier(class_weight=class_weight, **params)
    else:
        estimator = Ridge(**params)
    fit_params = {}
    if weighted:
        fit_params["sample_weight"] = np.random.default_rng(seed).uniform(0.1, 3.0, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert FAMILY.partition(estimator, alphas, n) == [list(range(len(alphas)))]
        X_shared = X.copy()
        views = FAMILY.fit_views(estimator, alphas, X_shared, y, fit_params)
        for alpha, view in zip(alphas, views, strict=True):
            X_own = X.copy()
            ref = clone(estimator).set_params(alpha=alpha).fit(X_own, y, **fit_params)
            _assert_same_fit(view, ref)
            np.testing.assert_array_equal(view.predict(X), ref.predict(X))
            if copy_X:
                np.testing.assert_array_equal(X_shared, X)
            # copy_X=False: the shared fit leaves X as one fit of its own would.
            np.testing.assert_array_equal(X_shared, X_own)


def test_singular_gram_falls_back_to_svd_like_sklearn() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    X[:, 5] = X[:, 4]
    y = rng.normal(size=40)
    estimator = Ridge(solver="cholesky", fit_intercept=False)
    alphas = [0.0, 1e-12, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        views = FAMILY.fit_views(estimator, alphas, X, y, {})
        refs = [clone(estimator).set_params(alpha=a).fit(X, y) for a in alphas]
    assert refs[0].solver_ == "svd"  # the case this test is about
    for view, ref in zip(views, refs, strict=True):
        _assert_same_fit(view, ref)


def test_feature_names_and_string_classes() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    y = np.array(["x", "y", "z"])[np.arange(30) % 3]
    estimator = RidgeClassifier()
    views = FAMILY.fit_views(estimator, [0.1, 1.0], X, y, {})
    for alpha, view in zip([0.1, 1.0], views, strict=True):
        _assert_same_fit(view, clone(estimator).set_params(alpha=alpha).fit(X, y))
        assert list(view.feature_names_in_) == list("abcd")
    assert views[0]._label_binarizer is not views[1]._label_binarizer


def _plan(estimator: Any, candidates: list[dict[str, Any]]) -> list[Any]:
    X, y = _data(0, 30, 4, False, 1)
    splits = tuple(KFold(3).split(X))
    model = Model("m", estimator, tuple(candidates), check_scoring(estimator))
    return plan_units(Study((model,), StudyData(X, y, splits)), n_workers=1)


def test_planner_shares_alpha_grids() -> None:
    for estimator in (Ridge(), RidgeClassifier(solver="svd"), Ridge(solver="cholesky")):
        units = _plan(estimator, [{"alpha": a} for a in (0.1, 1.0, 10.0)])
        assert len(units) == 3
        assert all(isinstance(u, SharedTask) and u.kind == KIND for u in units)
        assert all(u.candidates == (0, 1, 2) for u in units)


def test_planner_groups_by_other_params() -> None:
    candidates = [{"alpha": a, "fit_intercept": f} for f in (True, False) for a in (0.1, 1.0)]
    units = _plan(Ridge(), candidates)
    assert sorted(u.candidates for u in units) == [(0, 1)] * 3 + [(2, 3)] * 3


@pytest.mark.parametrize(
    "estimator",
    [
        Ridge(positive=True),
        Ridge(solver="lbfgs", positive=True),
        RidgeClassifier(positive=True),
        *(Ridge(solver=s) for s in ("sparse_cg", "lsqr", "sag", "saga")),
        *(RidgeClassifier(solver=s) for s in ("sparse_cg", "lsqr", "sag", "saga")),
    ],
    ids=repr,
)
def test_fallback_conditions(estimator: Any) -> None:
    alphas = [0.1, 1.0, 10.0]
    assert FAMILY.partition(estimator, alphas, 100) == []
    units = _plan(estimator, [{"alpha": a} for a in alphas])
    assert len(units) == 9 and all(isinstance(u, Task) for u in units)


def test_unshareable_alpha_values_fit_alone() -> None:
    values: list[Any] = [1.0, -1.0, float("nan"), np.array([1.0, 2.0]), True, 2, np.float32(3)]
    assert FAMILY.partition(Ridge(), values, 100) == [[0, 5, 6]]
    assert FAMILY.partition(Ridge(), [1.0, -1.0], 100) == []


def test_sparse_input_fits_one_by_one() -> None:
    X, y = _data(1, 40, 5, False, 1)
    Xs = sparse.csr_matrix(X)
    for estimator in (Ridge(), Ridge(fit_intercept=False, solver="cholesky")):
        views = FAMILY.fit_views(estimator, [0.5, 2.0], Xs, y, {})
        for alpha, view in zip([0.5, 2.0], views, strict=True):
            _assert_same_fit(view, clone(estimator).set_params(alpha=alpha).fit(Xs, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare_searches(Ridge(), [0.5, 2.0], Xs, y, KFold(3))  # auto -> sparse_cg


def test_invalid_alpha_errors_match_sklearn() -> None:
    X, y = _data(2, 30, 4, False, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, ref = _compare_searches(Ridge(), [-1.0, 0.5, 2.0], X, y, KFold(3))
    assert np.isnan(ours.cv_results_["mean_test_score"][0])
