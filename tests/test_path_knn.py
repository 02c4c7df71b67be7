"""The kNN ``n_neighbors`` path: one query per split, identical to separate fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import gridfold
from gridfold.sharing import plan_units
from gridfold.sharing.knn import KNeighborsPath, _Cache
from gridfold.tasks import Model, SharedTask, Study, StudyData, Task

PATH = KNeighborsPath()
SCORE_KEYS = ("mean_test_score", "rank_test_score", "mean_train_score")


def _assert_same(sk: Any, gf: Any) -> None:
    for key, value in sk.cv_results_.items():
        if "score" in key and "time" not in key:
            np.testing.assert_array_equal(gf.cv_results_[key], value, err_msg=key)
    assert gf.best_params_ == sk.best_params_


def _data(seed: int, n: int, p: int, integer: bool, regression: bool) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, (n, p)).astype(float) if integer else rng.normal(size=(n, p))
    if regression:
        y = rng.integers(0, 4, n).astype(float) if integer else rng.normal(size=n)
    else:
        y = rng.integers(0, 3, n)
    return X, y


@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(40, 90),
    p=st.sampled_from([2, 5, 20]),
    integer=st.booleans(),
    regression=st.booleans(),
    weights=st.sampled_from(["uniform", "distance"]),
    algorithm=st.sampled_from(["auto", "brute", "kd_tree", "ball_tree"]),
    metric=st.sampled_from(["minkowski", "manhattan", "chebyshev"]),
    ks=st.lists(st.integers(1, 45), min_size=2, max_size=6, unique=True),
    train_score=st.booleans(),
)
def test_same_as_sklearn(
    seed: int,
    n: int,
    p: int,
    integer: bool,
    regression: bool,
    weights: str,
    algorithm: str,
    metric: str,
    ks: list[int],
    train_score: bool,
) -> None:
    X, y = _data(seed, n, p, integer, regression)
    cls = KNeighborsRegressor if regression else KNeighborsClassifier
    est = cls(weights=weights, algorithm=algorithm, metric=metric)
    grid = {"n_neighbors": ks}
    kw: dict[str, Any] = {"cv": 3, "return_train_score": train_score, "error_score": np.nan}
    sk = SkGridSearchCV(est, grid, **kw).fit(X, y)
    gf = gridfold.GridSearchCV(est, grid, share=True, n_jobs=1, **kw).fit(X, y)
    _assert_same(sk, gf)


@pytest.mark.parametrize(
    ("cls", "weights"),
    [(KNeighborsClassifier, "uniform"), (KNeighborsRegressor, "distance")],
)
def test_digits_like_ties(cls: type, weights: str) -> None:
    """Integer pixels, many tied distances, brute force (64 features)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300].astype(float) if cls is KNeighborsRegressor else y[:300]
    grid = {"n_neighbors": list(range(1, 11))}
    est = cls(weights=weights)
    sk = SkGridSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y)
    gf = gridfold.GridSearchCV(est, grid, cv=3, share=True, n_jobs=1, return_train_score=True)
    _assert_same(sk, gf.fit(X, y))


def test_views_equal_separate_fits_for_every_method() -> None:
    X, y = _data(3, 120, 4, True, False)
    Xtr, ytr, Xte = X[:80], y[:80], X[80:]
    for est in (
        KNeighborsClassifier(metric="manhattan"),  # the class-mode fast path
        KNeighborsClassifier(),
        KNeighborsClassifier(weights="distance", algorithm="ball_tree"),
    ):
        ks = [1, 2, 3, 5, 8, 13]
        views = PATH.fit_views(est, ks, Xtr, ytr, {})
        for k, view in zip(ks, views, strict=True):
            ref = clone(est).set_params(n_neighbors=k).fit(Xtr, ytr)
            for method in ("predict", "predict_proba"):
                np.testing.assert_array_equal(getattr(view, method)(Xte), getattr(ref, method)(Xte))
            assert view.score(Xte, y[80:]) == ref.score(Xte, y[80:])
            # A different array object is never answered from the cache.
            np.testing.assert_array_equal(view.predict(Xte.copy()), ref.predict(Xte))


def _units(est: Any, values: list[Any], n: int = 60) -> list[Any]:
    X, y = _data(0, n, 3, False, False)
    splits = tuple(KFold(3).split(X))
    model = Model("m", est, tuple({"n_neighbors": v} for v in values), check_scoring(est))
    return plan_units(Study((model,), StudyData(X, y, splits)), n_workers=1)


def test_planner_uses_the_path() -> None:
    units = _units(KNeighborsClassifier(), [1, 3, 5, 7])
    assert units and all(isinstance(u, SharedTask) and u.kind == PATH.name for u in units)


@pytest.mark.parametrize(
    "est",
    [
        KNeighborsClassifier(weights=lambda d: np.ones_like(d)),
        KNeighborsClassifier(metric="precomputed"),
        KNeighborsClassifier(metric=lambda a, b: float(np.abs(a - b).sum())),
        KNeighborsClassifier(metric="minkowski", p=0.5, algorithm="brute"),
        KNeighborsClassifier(metric="minkowski", metric_params={"w": [1.0, 2.0, 3.0]}),
        KNeighborsRegressor(metric="cosine"),
    ],
)
def test_fallback_settings(est: Any) -> None:
    assert PATH.partition(est, [1, 2, 3], 40) == []
    assert all(isinstance(u, Task) for u in _units(est, [1, 2, 3]))


def test_partition_auto_and_oversized() -> None:
    # `auto` switches to brute force at n_train // 2: never in one group.
    assert PATH.partition(KNeighborsClassifier(), [1, 5, 20, 30, 41], 40) == [[0, 1], [2, 3]]
    assert PATH.partition(KNeighborsClassifier(algorithm="brute"), [1, 20, 41], 40) == [[0, 1]]


def test_ties_send_k_to_a_real_query() -> None:
    # Column 0 distances: 0, 1, 1, 2, ... Points 1 and 2 tie for second place.
    Xtr = np.array([[0.0], [1.0], [-1.0], [2.0], [-3.0], [4.0]])
    Xte = np.array([[0.0]])
    for y, affected_k1 in (([0, 0, 1, 0, 0, 1], True), ([0, 1, 1, 0, 0, 1], False)):
        base = KNeighborsClassifier(n_neighbors=4, algorithm="brute").fit(Xtr, y)
        aff = _Cache(base, 6, 4, order_sensitive=False)._query(Xte, "kneighbors")[2]
        assert aff[1] == affected_k1  # k=2 splits the tied pair
        assert not aff[0] and not aff[2]  # k=1 and k=3 do not
    # Order-sensitive modes: a mixed tie inside the first k also counts.
    base = KNeighborsRegressor(n_neighbors=4, algorithm="brute").fit(Xtr, [0, 0, 1, 0, 0, 1.0])
    aff = _Cache(base, 6, 4, order_sensitive=True)._query(Xte, "kneighbors")[2]
    assert list(aff[:4]) == [False, True, True, True]


def test_cache_counts_one_query_per_array(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data(1, 100, 3, False, False)
    calls: list[int] = []
    orig = KNeighborsClassifier.kneighbors

    def counting(self: Any, *a: Any, **k: Any) -> Any:
        calls.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(KNeighborsClassifier, "kneighbors", counting)
    views = PATH.fit_views(KNeighborsClassifier(), [1, 2, 4, 8], X[:70], y[:70], {})
    Xte = X[70:]
    for view in views:
        view.predict(Xte)
    assert len(calls) == 1
