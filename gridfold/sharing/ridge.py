"""Ridge and RidgeClassifier: every ``alpha`` from one decomposition per split.

What a separate fit does (scikit-learn 1.9, ``sklearn/linear_model/_ridge.py``),
for dense numpy ``X`` and ``positive=False``:

1. ``Ridge.fit`` runs ``validate_data`` (float64/float32, ``force_writeable``);
   ``RidgeClassifier.fit`` runs ``_prepare_data`` instead: ``validate_data``, a
   ``LabelBinarizer(pos_label=1, neg_label=-1)`` that gives the targets ``Y``
   and ``classes_``, and a sample weight that is always an array (ones when
   None) multiplied by ``compute_sample_weight(class_weight, y)``.
2. ``_BaseRidge.fit`` checks ``sample_weight`` and calls ``_preprocess_data``
   (copy when ``copy_X``, centre ``X`` and ``y`` with the weighted means when
   ``fit_intercept``, ``rescale_with_sw=False``).
3. ``_ridge_regression`` resolves ``solver='auto'`` with
   ``resolve_solver_for_numpy``: ``lbfgs`` if ``positive``, ``sag`` if it must
   return the intercept (only sparse ``X`` with ``fit_intercept`` and
   ``solver='sag'``), ``cholesky`` for dense ``X``, ``sparse_cg`` for sparse.
   It rescales ``X`` and ``y`` by the square root of the sample weights
   (``_rescale_data``, not in place), casts ``alpha`` to ``X.dtype`` and, with
   several targets, repeats it once per target (``xp.full``).
4. ``cholesky``: with ``n_features > n_samples`` it forms ``K = X Xᵀ`` and
   calls ``_solve_cholesky_kernel`` (adds ``alpha`` to the diagonal, solves
   ``assume_a="pos"``, least squares with a warning if that is singular),
   then ``coef = (Xᵀ dual).T``; otherwise ``_solve_cholesky`` forms
   ``A = XᵀX`` and ``Xᵀy``, adds ``alpha`` to A's diagonal and solves
   ``assume_a="pos", overwrite_a=True``. Only the *one alpha* branch runs:
   ``alpha`` is a scalar repeated per target. Either way a ``LinAlgError``
   switches the fit to ``svd`` (and ``solver_`` says so).
5. ``svd`` (``_solve_svd``): ``U, s, Vt = svd(X)``, ``d = s / (s**2 + alpha)``
   on ``s > 1e-15``, ``coef = (Vt.T @ (d * Uᵀy)).T``.
6. ``coef_`` is raveled for one target, ``n_iter_`` is None, and
   ``_set_intercept(X_offset, y_offset, X_scale)`` sets ``intercept_``.

Steps 1-3 and the ``alpha``-free part of 4-5 (``K``, ``A`` and ``Xᵀy``; ``U``,
``s``, ``Vt`` and ``Uᵀy``) do not depend on ``alpha``: they run once per split,
through scikit-learn's own helpers. Per ``alpha`` this module runs exactly the
operations a separate fit runs on the same arrays (a fresh copy of ``K`` or
``A`` gets ``alpha`` added to its diagonal and is solved by the same call; the
SVD solve is repeated step by step for that ``alpha``), so ``coef_`` and
``intercept_`` are bit-identical to a separate fit. The ``svd`` solver can
take every alpha at once (one column each), but one matrix product over all
columns does not round as one product per column does (measured: up to
1e-16 apart), so it is not used that way; nor is ``_solve_cholesky``'s
one-alpha-per-target loop (also measured 1e-16 apart from single fits).

Not shared (``partition`` returns ``[]``): ``positive=True`` (``lbfgs``), the
iterative solvers (``sparse_cg``, ``lsqr``, ``sag``, ``saga``, ``lbfgs``) and
non-scalar ``alpha`` (one penalty per target). Values that would fail
validation (negative, NaN) are left to their own fits. ``fit_views`` fits the
candidates one by one (exact by construction) when ``X`` is sparse (then
``auto`` resolves to ``sparse_cg`` or ``sag``) or array API dispatch is on.
The code above is read from scikit-learn 1.9; other versions are not shared.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import sklearn
from scipy import linalg, sparse
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.utils import check_consistent_length
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import validate_data

from gridfold._sklearn import (
    _check_sample_weight,
    _get_valid_accept_sparse,
    _preprocess_data,
    _ravel,
    _rescale_data,
    _solve_cholesky_kernel,
    device,
    get_namespace_and_device,
    move_to,
    resolve_solver,
)
from gridfold.sharing.base import PathFamily, register

__all__ = ["RidgePath"]

#: scikit-learn versions whose ridge code the module docstring was read from.
_READ_FROM = ((1, 9),)
_SOLVERS = ("auto", "cholesky", "svd")


def _sklearn_version() -> tuple[int, int]:
    major, minor = sklearn.__version__.split(".")[:2]
    return int(major), int(minor)


def _shareable_alpha(value: Any) -> bool:
    """A scalar that ``Interval(Real, 0, None, closed="left")`` accepts."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and float(value) >= 0
    )


