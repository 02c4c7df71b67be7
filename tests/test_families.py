"""Every registered path family passes the shipped family contract (gridfold.testing.families).

One line per family: a case it must share exactly, and a fallback case it must
decline (the condition its exactness rests on, failed). A family that is
registered without a line here fails ``test_every_family_has_a_line``.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.feature_selection import SelectKBest, mutual_info_classif
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsClassifier

from gridfold.sharing.base import families, family
from gridfold.testing import FAMILY_CHECKS, check_family
from gridfold.testing.families import FamilyCase, check_fallback

CLF = make_classification(n_samples=150, n_features=6, n_informative=4, random_state=0)
REG = make_regression(n_samples=150, n_features=6, noise=1.0, random_state=0)
clf = functools.partial(FamilyCase, X=CLF[0], y=CLF[1])
reg = functools.partial(FamilyCase, X=REG[0], y=REG[1], classifier=False)


def _distance_weights(distances: Any) -> Any:
    return 1.0 / (1.0 + distances)  # a callable: the family cannot promise it


#: family name -> (a case it must share, a case it must decline)
TABLE: dict[str, tuple[FamilyCase, FamilyCase]] = {
    "forest_n_estimators": (
        clf(RandomForestClassifier(random_state=0), [3, 6, 10]),
        clf(RandomForestClassifier(random_state=None), [3, 6]),  # no integer seed
    ),
    "gradient_boosting_n_estimators": (
        clf(GradientBoostingClassifier(random_state=0), [5, 10, 20]),
        clf(GradientBoostingClassifier(random_state=None), [5, 10]),
    ),
    "hist_gradient_boosting_max_iter": (
        clf(HistGradientBoostingClassifier(random_state=0, early_stopping=False), [5, 10, 20]),
        clf(HistGradientBoostingClassifier(random_state=None, max_features=0.5), [5, 10]),
    ),
    "knn_n_neighbors": (
        clf(KNeighborsClassifier(), [1, 3, 7]),
        clf(KNeighborsClassifier(weights=_distance_weights), [1, 3]),
    ),
    "ridge_alpha": (
        reg(Ridge(), [0.1, 1.0, 10.0]),
        reg(Ridge(solver="sag", random_state=0), [0.1, 1.0]),  # an iterative solver
    ),
    "pca_n_components": (
        clf(PCA(svd_solver="full"), [2, 3, 4]),
        clf(PCA(svd_solver="randomized", random_state=0), [2, 3]),
    ),
    "select_k_best_k": (
        clf(SelectKBest(), [2, 3, 4]),
        clf(SelectKBest(score_func=mutual_info_classif), [2, 3]),  # random scores
    ),
}


def test_every_family_has_a_line() -> None:
    # gridfold's own: other test modules register families of their own test estimators.
    builtin = [f.name for f in families() if type(f).__module__.startswith("gridfold.")]
    assert sorted(builtin) == sorted(TABLE)


@pytest.mark.parametrize("check", list(FAMILY_CHECKS.values()), ids=list(FAMILY_CHECKS))
@pytest.mark.parametrize("name", list(TABLE))
def test_family_contract(name: str, check: Any) -> None:
    check(family(name), TABLE[name][0])


@pytest.mark.parametrize("name", list(TABLE))
def test_family_falls_back(name: str) -> None:
    check_fallback(family(name), TABLE[name][1])


def test_check_family_catches_a_family_that_is_not_exact() -> None:
    from gridfold.sharing.forest import ForestPath

    class OffByOne(ForestPath):
        """Each view keeps one tree too many: predicts like the next value's forest."""

        def fit_views(self, estimator: Any, values: Any, X: Any, y: Any, fit_params: Any) -> Any:
            return super().fit_views(estimator, [v + 1 for v in values], X, y, fit_params)

    case, fallback = TABLE["forest_n_estimators"]
    check_family(ForestPath(), case, fallback)
    with pytest.raises(AssertionError, match="views_equal_separate_fits"):
        check_family(OffByOne(), case)
