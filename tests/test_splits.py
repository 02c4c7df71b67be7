"""Split parts cut once per process (:mod:`gridfold.splits`): the same data as every fit's own cut.

Each case runs scikit-learn's search and gridfold's on every backend and
compares ``cv_results_`` (timings aside) and the warnings word for word,
failed fits' tracebacks included; the conditions under which parts are not
cut are checked one by one.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import BACKEND_IDS, BACKENDS, assert_cv_results_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KernelDensity
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold import splits
from gridfold.tasks import StudyData

X, y = load_iris(return_X_y=True)
CV = StratifiedKFold(3, shuffle=True, random_state=0)


class ScalesInPlace(ClassifierMixin, BaseEstimator):
    """Doubles its training X in place, then fits a tree: a fit that writes to its input."""

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth

    def fit(self, X: Any, y: Any) -> ScalesInPlace:
        X *= 2.0  # scikit-learn gives every fit its own cut, so this never leaks
        self.tree_ = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.tree_.predict(X * 2.0)


class FailsOnDepth(DecisionTreeClassifier):
    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> FailsOnDepth:
        if self.max_depth == 2:
            raise ValueError("no depth 2 here")
        return super().fit(X, y, **kwargs)


def _warnings(search: Any, X: Any, y: Any) -> list[tuple[str, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(X, y)
    return sorted(
        (w.category.__name__, re.sub(r"line \d+", "line N", str(w.message))) for w in caught
    )


CASES = {
    "in-place fit, train scores": (ScalesInPlace(), {"depth": [1, 2, 3]}, X, y, {}),
    "fortran-ordered X": (
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 3]},
        np.asfortranarray(X),
        y,
        {},
    ),
    "precomputed kernel (pairwise)": (
        SVC(kernel="precomputed"),
        {"C": [0.1, 1.0]},
        rbf_kernel(X),
        y,
        {},
    ),
    "failing fits": (FailsOnDepth(random_state=0), {"max_depth": [1, 2, 3]}, X, y, {}),
    "no y (unsupervised)": (
        KernelDensity(),
        {"bandwidth": [0.5, 1.0]},
        X,
        None,
        {"cv": KFold(3)},
    ),
}


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("case", list(CASES))
def test_cut_parts_give_sklearns_results(case: str, backend: str, n_jobs: int) -> None:
    est, grid, X_, y_, kwargs = CASES[case]
    kwargs = {"cv": CV, "return_train_score": True, **kwargs}
    expected = SkGridSearchCV(est, grid, **kwargs)
    got = gridfold.GridSearchCV(est, grid, backend=backend, n_jobs=n_jobs, **kwargs)
    expected_warnings = _warnings(expected, X_, y_)
    assert _warnings(got, X_, y_) == expected_warnings  # tracebacks word for word
    assert_cv_results_equal(got.cv_results_, expected.cv_results_)
    assert splits.split_parts(StudyData(X_, y_, tuple(kwargs["cv"].split(X_, y_)))) is not None


def _data(X_: Any, y_: Any = y) -> StudyData:
    return StudyData(X_, y_, tuple(CV.split(X, y)))


@pytest.mark.parametrize(
    "X_",
    [pd.DataFrame(X), sp.csr_matrix(X), X.tolist(), np.memmap],
    ids=["dataframe", "sparse", "list", "ndarray-subclass"],
)
def test_other_containers_are_cut_by_sklearn_per_fit(X_: Any, tmp_path: Any) -> None:
    if X_ is np.memmap:
        X_ = np.memmap(tmp_path / "x", dtype=X.dtype, mode="w+", shape=X.shape)
    assert splits.split_parts(_data(X_)) is None


def test_a_pandas_target_is_cut_by_sklearn_per_fit() -> None:
    assert splits.split_parts(_data(X, pd.Series(y))) is None


def test_data_above_the_budget_is_cut_per_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(X.copy())
    assert splits.split_parts(data) is not None
    monkeypatch.setattr(splits, "BUDGET_BYTES", X.nbytes)  # 3 splits of all rows > X
    assert splits.split_parts(_data(X.copy())) is None


def test_each_fit_gets_a_fresh_writeable_copy() -> None:
    parts = splits.SplitParts()
    cut_calls: list[int] = []

    def cut() -> tuple[Any, Any, Any, Any]:
        cut_calls.append(1)
        return X[:100], y[:100], X[100:], y[100:]

    first = parts.get(0, False, cut)
    first[0][:] = -1.0  # a fit writing to its input
    second = parts.get(0, False, cut)
    assert len(cut_calls) == 1
    np.testing.assert_array_equal(second[0], X[:100])
    assert second[0].flags.writeable and second[0].flags.owndata
    assert second[0] is not first[0]
