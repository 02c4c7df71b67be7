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

__all__ = ["ForestPath"]


class ForestPath(PathFamily):
    name = "forest_n_estimators"
    param = "n_estimators"
    estimator_types = (
        RandomForestClassifier,
        RandomForestRegressor,
        ExtraTreesClassifier,
        ExtraTreesRegressor,
    )

    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        seed = estimator.random_state
        exact = (
            isinstance(seed, numbers.Integral)
            and not isinstance(seed, bool)
            and estimator.n_jobs in (None, 1)
            and all(isinstance(v, numbers.Integral) and int(v) >= 1 for v in values)
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
