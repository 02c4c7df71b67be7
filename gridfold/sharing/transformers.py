"""Pipeline transformer steps fitted once for many values of one parameter.

``PCA.n_components``
    scikit-learn 1.9's ``PCA._fit`` resolves the solver first (``'auto'``
    looks at the data shape and at ``n_components``), then ``_fit_full``
    computes the *whole* decomposition -- an SVD of the centred data
    (``'full'``) or an eigendecomposition of the covariance matrix
    (``'covariance_eigh'``) -- flips signs on the rows of ``Vt``
    (``svd_flip(u_based_decision=False)``, row by row, so independent of
    ``n_components``) and only then truncates: ``components_``,
    ``explained_variance_``, ``explained_variance_ratio_`` (over the total of
    *all* variances) and ``singular_values_`` are copies of the first k
    entries, ``noise_variance_`` is the mean of the variances from k on.
    ``fit_transform`` returns ``U[:, :k] * S[:k]`` (whitened:
    ``U[:, :k] * sqrt(n_samples - 1)``) for ``'full'``, element by element,
    and ``X @ components_.T`` minus the projected mean for
    ``'covariance_eigh'``. So one decomposition, kept whole, answers every k
    whose solver resolves to the same k-independent solver: this module
    runs ``_fit`` once with every component kept and repeats, per k, the very
    statements ``_fit_full`` and ``fit_transform`` run after the
    decomposition. k values that resolve to ``'randomized'`` or ``'arpack'``
    (whose result depends on k) are fitted on their own. Not shared at all:
    explicit ``'randomized'``/``'arpack'`` solvers, float or ``'mle'``
    values (k is chosen from the data), ``copy=False`` (the fit centres its
    input in place), sparse input, ``'covariance_eigh'`` with fewer samples
    than features (the variances beyond ``min(X.shape)`` would be lost), and
    a non-default ``set_output`` container.

``SelectKBest.k``
    ``_BaseFilter.fit`` computes ``scores_``/``pvalues_`` with ``score_func``
    alone; k is used only by ``_get_support_mask`` (a stable mergesort of the
    NaN-cleaned scores, the last k indices) at transform time, and by a
    warning when k exceeds the number of features. So the score function
    runs once and each view, holding those scores, transforms with
    scikit-learn's own ``transform``. Shared only for score functions known
    to be deterministic (a random one, such as ``mutual_info_classif``
    without an integer ``random_state``, would give every separate fit
    different scores).
"""

from __future__ import annotations

import copy
import functools
import numbers
from collections.abc import Callable, Sequence
from math import sqrt
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn import get_config
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.feature_selection import (
    SelectKBest,
    chi2,
    f_classif,
    f_oneway,
    f_regression,
    mutual_info_classif,
    mutual_info_regression,
    r_regression,
)

from gridfold._sklearn import fit_context
from gridfold.sharing.base import TransformerPath, register

__all__ = ["PCAPath", "SelectKBestPath", "resolve_pca_solver"]

#: Solvers whose decomposition does not depend on ``n_components``.
_WHOLE_SOLVERS = ("full", "covariance_eigh")
_DETERMINISTIC_SCORES: tuple[Callable[..., Any], ...] = (
    f_classif,
    f_regression,
    chi2,
    r_regression,
    f_oneway,
)
_SEEDED_SCORES: tuple[Callable[..., Any], ...] = (mutual_info_classif, mutual_info_regression)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _default_output(estimator: Any) -> bool:
    """True when ``fit_transform`` returns the solver's array unwrapped (no ``set_output``)."""
    own = getattr(estimator, "_sklearn_output_config", {})
    return own.get("transform", get_config()["transform_output"]) == "default"


def _fitted_state(fitted: Any) -> dict[str, Any]:
    """Every attribute ``fit`` set on ``fitted`` (anything that is not a parameter)."""
    params = fitted.get_params(deep=False)
    return {k: copy.deepcopy(v) for k, v in vars(fitted).items() if k not in params}


def _view(estimator: Any, param: str, value: Any, state: dict[str, Any]) -> Any:
    view = clone(estimator).set_params(**{param: value})
    vars(view).update(copy.deepcopy(state))  # each view owns its arrays, as its own fit would
    return view


def _alone(estimator: Any, param: str, value: Any, X: Any, y: Any, fit_params: Any) -> Any:
    step = clone(estimator).set_params(**{param: value})
    return step, step.fit_transform(X, y, **fit_params)


def resolve_pca_solver(svd_solver: str, n_components: Any, shape: tuple[int, int]) -> str:
    """The solver ``PCA._fit`` (scikit-learn 1.9) runs for dense data of ``shape``."""
    if svd_solver != "auto":
        return svd_solver
    n_samples, n_features = shape
    k = min(shape) if n_components is None else n_components
    if n_features <= 1_000 and n_samples >= 10 * n_features:
        return "covariance_eigh"
    if max(shape) <= 500 or k == "mle":
        return "full"
    if 1 <= k < 0.8 * min(shape):
        return "randomized"
    return "full"