class RidgePath(PathFamily):
    name = "ridge_alpha"
    param = "alpha"
    estimator_types = (Ridge, RidgeClassifier)

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        if _sklearn_version() not in _READ_FROM:
            return []
        if estimator.positive or estimator.solver not in _SOLVERS:
            return []
        if get_config()["array_api_dispatch"]:
            return []
        group = [i for i, v in enumerate(values) if _shareable_alpha(v)]
        return [group] if len(group) >= 2 else []

    def fit_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[Any]:
        base = clone(estimator)
        views = []
        for value in values:  # as clone(estimator).set_params(alpha=value), without the
            view = copy.deepcopy(base)  # signature inspection that costs more than a solve
            view.alpha = value
            views.append(view)
        if (
            sparse.issparse(X)
            or set(fit_params) - {"sample_weight"}
            or get_config()["array_api_dispatch"]
        ):
            return [view.fit(X, y, **fit_params) for view in views]
        # As ``_fit_context(prefer_skip_nested_validation=True)`` around ``fit``.
        if not get_config()["skip_parameter_validation"]:
            for view in views:
                view._validate_params()
        with config_context(skip_parameter_validation=True):
            _fit_shared(views, X, y, fit_params.get("sample_weight"))
        return views


def _fit_shared(views: list[Any], X: Any, y: Any, sample_weight: Any) -> None:
    """Fit every view as its own ``fit(X, y, sample_weight)`` would, sharing the work."""
    first = views[0]
    before = set(vars(first))
    # Step 1: Ridge.fit / RidgeClassifier.fit up to _BaseRidge.fit.
    if isinstance(first, RidgeClassifier):
        X, _, sample_weight, y = first._prepare_data(X, y, sample_weight, first.solver)
    else:
        accept_sparse = _get_valid_accept_sparse(sparse.issparse(X), first.solver)
        xp, _, device_ = get_namespace_and_device(X)
        y, sample_weight = move_to(y, sample_weight, xp=xp, device=device_)
        X, y = validate_data(
            first,
            X,
            y,
            accept_sparse=accept_sparse,
            dtype=[xp.float64, xp.float32],
            force_writeable=True,
            multi_output=True,
            y_numeric=True,
        )
    if sparse.issparse(X):  # only reachable through odd inputs: stay on the safe side
        raise TypeError("sparse X is fitted candidate by candidate")
    learned = {k: v for k, v in vars(first).items() if k not in before}
    for view in views[1:]:
        for key, value in learned.items():
            setattr(view, key, copy.deepcopy(value))

    # Step 2: _BaseRidge.fit (dense X, positive=False: solver is self.solver).
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    X, y, X_offset, y_offset, X_scale, _ = _preprocess_data(
        X,
        y,
        fit_intercept=first.fit_intercept,
        copy=first.copy_X,
        sample_weight=sample_weight,
        rescale_with_sw=False,
    )

    # Step 3: _ridge_regression before the solver runs.
    xp, _, device_ = get_namespace_and_device(X, y, sample_weight)
    solver = resolve_solver(first.solver, False, False, False, xp)
    if solver not in ("cholesky", "svd"):
        raise RuntimeError(f"solver {solver!r} is not shared")
    X = np.asarray(X)
    check_consistent_length(X, y)
    n_samples, n_features = X.shape
    if y.ndim > 2:
        raise ValueError(f"Target y has the wrong shape {y.shape}")
    if y.ndim == 1:
        y = xp.reshape(y, (-1, 1))
    n_targets = y.shape[1]
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        X, y, _ = _rescale_data(X, y, sample_weight)

    solve = _Solver(X, y, xp)
    for view in views:
        alpha = _ravel(xp.asarray(view.alpha, device=device_, dtype=X.dtype), xp=xp)
        if alpha.shape[0] == 1 and n_targets > 1:
            alpha = xp.full(
                shape=(n_targets,), fill_value=float(alpha[0]), dtype=alpha.dtype, device=device_
            )
        coef, solver_ = solve(solver, alpha)
        # Step 6.
        if n_targets == 1:
            coef = _ravel(coef)
        view.coef_, view.n_iter_, view.solver_ = xp.asarray(coef), None, solver_
        view._set_intercept(X_offset, y_offset, X_scale)


