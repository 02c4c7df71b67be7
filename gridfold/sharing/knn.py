"""k-nearest neighbours: ``n_neighbors`` from one neighbour query per split.

One query at ``K = max(k) + 1`` on the test part answers every ``k``: each
view's ``kneighbors`` returns the first ``k`` columns, and scikit-learn's own
``predict``/``predict_proba`` run on them. What this rests on (scikit-learn
1.9.1, ``sklearn/neighbors`` and ``sklearn/metrics/_pairwise_distances_reduction``):

* **Same fitted state.** ``NeighborsBase._fit`` stores ``_fit_X``, ``_y``,
  ``classes_`` and builds the tree without looking at ``n_neighbors``, except
  that ``algorithm='auto'`` picks brute force when
  ``n_neighbors >= n_samples // 2`` (``_base.py`` ``_fit``, the ``auto`` block).
  :meth:`KNeighborsPath.partition` therefore splits the values at
  ``n_train // 2``; the other inputs of that choice (``n_features > 15``,
  the metric) are equal for all values, so each side resolves to one method.
  ``fit_views`` checks the side again on the actual data.
* **Same per-pair distances.** ``kneighbors`` dispatches on ``_fit_method``,
  ``ArgKmin.is_usable_for`` (data layout, dtype, metric) and the metric, never
  on ``k``. ``ArgKmin``'s chunking and ``strategy='auto'`` depend on the sample
  counts, chunk size and thread count only (``_base.pyx.tp`` ``__init__``);
  the joblib brute path chunks by working memory; trees compute each pair's
  reduced distance with the same function. So every pair's distance is the
  same in a ``k`` query and in the ``K`` query, and the returned distances
  are a non-decreasing function of the reduced distances that were sorted
  (``compute_exact_distances``, ``_rdist_to_dist``, ``np.sqrt``).
* **Ties.** A heap (``heap_push`` rejects ``val >= max``) or ``argpartition``
  keeps every point closer than the last one kept; among points at the same
  distance which are kept, and in which order (``simultaneous_sort`` and
  ``argsort`` are not stable), depends on ``k``. So, per test row, the ``k``
  query returns all points closer than the ``k``-th distance plus some of the
  points tied with it, in an order that may permute equal distances. A view
  answers ``k`` from the cache only if, for every row, that freedom cannot
  change the arrays the prediction is computed from: every tie group (equal
  returned distances) that matters has equal labels (classifier) or equal
  target rows (regressor, compared bit for bit), and a tie group crossing the
  ``k`` boundary ends inside the ``K`` columns (or ``K`` is the whole
  training set). Which groups matter: for a classifier with uniform (or None)
  weights only the group across the boundary (the vote counts do not depend
  on order); otherwise every group reaching into the first ``k`` columns
  (``np.mean``, ``np.sum`` and ``weighted_mode`` sum in column order). Trees
  prune with rounded lower bounds (``BallTree``'s triangle inequality is not
  exact in floating point); a pruning slip needs two distances within a few
  ulps of each other, so for trees a near tie (``0 < gap <= 1e-8 * scale``)
  up to the end of the boundary group also sends ``k`` to a real query.
  Any failing row makes the view for that ``k`` run the real query for the
  whole array: per-``k`` precision, exact always.
* **The class-mode fast path.** ``KNeighborsClassifier.predict_proba`` with
  uniform weights and brute force bypasses ``kneighbors`` when
  ``ArgKminClassMode.is_usable_for(X, _fit_X, metric)`` (metric from
  ``_adjusted_metric``, so never Euclidean) and the output is 1-D; ``predict``
  then takes ``classes_[argmax(proba)]``. ``ArgKminClassMode`` subclasses
  ``ArgKmin`` with the same ``DatasetsPair.get_for(X, Y, metric, kwargs)``
  and adds ``1.0`` per neighbour into float64 class scores, divided by their
  sum: integer counts and ``k`` are exact, so the result is ``count / k``
  correctly rounded. The ``kneighbors`` branch adds ``np.ones_like`` weights
  into float64 zeros and divides by the row sum: the same ``count / k``; and
  ``_mode`` (``scipy.stats.mode``: the smallest of the most frequent values)
  picks the smallest class index of maximal count, as ``argmax`` of
  ``count / k`` does (distinct counts give distinct quotients). So for that
  case the cache is a ``ArgKmin.compute`` query with the class-mode metric and
  ``strategy='parallel_on_X'`` (the same distances as the class-mode query),
  and the view runs scikit-learn's ``kneighbors`` branch on it (the fast path
  is switched off with ``enable_cython_pairwise_dist=False`` for that call).

Falls back to separate fits for: callable or ``precomputed`` metric,
metric_params, metrics outside a small set, Minkowski ``p < 1``, callable
weights, non-integer values, values above ``n_train``, sparse input, and
multi-output classification. The cache answers only for the very array object
it was computed on; any other array runs the real query.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn import config_context
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.utils.validation import validate_data

from gridfold._sklearn import ArgKmin, ArgKminClassMode
from gridfold.sharing.base import PathFamily, register

__all__ = ["KNeighborsPath"]

#: Metrics the path accepts (all valid for brute force and both trees).
_METRICS = frozenset(
    {"minkowski", "euclidean", "l2", "manhattan", "cityblock", "l1", "chebyshev", "infinity"}
)
_NEAR_TIE = 1e-8


def _adjusted_metric(est: Any) -> tuple[str, dict[str, Any]]:
    """``_classification._adjusted_metric`` for ``metric_params=None``."""
    metric, kwargs = est.metric, {}
    if metric == "minkowski":
        kwargs["p"] = est.p
        if est.p == 2:
            metric = "euclidean"
    return metric, kwargs


class _Cache:
    """Neighbour queries at ``K`` for the arrays a group's views are scored on."""

    def __init__(self, base: Any, n_train: int, k_max: int, order_sensitive: bool) -> None:
        self.base = base
        self.n_train = n_train
        self.K = min(k_max + 1, n_train)
        self.order_sensitive = order_sensitive
        self.tree = base._fit_method in ("kd_tree", "ball_tree")
        if self.tree:
            fx = np.asarray(base._fit_X, dtype=np.float64)
            self.scale = float(np.abs(fx - fx.mean(axis=0)).sum(axis=1).max())
        y = np.asarray(base._y)
        rows = y.reshape(len(y), -1)
        # Row identity of the targets, bit for bit (labels are intp codes).
        self.keys = np.unique(
            np.ascontiguousarray(rows).view(np.uint8).reshape(len(y), -1),
            axis=0,
            return_inverse=True,
        )[1].ravel()
        self.entries: dict[tuple[int, str], tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = {}

    def get(self, X: Any, engine: str, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(dist, ind)`` of a ``k`` query on ``X``, or None when not provably exact."""
        if X is None or k > self.K or k < 1:
            return None
        entry = self.entries.get((id(X), engine))
        if entry is None or entry[0] is not X:
            entry = (X, *self._query(X, engine))
            self.entries[(id(X), engine)] = entry
        _, dist, ind, affected = entry
        if affected[k - 1]:
            return None
        return np.ascontiguousarray(dist[:, :k]), np.ascontiguousarray(ind[:, :k])

    def _query(self, X: Any, engine: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if engine == "classmode":
            metric, kwargs = _adjusted_metric(self.base)
            Xv = validate_data(self.base, X, accept_sparse="csr", reset=False, order="C")
            dist, ind = ArgKmin.compute(
                X=Xv,
                Y=self.base._fit_X,
                k=self.K,
                metric=metric,
                metric_kwargs=kwargs,
                strategy="parallel_on_X",
                return_distance=True,
            )
        else:
            dist, ind = self.base.kneighbors(X, n_neighbors=self.K)
        return dist, ind, self._affected(dist, ind)

    def _affected(self, dist: np.ndarray, ind: np.ndarray) -> np.ndarray:
        """``affected[k-1]``: some row's ``k`` query may differ from ``K``'s first ``k``."""
        n, K = dist.shape
        affected = np.zeros(K, dtype=bool)
        if n == 0 or K == 1:
            return affected
        eq = dist[:, 1:] == dist[:, :-1]  # pair j: columns j, j+1 tied
        keys = self.keys[ind]
        bad = eq & (keys[:, 1:] != keys[:, :-1])
        gid = np.concatenate([np.zeros((n, 1), dtype=np.intp), np.cumsum(~eq, axis=1)], axis=1)
        last = np.concatenate([~eq, np.ones((n, 1), dtype=bool)], axis=1)
        cols = np.where(last, np.arange(K), K)
        end = np.minimum.accumulate(cols[:, ::-1], axis=1)[:, ::-1]  # end of each column's group
        group_bad = np.zeros((n, K), dtype=bool)
        r, c = np.nonzero(bad)
        group_bad[r, gid[r, c]] = True
        is_open = (gid == gid[:, -1:]) if K < self.n_train else np.zeros((n, K), dtype=bool)
        big = K + 1
        first_bad = np.where(bad.any(axis=1), bad.argmax(axis=1), big)
        if self.tree:
            gap = dist[:, 1:] - dist[:, :-1]
            tol = _NEAR_TIE * (np.abs(dist[:, -1:]) + self.scale)
            near = (gap != 0) & ~(gap > tol)  # also catches NaN
            first_near = np.where(near.any(axis=1), near.argmax(axis=1), big)
        for k in range(1, K + 1):
            c0 = k - 1  # column of the k-th neighbour
            e = end[:, c0]
            crosses = eq[:, c0] if k < K else np.zeros(n, dtype=bool)
            rows_g = np.arange(n)
            if self.order_sensitive:
                bad_k = first_bad <= e - 1
            else:
                bad_k = crosses & group_bad[rows_g, gid[:, c0]]
            bad_k = bad_k | (crosses & is_open[:, c0])
            if self.tree:
                bad_k = bad_k | (first_near <= e)
            affected[c0] = bool(bad_k.any())
        return affected


class _View:
    """Mixin: ``kneighbors``/``predict`` answered from a shared :class:`_Cache`."""

    _gf_cache: _Cache
    _gf_engine: str = "kneighbors"
    n_neighbors: int

    def kneighbors(
        self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True
    ) -> Any:
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        hit = self._gf_cache.get(X, self._gf_engine, k) if isinstance(k, numbers.Integral) else None
        if hit is None:
            return super().kneighbors(X, n_neighbors, return_distance)  # type: ignore[misc]
        return hit if return_distance else hit[1]


class _ClassifierView(_View, KNeighborsClassifier):
    def _gf_classmode(self, X: Any, metric: Any) -> bool:
        """Would scikit-learn's uniform-weight branch bypass ``kneighbors`` here?"""
        return bool(
            self.weights == "uniform"
            and self._fit_method == "brute"
            and ArgKminClassMode.is_usable_for(X, self._fit_X, metric)
        )

    def _gf_run(self, method: Any, X: Any) -> Any:
        if self._gf_cache.get(X, "classmode", self.n_neighbors) is None:
            return method(X)  # the real class-mode query
        self._gf_engine = "classmode"
        try:
            with config_context(enable_cython_pairwise_dist=False):
                return method(X)
        finally:
            self._gf_engine = "kneighbors"

    def predict_proba(self, X: Any) -> Any:
        if self._gf_classmode(X, _adjusted_metric(self)[0]):
            return self._gf_run(super().predict_proba, X)
        return super().predict_proba(X)

    def predict(self, X: Any) -> Any:
        if self._gf_classmode(X, self.metric) and self._gf_classmode(X, _adjusted_metric(self)[0]):
            return self._gf_run(super().predict, X)
        return super().predict(X)


class _RegressorView(_View, KNeighborsRegressor):
    pass


def _valid_k(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 1


class KNeighborsPath(PathFamily):
    name = "knn_n_neighbors"
    param = "n_neighbors"
    estimator_types = (KNeighborsClassifier, KNeighborsRegressor)
    shares_scoring = True  # one neighbour query per scored array, by the first view

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        if not self._exact_settings(estimator):
            return []
        ok = [i for i, v in enumerate(values) if _valid_k(v) and int(v) <= n_train]
        if estimator.algorithm != "auto":
            return [ok]
        # `auto` picks brute force from n_samples // 2 on (NeighborsBase._fit).
        half = n_train // 2
        return [[i for i in ok if int(values[i]) < half], [i for i in ok if int(values[i]) >= half]]

    @staticmethod
    def _exact_settings(est: Any) -> bool:
        metric = est.metric
        if not isinstance(metric, str) or metric not in _METRICS or est.metric_params:
            return False
        if metric == "minkowski":
            p = est.p
            if not isinstance(p, numbers.Real) or isinstance(p, bool) or not float(p) >= 1:
                return False
        return est.weights in ("uniform", "distance", None)

    def fit_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[Any]:
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        views: list[Any] = [None] * len(values)
        shareable = self._exact_settings(estimator) and not fit_params and not issparse(X)
        sides: dict[bool, list[int]] = {}
        for i, v in enumerate(values):
            if shareable and _valid_k(v) and int(v) <= n:
                auto_brute = estimator.algorithm == "auto" and int(v) >= n // 2
                sides.setdefault(auto_brute, []).append(i)
        for members in sides.values():
            ks = [int(values[i]) for i in members]
            base = clone(estimator).set_params(n_neighbors=max(ks))
            base.fit(X, y, **fit_params)
            if getattr(base, "outputs_2d_", False) and isinstance(base, KNeighborsClassifier):
                continue  # multi-output classification: separate fits
            classifier = isinstance(base, KNeighborsClassifier)
            uniform = estimator.weights in ("uniform", None)
            cache = _Cache(base, n, max(ks), order_sensitive=not (classifier and uniform))
            cls = _ClassifierView if classifier else _RegressorView
            for i, k in zip(members, ks, strict=True):
                view = cls.__new__(cls)
                view.__dict__.update(base.__dict__)
                view.n_neighbors = k
                view._gf_cache = cache
                views[i] = view
        for i, v in enumerate(values):
            if views[i] is None:
                views[i] = clone(estimator).set_params(n_neighbors=v).fit(X, y, **fit_params)
        return views


register(KNeighborsPath())
