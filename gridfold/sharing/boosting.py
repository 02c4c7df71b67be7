"""Gradient boosting: ``n_estimators`` / ``max_iter`` from one boosting run per split.

A boosting run is a sequence of stages, each fitted to the residuals of the
stages before it; the first ``k`` stages of an ``N``-stage run are the stages
of a ``k``-stage run when nothing that happens at stage ``i`` depends on the
total. What that rests on, in scikit-learn 1.9's sources:

``GradientBoosting*`` (``sklearn/ensemble/_gb.py``)
    * Randomness: ``fit`` creates ``self._rng = check_random_state(random_state)``
      once, before the stages; ``_fit_stages`` draws stage ``i``'s subsample
      (``_random_sample_mask``, only if ``subsample < 1``) from it, and each
      stage's ``DecisionTreeRegressor`` gets that same ``RandomState`` (its
      feature order and ``max_features`` draws). So stage ``i`` sees the state
      left by stages ``0..i-1``, whatever ``n_estimators`` is. The trees draw
      from it even with ``max_features=None`` (the best splitter permutes the
      features), hence an integer ``random_state`` is always required.
    * Early stopping (``n_iter_no_change``): the validation split is
      ``train_test_split(random_state=self.random_state)``, independent of
      ``n_estimators``; the stop test at stage ``i`` compares that stage's
      validation loss with ``loss_history`` (length ``n_iter_no_change``), so a
      run that stops after ``s`` stages answers every ``k`` with
      ``min(k, s)`` stages, as a separate fit would.
    * ``init``: ``None`` or ``"zero"`` (fitted ``Dummy*``/zeros, deterministic).
      An estimator is fitted in place as ``init_`` and may itself be random:
      not shared.
    * Views: ``_raw_predict`` is ``_raw_predict_init`` (``init_``, ``_loss``,
      ``n_trees_per_iteration_``) plus ``predict_stages(estimators_, ...)``,
      which adds the stages' outputs row by row in stage order (dense and
      sparse); ``predict``/``predict_proba``/``decision_function`` only
      post-process that. A view is the fit with ``estimators_[:n]``,
      ``train_score_[:n]``, the OOB arrays ``[:n]``, ``oob_score_``,
      ``n_estimators_`` and ``n_estimators`` set as the separate fit sets them.
      (``_rng`` and a Huber loss's ``delta`` keep the longest run's state; no
      prediction reads them.)
    * ``monitor`` passed to ``fit`` may stop on anything: fitted separately.

``HistGradientBoosting*`` (``_hist_gradient_boosting/gradient_boosting.py``)
    * Randomness: ``fit`` draws exactly two seeds up front from
      ``check_random_state(random_state)`` (``_random_seed``, the feature
      subsampling generator's seed), whatever ``max_iter`` is. ``_random_seed``
      feeds the early-stopping validation split, the scorer's small train
      subset (``_get_small_trainset``) and the bin mapper's subsample (only when
      more than ``2e5`` rows); the ``default_rng`` is drawn from per split node
      only when ``max_features < 1``. Without any of these, no draw reaches the
      model, and ``random_state`` may be anything; otherwise it must be an int.
    * Early stopping (``early_stopping=True``, or ``'auto'`` with more than
      10 000 training rows): ``_should_stop`` looks only at the scores so far,
      which are computed on the model so far (``_predictors``, grown in
      place). A named scorer or ``'loss'`` reads nothing else; a callable
      ``scoring`` might (``max_iter`` itself, say): not shared.
    * Views: ``_raw_predict`` is ``_baseline_prediction`` plus
      ``_predict_iterations(self._predictors, ...)``, adding each iteration's
      trees in order; ``n_iter_`` is ``len(_predictors)``. A view is the fit
      with ``_predictors[:n]``, ``max_iter=k`` and ``train_score_`` /
      ``validation_score_`` cut to ``n + 1`` entries (the first is the model
      before any tree) when early stopping recorded them. Scorer-based early
      stopping (``_patch_raw_predict``) leaves ``_raw_predict`` in the
      instance ``__dict__`` bound to the fitted model: views rebind it.

The fits use OpenMP (HGB) with static schedules, so a fit is reproducible at a
given thread count; the shared fit runs where the separate fit would have.
"""

from __future__ import annotations

import copy
import numbers
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from gridfold.sharing.base import PathFamily, register

__all__ = ["GradientBoostingPath", "HistGradientBoostingPath"]

