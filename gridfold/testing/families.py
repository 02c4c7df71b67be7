"""The path-family contract, as checks every family must pass.

A family (:mod:`gridfold.sharing.base`) promises that one fit answers several
candidates *exactly*, and that it declines whenever it cannot promise that.
Each ``check_*`` function takes a registered family and a :class:`FamilyCase`
(an estimator, the path values, data) and raises ``AssertionError`` if:

- the family's views do not predict (or transform) bit for bit as separately
  fitted estimators, for every method a scorer may call;
- the views it scores (:meth:`~gridfold.sharing.base.PathFamily.scoring_views`)
  do not either;
- it does not group the case's values (the case is one it must share);
- it says a refit view is the separate fit (``refit_exact``) and a fitted
  attribute differs;
- gridfold's search with sharing on does not give scikit-learn's ``cv_results_``;
- and, for a fallback case (a setting the family must decline: no integer
  ``random_state``, a solver it does not reproduce...), it groups the values
  anyway, or the search then differs from scikit-learn's.

A new family is one module and one line in ``tests/test_families.py``'s
table, which runs :func:`check_family` on every registered family::

    from gridfold.testing import check_family
    check_family(my_family, FamilyCase(MyEstimator(seed=0), [1, 2, 4], X, y),
                 fallback=FamilyCase(MyEstimator(seed=None), [1, 2, 4], X, y))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from gridfold.sharing.base import PathFamily, TransformerPath
from gridfold.testing._asserts import assert_same_state

__all__ = ["FAMILY_CHECKS", "FamilyCase", "check_family"]

Family = PathFamily | TransformerPath

#: Methods a scorer (or a pipeline's next step) may call on a fitted view.
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")


@dataclass(frozen=True)
class FamilyCase:
    """An estimator, the values of the family's parameter, and data to fit them on.

    ``classifier`` picks stratified folds for the end-to-end search;
    ``n_splits`` its folds.
    """

    estimator: Any
    values: Sequence[Any]
    X: Any
    y: Any
    classifier: bool = True
    n_splits: int = 3

    def halves(self) -> tuple[Any, Any, Any, Any]:
        """Train on the first two thirds, test on the rest."""
        n = len(self.X) * 2 // 3
        return self.X[:n], self.y[:n], self.X[n:], self.y[n:]

    def separate(self, family: Family, value: Any) -> Any:
        """A separately fitted estimator with ``value``, as a candidate's own fit."""
        X, y, _, _ = self.halves()
        est = clone(self.estimator).set_params(**{family.param: value})
        return est.fit(X, y)


def _outputs(estimator: Any, X: Any) -> dict[str, Any]:
    out = {}
    for method in METHODS:
        if hasattr(estimator, method):
            try:
                out[method] = getattr(estimator, method)(X)
            except (AttributeError, NotImplementedError):  # e.g. proba of a hinge loss
                continue
    return out


def _assert_same_outputs(got: Any, expected: Any, X: Any, where: str) -> None:
    mine, theirs = _outputs(got, X), _outputs(expected, X)
    assert sorted(mine) == sorted(theirs), (where, sorted(mine), sorted(theirs))
    assert theirs, f"{where}: the estimator has none of {METHODS}"
    for method, value in theirs.items():
        np.testing.assert_array_equal(mine[method], value, err_msg=f"{where}.{method}", strict=True)


def _views(family: Family, case: FamilyCase) -> list[Any]:
    X, y, _, _ = case.halves()
    est = clone(case.estimator)
    if isinstance(family, TransformerPath):
        return [view for view, _ in family.fit_transform_views(est, case.values, X, y, {})]
    return family.fit_views(est, case.values, X, y, {})


def check_views_equal_separate_fits(family: Family, case: FamilyCase) -> None:
    _, _, X_test, _ = case.halves()
    views = _views(family, case)
    assert len(views) == len(case.values)
    for value, view in zip(case.values, views, strict=True):
        _assert_same_outputs(view, case.separate(family, value), X_test, f"{family.param}={value}")


def check_transformed_training_data_equals_separate_fit_transform(
    family: Family, case: FamilyCase
) -> None:
    if not isinstance(family, TransformerPath):
        return
    X, y, _, _ = case.halves()
    pairs = family.fit_transform_views(clone(case.estimator), case.values, X, y, {})
    for value, (_, Xt) in zip(case.values, pairs, strict=True):
        est = clone(case.estimator).set_params(**{family.param: value})
        np.testing.assert_array_equal(Xt, est.fit_transform(X, y), strict=True)


