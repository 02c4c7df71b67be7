"""Random forests and extra trees: ``n_estimators`` from one forest per split.

Why it is exact (scikit-learn's ``BaseForest.fit``): tree seeds are drawn in
order from one ``check_random_state(random_state)``, one per tree, and each
tree's bootstrap sample depends only on its own seed; so with an integer
``random_state`` the first n trees of an N-tree forest are the trees of an
n-tree forest. ``predict``/``predict_proba`` add the trees' outputs in tree
order and divide by the number of trees; a view holding the first n trees
runs that same code. With ``n_jobs`` > 1 the forest adds its trees' outputs in
threads, in no fixed order, so then not even two scikit-learn fits agree bit
for bit; the path is used only for ``n_jobs`` None or 1. ``warm_start`` is
irrelevant to a fresh fit and ``oob_score`` does not change predictions.

A view is the N-tree forest (``copy.copy``) with ``estimators_[:n]`` and
``n_estimators=n``; every other attribute ``fit`` sets (``estimator_``,
``n_features_in_``, ``feature_names_in_``, ``n_outputs_``, ``classes_``,
``n_classes_``, ``_n_samples``, ``_sample_weight``, ``_n_samples_bootstrap``)
depends on the data and the other parameters only (``BaseForest.fit``, lines
360-455), so a view is the separately fitted forest itself and may stand in
for a search's refit (:meth:`ForestPath.refit_exact`) - except with
``oob_score``, whose ``oob_score_`` and ``oob_decision_function_`` average
over every tree grown, and with ``verbose``, which would print from a worker.

Growing a fitted forest (:class:`ForestGrowth`, for halving rungs that
continue: :mod:`gridfold.sharing.continuation`) is ``fit`` with
``warm_start=True`` and the larger ``n_estimators`` on a copy of the smaller
forest. ``BaseForest.fit`` then keeps the fitted trees, draws (and discards)
one seed per kept tree from ``check_random_state(random_state)``, "to get the
random state we would have got if we hadn't used a warm_start" (its comment),
and grows the rest with the seeds a fresh fit would give them; every other
attribute is set from the data as in a fresh fit, and ``oob_score_`` is
computed over all the trees. So with an integer ``random_state`` the grown
forest is the fresh one, trees and attributes alike, once ``warm_start`` is
set back. The same conditions as the path hold (``n_jobs`` None or 1, an
integer seed), and ``class_weight`` is not ``"balanced"`` or
``"balanced_subsample"``: with those a warm start warns that the weights may
differ from the full data's, which a fresh fit does not say (they do not
differ here: the data are the same), and ``verbose`` is off (a grown forest
prints "building tree i of 18" for the trees it adds, a fresh one "of 27" for
every tree). A budget
equal to the start's is the start itself: no tree is added, and no fit is
made (``fit`` would warn that warm-starting added no trees, which a fresh fit
does not).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from typing import Any

from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from gridfold.sharing.base import PathFamily, register
from gridfold.sharing.continuation import Growth, register_growth

__all__ = ["ForestPath", "ForestGrowth"]

_FORESTS = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)


_WARM_START_WARNS = ("balanced", "balanced_subsample")


def _seeded(estimator: Any) -> bool:
    """An integer ``random_state`` and no threads adding up the trees' outputs."""
    seed = estimator.random_state
    return (
        isinstance(seed, numbers.Integral)
        and not isinstance(seed, bool)
        and estimator.n_jobs in (None, 1)
    )


class ForestPath(PathFamily):
    name = "forest_n_estimators"
    param = "n_estimators"
    estimator_types = _FORESTS

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        exact = _seeded(estimator) and all(
            isinstance(v, numbers.Integral) and int(v) >= 1 for v in values
        )
        return [list(range(len(values)))] if exact else []

    def refit_exact(self, estimator: Any, values: Sequence[Any]) -> bool:
        return not estimator.oob_score and not estimator.verbose

    def fit_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[Any]:
        forest = clone(estimator).set_params(n_estimators=max(values))
        forest.fit(X, y, **fit_params)
        views = []
        for n in values:
            view = copy.copy(forest)
            view.n_estimators = n
            view.estimators_ = forest.estimators_[:n]
            views.append(view)
        return views


register(ForestPath())


class ForestGrowth(Growth):
    """A seeded forest grown to more trees by ``warm_start`` (see the module docstring)."""

    name = "forest_n_estimators"
    param = "n_estimators"
    estimator_types = _FORESTS

    def exact(self, estimator: Any) -> bool:
        # A "balanced" class_weight makes a warm start warn, which a fresh fit does not.
        weights = getattr(estimator, "class_weight", None)  # regressors have none
        return _seeded(estimator) and weights not in _WARM_START_WARNS and not estimator.verbose

    def grow(self, start: Any, estimator: Any, X: Any, y: Any, fit_params: dict[str, Any]) -> Any:
        n_trees = estimator.n_estimators
        if not isinstance(n_trees, numbers.Integral) or n_trees < len(start.estimators_):
            return estimator.fit(X, y, **fit_params)  # nothing to continue: a fresh fit
        grown = copy.copy(start)
        grown.estimators_ = list(start.estimators_)  # fit extends the list: keep start's
        params = estimator.get_params(deep=False)  # the candidate's own value objects
        if n_trees == len(start.estimators_):
            return grown.set_params(**params)
        grown.set_params(**{**params, "warm_start": True})
        grown.fit(X, y, **fit_params)
        return grown.set_params(warm_start=params["warm_start"])


register_growth(ForestGrowth())