class _Solver:
    """The ``alpha``-free work of ``cholesky`` and ``svd``, done once, on demand."""

    def __init__(self, X: np.ndarray, y: np.ndarray, xp: Any) -> None:
        self.X, self.y, self.xp = X, y, xp
        self._gram: tuple[np.ndarray, np.ndarray | None] | None = None
        self._svd: tuple[Any, ...] | None = None

    def __call__(self, solver: str, alpha: Any) -> tuple[Any, str]:
        if solver == "cholesky":
            try:
                return self._cholesky(alpha), "cholesky"
            except linalg.LinAlgError:
                pass  # _ridge_regression: "use SVD solver if matrix is singular"
        return self._solve_svd(alpha), "svd"

    def _cholesky(self, alpha: Any) -> Any:
        X, y = self.X, self.y
        n_samples, n_features = X.shape
        if self._gram is None:
            if n_features > n_samples:
                self._gram = (safe_sparse_dot(X, X.T, dense_output=True), None)
            else:  # as _solve_cholesky
                A = safe_sparse_dot(X.T, X, dense_output=True)
                self._gram = (A, safe_sparse_dot(X.T, y, dense_output=True))
        gram, Xy = self._gram
        if Xy is None:
            # _solve_cholesky_kernel adds alpha to K's diagonal and takes it off again,
            # which need not restore K bit for bit: hand it a fresh copy each time.
            dual_coef = _solve_cholesky_kernel(gram.copy(order="K"), y, alpha)
            return safe_sparse_dot(X.T, dual_coef, dense_output=True).T
        # _solve_cholesky, "one_alpha" branch (alpha is one value repeated per target).
        if not np.array_equal(alpha, len(alpha) * [alpha[0]]):
            raise RuntimeError("one alpha per candidate expected")
        A = gram.copy(order="K")
        A.flat[:: n_features + 1] += alpha[0]
        return linalg.solve(A, Xy, assume_a="pos", overwrite_a=True).T

    def _solve_svd(self, alpha: Any) -> Any:
        # _solve_svd, split in two: the decomposition once, the rest per alpha.
        xp, X = self.xp, self.X
        if self._svd is None:
            U, s, Vt = xp.linalg.svd(X, full_matrices=False)
            idx = s > 1e-15  # same default value as scipy.linalg.pinv
            self._svd = (s, Vt, idx, s[idx][:, None], U.T @ self.y)
        s, Vt, idx, s_nnz, UTy = self._svd
        d = xp.zeros((s.shape[0], alpha.shape[0]), dtype=X.dtype, device=device(X))
        d[idx] = s_nnz / (s_nnz**2 + alpha)
        d_UT_y = d * UTy
        return (Vt.T @ d_UT_y).T


register(RidgePath())