@fit_context(prefer_skip_nested_validation=True)
def _decompose(pca: PCA, X: Any) -> tuple[Any, ...]:
    # ``fit_transform``'s own wrapper: validate parameters, then run ``_fit``.
    return pca._fit(X)


class PCAPath(TransformerPath):
    """``PCA(n_components=k)`` for several integer k from one decomposition."""

    name = "pca_n_components"
    param = "n_components"
    estimator_types = (PCA,)

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        if (
            estimator.svd_solver not in ("auto", *_WHOLE_SOLVERS)
            or estimator.copy is not True
            or not _default_output(estimator)
        ):
            return []
        group = [i for i, k in enumerate(values) if k is None or (_is_int(k) and k >= 1)]
        # Which k resolve to a whole solver depends on the step's input shape,
        # known only at fit time: ``fit_transform_views`` fits the others alone.
        return [group] if len(group) >= 2 else []

    def fit_transform_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[tuple[Any, Any]]:
        shared = self._shared(estimator, values, X)
        out: list[tuple[Any, Any] | None] = [None] * len(values)
        if len(shared) >= 2:
            for i, view_out in zip(
                shared, self._from_one_fit(estimator, values, shared, X), strict=True
            ):
                out[i] = view_out
        for i, value in enumerate(values):
            if out[i] is None:
                out[i] = _alone(estimator, self.param, value, X, y, fit_params)
        return [o for o in out if o is not None]

    def _shared(self, estimator: Any, values: Sequence[Any], X: Any) -> list[int]:
        """Indices of ``values`` one whole decomposition of ``X`` answers."""
        if issparse(X) or not _default_output(estimator) or np.ndim(X) != 2:
            return []
        n_samples, n_features = np.shape(X)
        by_solver: dict[str, list[int]] = {}
        for i, k in enumerate(values):
            if not (k is None or (_is_int(k) and 1 <= k <= min(n_samples, n_features))):
                continue
            solver = resolve_pca_solver(estimator.svd_solver, k, (n_samples, n_features))
            if solver == "full" or (solver == "covariance_eigh" and n_samples >= n_features):
                by_solver.setdefault(solver, []).append(i)
        return max(by_solver.values(), key=len, default=[])

    def _from_one_fit(
        self, estimator: Any, values: Sequence[Any], shared: list[int], X: Any
    ) -> list[tuple[Any, Any]]:
        n_samples, n_features = np.shape(X)
        n_all = min(n_samples, n_features)
        shape = (n_samples, n_features)
        solver = resolve_pca_solver(estimator.svd_solver, values[shared[0]], shape)
        whole = clone(estimator).set_params(n_components=n_all, svd_solver=solver)
        U, S, Vt, X_valid, x_is_centered, xp = _decompose(whole, X)
        state = _fitted_state(whole)
        variances = whole.explained_variance_  # every variance: n_all == len(S)
        ratios = whole.explained_variance_ratio_
        views = []
        for i in shared:
            k = n_all if values[i] is None else values[i]
            # The statements ``_fit_full`` runs once it knows k.
            state.update(
                n_components_=k,
                noise_variance_=xp.mean(variances[k:]) if k < n_all else 0.0,
                components_=xp.asarray(Vt[:k, :], copy=True),
                explained_variance_=xp.asarray(variances[:k], copy=True),
                explained_variance_ratio_=xp.asarray(ratios[:k], copy=True),
                singular_values_=xp.asarray(S[:k], copy=True),
            )
            view = _view(estimator, self.param, values[i], state)
            # The statements ``fit_transform`` runs after ``_fit``.
            if U is None:
                Xt = view._transform(X_valid, xp, x_is_centered=x_is_centered)
            else:
                Xt = xp.asarray(U[:, :k], copy=True)
                Xt *= sqrt(X_valid.shape[0] - 1) if view.whiten else S[:k]
            views.append((view, Xt))
        return views


def _deterministic_score(score_func: Any) -> bool:
    if isinstance(score_func, functools.partial):
        if score_func.func in _SEEDED_SCORES:
            return _is_int(score_func.keywords.get("random_state"))
        return _deterministic_score(score_func.func)
    return any(score_func is f for f in _DETERMINISTIC_SCORES)


class SelectKBestPath(TransformerPath):
    """``SelectKBest(k=...)`` for several k from one run of the score function."""

    name = "select_k_best_k"
    param = "k"
    estimator_types = (SelectKBest,)

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        if not _deterministic_score(estimator.score_func) or not _default_output(estimator):
            return []
        group = [i for i, k in enumerate(values) if k == "all" or (_is_int(k) and k >= 0)]
        return [group] if len(group) >= 2 else []

    def fit_transform_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[tuple[Any, Any]]:
        # k="all": the one value for which ``fit`` never warns about k.
        scored = clone(estimator).set_params(k="all")
        if y is None:
            scored.fit(X, **fit_params)
        else:
            scored.fit(X, y, **fit_params)
        state = _fitted_state(scored)
        out = []
        for k in values:
            view = _view(estimator, self.param, k, state)
            # ``fit``'s only use of k: the k > n_features warning.
            view._check_params(np.empty((0, scored.n_features_in_)), y)
            out.append((view, view.transform(X)))
        return out


register(PCAPath())
register(SelectKBestPath())
