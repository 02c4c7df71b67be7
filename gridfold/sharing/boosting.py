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

Threads (HGB's OpenMP): a fit's result does not depend on how many threads run
it. Every ``prange`` in ``_hist_gradient_boosting`` is element-wise, with no
sum across threads: per feature (``histogram.pyx`` lines 170 and 270, each
feature's histogram summed over its samples in order by one thread;
``splitting.pyx`` line 519, the best feature then picked sequentially by
``_find_best_feature_to_split_helper``), per sample (``_loss.pyx.tp`` gradients
and losses, ``_predictor.pyx``, ``_binning.pyx``), per leaf
(``_gradient_boosting.pyx`` line 56), or per thread chunk of a node's samples
in ``split_indices`` (``splitting.pyx`` lines 353-420), whose chunks are copied
back in thread order, a stable partition whatever the chunking. The root's sums
(``grower.py`` line 429: the bins of one feature's histogram) and the mean loss
are NumPy calls in the caller's thread. ``tests/test_path_boosting.py`` fits
with every thread count from 1 to 4 that OpenMP grants and compares the models
attribute for attribute. So a view fitted in a one-thread worker is the model a
refit on every core of the caller gives, and
:meth:`HistGradientBoostingPath.refit_exact` may say so: a view is then that
model in every attribute, once :meth:`HistGradientBoostingPath.in_caller` has
set the thread count the bin mapper records to the caller's (``n_iter_`` is
``len(_predictors)``; the two seeds are drawn before the first iteration),
unless ``max_features < 1`` moves the feature subsampling generator on with
every split, ``verbose`` prints, or ``random_state`` is not an integer (the
seeds, kept in ``_random_seed``, would come from the worker's global generator,
not the caller's).
``GradientBoosting*`` views are not refit-exact: ``_rng`` (used again by a
warm start) is drawn from at every stage, so a view's is ahead of a shorter
fit's.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
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

from gridfold._sklearn import openmp_effective_n_threads
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
        return [_gb_view(model, v) for v in values]


def _gb_view(model: Any, value: Any) -> Any:
    """``model`` as a fit with ``n_estimators=value`` ends (``_gb.py``, end of ``fit``)."""
    n = min(int(value), model.n_estimators_)
    view = _copy(model)
    view.n_estimators = value
    view.n_estimators_ = n
    view.estimators_ = model.estimators_[:n]
    view.train_score_ = model.train_score_[:n].copy()
    if hasattr(model, "oob_scores_"):
        view.oob_improvement_ = model.oob_improvement_[:n].copy()
        view.oob_scores_ = model.oob_scores_[:n].copy()
        view.oob_score_ = view.oob_scores_[-1]
    return view


class HistGradientBoostingPath(PathFamily):
    """``HistGradientBoosting*.max_iter``: the first iterations of the longest run."""

    name = "hist_gradient_boosting_max_iter"
    param = "max_iter"
    estimator_types = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    shares_scoring = True  # prefix sums of the raw predictions (scoring_views)

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
        return [_hgb_view(model, v) for v in values]

    def scoring_views(self, views: list[Any]) -> list[Any]:
        staged = _StagedRaw(views)
        for view in views:
            view._raw_predict = functools.partial(staged.raw, view)
        return views

    def in_caller(self, view: Any) -> Any:
        # The bin mapper keeps the thread count of the fit (it bins at predict time too):
        # scikit-learn's refit runs in the caller, with its OpenMP threads.
        view._bin_mapper = copy.copy(view._bin_mapper)
        view._bin_mapper.n_threads = openmp_effective_n_threads()
        return view

    def refit_exact(self, estimator: Any, values: Sequence[Any]) -> bool:
        # An integer random_state: else fit draws its two seeds from the caller's global
        # generator (kept in _random_seed), which a worker's fit would not move on.
        # The feature subsampling generator is drawn from per split node, so a view's
        # would be ahead of a shorter fit's; verbose would print from a worker.
        max_features = estimator.max_features
        return (
            _is_int(estimator.random_state)
            and isinstance(max_features, numbers.Real)
            and float(max_features) >= 1.0
            and not estimator.verbose
        )


def _hgb_early_stopping(early_stopping: Any, n_train: int) -> bool:
    """``do_early_stopping_`` as ``fit`` sets it (unknown values count as on)."""
    if isinstance(early_stopping, str):
        return early_stopping != "auto" or n_train > _HGB_AUTO_EARLY_STOPPING_ROWS
    if isinstance(early_stopping, bool | np.bool_):
        return bool(early_stopping)
    return True


def _hgb_view(model: Any, value: Any) -> Any:
    """``model`` as a fit with ``max_iter=value`` ends.

    ``max_iter`` is the very value object, as ``set_params`` leaves it; the
    score arrays are copies, owning their data as a fit's do.
    """
    n = min(int(value), model.n_iter_)
    view = _copy(model)
    view.max_iter = value
    view._predictors = model._predictors[:n]
    view.train_score_ = model.train_score_[: n + 1].copy()
    view.validation_score_ = model.validation_score_[: n + 1].copy()
    return view


register(GradientBoostingPath())
register(HistGradientBoostingPath())


@dataclasses.dataclass
class _RunningSum:
    """The raw predictions of one array after the first ``done`` iterations."""

    X: Any  # kept, so that its id is not reused while it is a key
    raw: np.ndarray
    done: int


class _StagedRaw:
    """Raw predictions of one HGB run's views on the arrays they are scored on.

    Every view of ``n`` iterations computes ``_raw_predict(X)`` as the
    baseline plus the first ``n`` iterations' trees, added in order
    (``_raw_predict``, ``_predict_iterations``): the views of one run repeat
    each other's work. Here each array keeps one running sum, and a view adds
    only the trees past it: the same trees, in the same order, to the same
    start array, hence the very array its own call computes. Views asked in
    increasing length (a grid's usual order) add every tree once per array;
    a shorter view asked after a longer one computes its own, as without
    sharing. ``X`` is validated on every call, as ``_raw_predict`` does.
    Keyed on the array object (a worker scores every view on one test array,
    and one train array for train scores); at most two arrays are kept, each
    one running sum, so the memory is that of two predictions.
    """

    _KEEP = 2

    def __init__(self, views: Sequence[Any]) -> None:
        self.predictors = max((v._predictors for v in views), key=len)
        self._sums: dict[int, _RunningSum] = {}

    def raw(self, view: Any, X: Any, n_threads: int | None = None) -> np.ndarray:
        checked = view._preprocess_X(X, reset=False)
        threads = openmp_effective_n_threads(n_threads)
        n = len(view._predictors)
        entry = self._sums.get(id(X))
        if entry is None or entry.X is not X:
            if len(self._sums) >= self._KEEP:
                self._sums.pop(next(iter(self._sums)))
            entry = self._sums[id(X)] = _RunningSum(X, _start(view, checked), 0)
        if n < entry.done:  # already past it: this view's own sum
            raw = _start(view, checked)
            view._predict_iterations(checked, view._predictors, raw, False, threads)
            return raw
        new_trees = self.predictors[entry.done : n]
        view._predict_iterations(checked, new_trees, entry.raw, False, threads)
        entry.done = n
        return entry.raw.copy(order="F")


def _start(model: Any, X: Any) -> np.ndarray:
    """The raw predictions before any tree, as ``_raw_predict`` starts them."""
    raw = np.zeros(
        shape=(X.shape[0], model.n_trees_per_iteration_),
        dtype=model._baseline_prediction.dtype,
        order="F",
    )
    raw += model._baseline_prediction
    return raw