#: ``early_stopping='auto'`` turns on above this many training rows.
_HGB_AUTO_EARLY_STOPPING_ROWS = 10_000
#: ``_BinMapper`` subsamples (with ``_random_seed``) above this many rows.
_HGB_BINNING_SUBSAMPLE = 200_000


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _valid_group(values: Sequence[Any]) -> list[list[int]]:
    """One group of the values a fit accepts (ints >= 1); the rest fit alone."""
    valid = [i for i, v in enumerate(values) if _is_int(v) and int(v) >= 1]
    return [valid] if len(valid) >= 2 else []


def _copy(model: Any) -> Any:
    """A shallow copy whose methods stored on the instance are bound to the copy.

    HGB's scorer-based early stopping (``_patch_raw_predict``) leaves
    ``_raw_predict`` in the instance ``__dict__``, bound to the fitted model;
    a plain copy would keep predicting with the model's full ``_predictors``.
    """
    view = copy.copy(model)
    for name, value in vars(model).items():
        if isinstance(value, types.MethodType) and value.__self__ is model:
            setattr(view, name, types.MethodType(value.__func__, view))
    return view


def _separate_fits(
    estimator: Any, param: str, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
) -> list[Any]:
    return [clone(estimator).set_params(**{param: v}).fit(X, y, **fit_params) for v in values]


class GradientBoostingPath(PathFamily):
    """``GradientBoosting*.n_estimators``: the first stages of the longest run."""

    name = "gradient_boosting_n_estimators"
    param = "n_estimators"
    estimator_types = (GradientBoostingClassifier, GradientBoostingRegressor)

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        init = estimator.init
        exact = _is_int(estimator.random_state) and (
            init is None or (isinstance(init, str) and init == "zero")
        )
        return _valid_group(values) if exact else []

    def fit_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[Any]:
        if set(fit_params) - {"sample_weight"}:  # a monitor may stop on anything
            return _separate_fits(estimator, self.param, values, X, y, fit_params)
        model = clone(estimator).set_params(n_estimators=max(int(v) for v in values))
        model.fit(X, y, **fit_params)
        return [_gb_view(model, int(v)) for v in values]


def _gb_view(model: Any, k: int) -> Any:
    """``model`` as a fit with ``n_estimators=k`` ends (``_gb.py``, end of ``fit``)."""
    n = min(k, model.n_estimators_)
    view = _copy(model)
    view.n_estimators = k
    view.n_estimators_ = n
    view.estimators_ = model.estimators_[:n]
    view.train_score_ = model.train_score_[:n]
    if hasattr(model, "oob_scores_"):
        view.oob_improvement_ = model.oob_improvement_[:n]
        view.oob_scores_ = model.oob_scores_[:n]
        view.oob_score_ = view.oob_scores_[-1]
    return view


class HistGradientBoostingPath(PathFamily):
    """``HistGradientBoosting*.max_iter``: the first iterations of the longest run."""

    name = "hist_gradient_boosting_max_iter"
    param = "max_iter"
    estimator_types = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        early = _hgb_early_stopping(estimator.early_stopping, n_train)
        if early and not (estimator.scoring is None or isinstance(estimator.scoring, str)):
            return []  # a callable scorer may read anything, max_iter included
        max_features = estimator.max_features
        random = (
            early
            or not (isinstance(max_features, numbers.Real) and float(max_features) >= 1.0)
            or n_train > _HGB_BINNING_SUBSAMPLE
        )
        if random and not _is_int(estimator.random_state):
            return []
        return _valid_group(values)

    def fit_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[Any]:
        model = clone(estimator).set_params(max_iter=max(int(v) for v in values))
        model.fit(X, y, **fit_params)
        return [_hgb_view(model, int(v)) for v in values]


def _hgb_early_stopping(early_stopping: Any, n_train: int) -> bool:
    """``do_early_stopping_`` as ``fit`` sets it (unknown values count as on)."""
    if isinstance(early_stopping, str):
        return early_stopping != "auto" or n_train > _HGB_AUTO_EARLY_STOPPING_ROWS
    if isinstance(early_stopping, bool | np.bool_):
        return bool(early_stopping)
    return True


def _hgb_view(model: Any, k: int) -> Any:
    """``model`` as a fit with ``max_iter=k`` ends."""
    n = min(k, model.n_iter_)
    view = _copy(model)
    view.max_iter = k
    view._predictors = model._predictors[:n]
    view.train_score_ = model.train_score_[: n + 1]
    view.validation_score_ = model.validation_score_[: n + 1]
    return view


register(GradientBoostingPath())
register(HistGradientBoostingPath())