def check_scoring_views_equal_separate_fits(family: Family, case: FamilyCase) -> None:
    if not isinstance(family, PathFamily):
        return
    _, _, X_test, _ = case.halves()
    views = family.scoring_views(_views(family, case))
    # Scored in reverse order too: a view may reuse work cached by the one scored before.
    for value, view in reversed(list(zip(case.values, views, strict=True))):
        _assert_same_outputs(view, case.separate(family, value), X_test, f"{family.param}={value}")


def check_the_values_are_grouped(family: Family, case: FamilyCase) -> None:
    n_train = len(case.halves()[0])
    groups = family.partition(clone(case.estimator), case.values, n_train)
    assert any(len(g) >= 2 for g in groups), f"{family.name} shares nothing of {case.values}"
    indices = [i for g in groups for i in g]
    assert len(indices) == len(set(indices)), f"a value is in two groups: {groups}"


def check_refit_views_are_the_separate_fits(family: Family, case: FamilyCase) -> None:
    if not isinstance(family, PathFamily):
        return
    if not family.refit_exact(clone(case.estimator), case.values):
        return
    for value, view in zip(case.values, _views(family, case), strict=True):
        expected = case.separate(family, value)
        got = family.in_caller(view)
        assert repr(got.get_params()) == repr(expected.get_params())
        assert_same_state(got, expected, f"{family.param}={value}")


def _search_model(family: Family, case: FamilyCase) -> tuple[Any, dict[str, list[Any]]]:
    """The estimator and grid of a search over the case: a transformer goes in a pipeline."""
    if isinstance(family, TransformerPath):
        final = LogisticRegression(max_iter=500) if case.classifier else Ridge()
        pipe = Pipeline([("step", clone(case.estimator)), ("final", final)])
        return pipe, {f"step__{family.param}": list(case.values)}
    return clone(case.estimator), {family.param: list(case.values)}


def check_search_equals_sklearn(family: Family, case: FamilyCase) -> None:
    import gridfold

    estimator, grid = _search_model(family, case)
    splitter = StratifiedKFold if case.classifier else KFold
    cv = splitter(case.n_splits, shuffle=True, random_state=0)
    # Both sequential, fits in the same order: an estimator without a seed (a fallback
    # case) draws the same numbers from NumPy's global generator, seeded alike.
    with _global_seed(0):
        expected = SkGridSearchCV(estimator, grid, cv=cv).fit(case.X, case.y).cv_results_
    with _global_seed(0):
        got = gridfold.GridSearchCV(estimator, grid, cv=cv, share=True).fit(case.X, case.y)
    for key in ("mean_test_score", "rank_test_score", "params"):
        a, b = got.cv_results_[key], expected[key]
        if key == "params":
            assert repr(a) == repr(b), key
        else:
            np.testing.assert_array_equal(a, b, err_msg=key, strict=True)
    for s in range(case.n_splits):
        key = f"split{s}_test_score"
        np.testing.assert_array_equal(got.cv_results_[key], expected[key], err_msg=key)


@contextmanager
def _global_seed(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


#: Every check of the contract, by name (each takes the family and a case it must share).
FAMILY_CHECKS: dict[str, Callable[[Family, FamilyCase], None]] = {
    check.__name__.removeprefix("check_"): check
    for check in (
        check_the_values_are_grouped,
        check_views_equal_separate_fits,
        check_transformed_training_data_equals_separate_fit_transform,
        check_scoring_views_equal_separate_fits,
        check_refit_views_are_the_separate_fits,
        check_search_equals_sklearn,
    )
}


def check_fallback(family: Family, case: FamilyCase) -> None:
    """``case`` is one the family must decline: it groups nothing, and the search is exact."""
    n_train = len(case.halves()[0])
    groups = family.partition(clone(case.estimator), case.values, n_train)
    assert not [g for g in groups if len(g) >= 2], f"{family.name} shared {groups} of {case}"
    check_search_equals_sklearn(family, case)


def check_family(family: Family, case: FamilyCase, fallback: FamilyCase | None = None) -> None:
    """Run every check of the family contract on ``case``, and the fallback check.

    Parameters
    ----------
    family : PathFamily or TransformerPath
        The family (a registered one, or one about to be registered).
    case : FamilyCase
        Settings the family must share, exactly.
    fallback : FamilyCase, default=None
        Settings the family must decline (each family has a condition that
        can fail); checked with :func:`check_fallback`.

    Raises
    ------
    AssertionError
        Naming the first check the family fails.
    """
    checks: list[tuple[str, Callable[[], None]]] = [
        (name, functools.partial(check, family, case)) for name, check in FAMILY_CHECKS.items()
    ]
    if fallback is not None:
        checks.append(("fallback", functools.partial(check_fallback, family, fallback)))
    for name, run in checks:
        try:
            run()
        except AssertionError as exc:
            raise AssertionError(f"family check {name!r} failed on {family.name!r}: {exc}") from exc
