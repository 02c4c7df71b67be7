"""``gridfold.HalvingGridSearchCV`` / ``HalvingRandomSearchCV`` against scikit-learn's.

Each case fits scikit-learn's halving search and gridfold's with the same
arguments and asserts the same ``cv_results_`` (every key, dtype and value,
``iter`` and ``n_resources`` included; times excluded), the same halving
attributes, best candidate and warnings, and the same ``best_estimator_``
predictions. scikit-learn's own halving test module, run with gridfold's
classes swapped in, is ``tests/test_sklearn_halving_suite.py``.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_cv_results_equal
from scipy.stats import loguniform, randint
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge, SGDRegressor
from sklearn.model_selection import KFold
from sklearn.model_selection._search_successive_halving import (
    HalvingGridSearchCV as SkHalvingGridSearchCV,
)
from sklearn.model_selection._search_successive_halving import (
    HalvingRandomSearchCV as SkHalvingRandomSearchCV,
)
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from test_callbacks import ListCallback

import gridfold
from gridfold.exceptions import ParameterError
from gridfold.halving import HalvingGridSearchCV, HalvingRandomSearchCV
from gridfold.store import SQLiteStore

CLF = make_classification(n_samples=240, n_features=8, n_informative=4, random_state=0)
IRIS = load_iris(return_X_y=True)
DIABETES = tuple(a[:240] for a in load_diabetes(return_X_y=True))

ATTRIBUTES = (
    "best_index_",
    "best_params_",
    "best_score_",
    "n_resources_",
    "n_candidates_",
    "n_remaining_candidates_",
    "n_iterations_",
    "n_possible_iterations_",
    "n_required_iterations_",
    "max_resources_",
    "min_resources_",
    "n_splits_",
    "multimetric_",
)

PAIRS = {
    "grid": (SkHalvingGridSearchCV, HalvingGridSearchCV),
    "random": (SkHalvingRandomSearchCV, HalvingRandomSearchCV),
}


def _fit(search: Any, X: Any, y: Any) -> list[tuple[str, str]]:
    """Fit; return every warning raised, line numbers blanked (as tests/test_search_exact.py)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(X, y)
    return sorted(
        ((w.category.__name__, re.sub(r"line \d+", "line N", str(w.message))) for w in caught),
        key=str,
    )


def check_same(
    kind: str,
    make: Callable[[], Any],
    space: Any,
    X: Any,
    y: Any,
    n_jobs: int = 1,
    ours: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[Any, Any, list[tuple[str, str]]]:
    """Fit scikit-learn's and gridfold's search; assert everything equal; return both.

    ``ours`` holds gridfold's own options (``backend``, ``share``...).
    """
    sk_cls, gf_cls = PAIRS[kind]
    expected = sk_cls(make(), space, **kwargs)
    expected_warnings = _fit(expected, X, y)
    got = gf_cls(make(), space, n_jobs=n_jobs, **(ours or {}), **kwargs)
    got_warnings = _fit(got, X, y)

    assert_cv_results_equal(got.cv_results_, expected.cv_results_)
    assert "iter" in got.cv_results_ and "n_resources" in got.cv_results_
    for attr in ATTRIBUTES:
        assert hasattr(got, attr) == hasattr(expected, attr), attr
        if hasattr(expected, attr):
            assert getattr(got, attr) == getattr(expected, attr), attr
    assert got_warnings == expected_warnings
    assert hasattr(got, "best_estimator_") == hasattr(expected, "best_estimator_")
    if hasattr(expected, "best_estimator_"):
        assert np.array_equal(got.best_estimator_.predict(X), expected.best_estimator_.predict(X))
    return got, expected, got_warnings


# ---------------------------------------------------------------------------
# The same search as scikit-learn's
# ---------------------------------------------------------------------------

SVC_GRID = {"C": [0.1, 1, 10, 100], "gamma": [0.01, 0.1, 1]}


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["sequential", "processes"])
@pytest.mark.parametrize("min_resources", ["exhaust", "smallest"])
def test_classifier_n_samples(min_resources: str, n_jobs: int) -> None:
    got, _, _ = check_same(
        "grid",
        SVC,
        SVC_GRID,
        *CLF,
        n_jobs=n_jobs,
        min_resources=min_resources,
        random_state=0,
    )
    assert got.n_iterations_ > 1 and len(set(got.cv_results_["n_resources"])) > 1


def test_regressor_n_samples() -> None:
    check_same(
        "grid",
        Ridge,
        {"alpha": np.logspace(-3, 3, 9)},
        *DIABETES,
        cv=KFold(4),
        factor=2,
        random_state=1,
    )


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["sequential", "processes"])
def test_forest_n_estimators_resource(n_jobs: int) -> None:
    got, _, _ = check_same(
        "grid",
        lambda: RandomForestClassifier(random_state=0),
        {"max_depth": [2, 4, None], "min_samples_leaf": [1, 4, 8]},
        *IRIS,
        n_jobs=n_jobs,
        cv=3,
        resource="n_estimators",
        min_resources=2,
        max_resources=18,
    )
    assert got.n_resources_ == [2, 6, 18]
    # The refit is scikit-learn's: the best candidate at the largest budget.
    expected_params = {**RandomForestClassifier(random_state=0).get_params(), **got.best_params_}
    assert got.best_estimator_.get_params() == expected_params
    assert got.best_params_["n_estimators"] == 18


def test_regressor_max_iter_resource() -> None:
    got, _, _ = check_same(
        "grid",
        lambda: SGDRegressor(random_state=0, tol=None),
        {"alpha": [1e-4, 1e-2, 1], "penalty": ["l2", "l1"]},
        *DIABETES,
        cv=3,
        resource="max_iter",
        max_resources=18,
    )
    assert got.min_resources_ == 6  # "exhaust", 6 candidates: 2 rungs, 18 // 3


def test_classifier_max_iter_resource_warns_as_sklearn() -> None:
    # lbfgs stopped early warns ConvergenceWarning: the same warnings, as many.
    _, _, caught = check_same(
        "grid",
        lambda: LogisticRegression(tol=1e-8),
        {"C": [0.01, 0.1, 1, 10]},
        *IRIS,
        cv=3,
        resource="max_iter",
        min_resources=2,
        max_resources=18,
    )
    assert any(category == "ConvergenceWarning" for category, _ in caught)


@pytest.mark.parametrize("kind", ["grid", "random"])
def test_aggressive_elimination(kind: str) -> None:
    space: Any = SVC_GRID if kind == "grid" else {"C": loguniform(1e-2, 1e2)}
    extra = {} if kind == "grid" else {"n_candidates": 12}
    got, _, _ = check_same(
        kind,
        SVC,
        space,
        *CLF,
        aggressive_elimination=True,
        max_resources=90,
        min_resources=30,
        random_state=0,
        **extra,
    )
    # Eliminating aggressively: the first rungs repeat the smallest budget.
    assert got.n_resources_[:2] == [30, 30] and got.n_iterations_ > got.n_possible_iterations_


class FailsDeep(ClassifierMixin, BaseEstimator):
    """A tree that raises for ``depth`` 3: failing candidates that survive a rung or not."""

    def __init__(self, depth: int = 1, log: str = "") -> None:
        self.depth = depth
        self.log = log

    def fit(self, X: Any, y: Any) -> FailsDeep:
        if self.log:  # one line per fit, from whichever process ran it
            with open(self.log, "a") as f:
                f.write(f"{self.depth} {len(X)}\n")
        if self.depth == 3:
            raise ValueError("FailsDeep: depth 3 always fails")
        self.tree_ = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.tree_.predict(X)


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["sequential", "processes"])
def test_failing_candidates_score_nan_and_warn_as_sklearn(n_jobs: int) -> None:
    got, _, caught = check_same(
        "grid",
        FailsDeep,
        {"depth": [1, 2, 3, 4, 5, 6]},
        *IRIS,
        n_jobs=n_jobs,
        cv=3,
        error_score=np.nan,
        random_state=0,
    )
    # The same FitFailedWarning (its grouped tracebacks included) was compared above.
    assert FitFailedWarning.__name__ in [category for category, _ in caught]
    assert np.isnan(got.cv_results_["mean_test_score"]).sum() == 1  # depth 3, first rung


def test_error_score_raise_raises_sklearns_error() -> None:
    kwargs: dict[str, Any] = {"cv": 3, "error_score": "raise", "random_state": 0}
    grid = {"depth": [1, 3]}
    with pytest.raises(ValueError, match="depth 3 always fails"):
        SkHalvingGridSearchCV(FailsDeep(), grid, **kwargs).fit(*IRIS)
    with pytest.raises(ValueError, match="depth 3 always fails"):
        HalvingGridSearchCV(FailsDeep(), grid, **kwargs).fit(*IRIS)


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["sequential", "processes"])
def test_random_search_random_state(n_jobs: int) -> None:
    got, _, _ = check_same(
        "random",
        SVC,
        {"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-3, 1), "kernel": ["rbf", "linear"]},
        *CLF,
        n_jobs=n_jobs,
        random_state=3,
    )
    assert got.n_candidates_[0] > 3


def test_random_search_randomstate_instance_draws_as_sklearn() -> None:
    """scikit-learn iterates the sampler (and splits the rows) with one shared
    ``RandomState``: the draws must advance it as scikit-learn's do."""
    space = {"max_depth": randint(1, 8), "min_samples_leaf": randint(1, 10)}
    sk_cls, gf_cls = PAIRS["random"]
    kwargs: dict[str, Any] = {"cv": 3, "n_candidates": 9, "resource": "n_estimators"}
    kwargs |= {"min_resources": 2, "max_resources": 18}
    make = lambda: RandomForestClassifier(random_state=0)  # noqa: E731
    expected = sk_cls(make(), space, random_state=np.random.RandomState(0), **kwargs)
    got = gf_cls(make(), space, random_state=np.random.RandomState(0), **kwargs)
    expected.fit(*IRIS)
    got.fit(*IRIS)
    assert_cv_results_equal(got.cv_results_, expected.cv_results_)
    assert got.best_params_ == expected.best_params_
    # And rows subsampled with a shared RandomState, rung after rung.
    svc = {"C": loguniform(1e-2, 1e2)}
    expected = sk_cls(SVC(), svc, random_state=np.random.RandomState(1), n_candidates=9)
    got = gf_cls(SVC(), svc, random_state=np.random.RandomState(1), n_candidates=9)
    expected.fit(*CLF)
    got.fit(*CLF)
    assert_cv_results_equal(got.cv_results_, expected.cv_results_)


def test_refit_false_and_callable_scoring() -> None:
    check_same(
        "grid",
        SVC,
        SVC_GRID,
        *CLF,
        refit=False,
        scoring=lambda est, X, y: float(np.mean(est.predict(X) == y)),
        return_train_score=False,
        random_state=0,
    )


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["sequential", "processes"])
def test_callbacks_see_sklearns_hooks(n_jobs: int) -> None:
    counts = []
    for search in (
        SkHalvingGridSearchCV(SVC(), SVC_GRID, random_state=0),
        HalvingGridSearchCV(SVC(), SVC_GRID, random_state=0, n_jobs=n_jobs),
    ):
        callback = ListCallback()
        search.set_callbacks(callback).fit(*CLF)
        counts.append(Counter(callback.calls))
    assert counts[1] == counts[0]
    assert any(call[1] == "halving-iteration" for call in counts[0])


# ---------------------------------------------------------------------------
# gridfold's side: store, signature, errors, no experimental flag
# ---------------------------------------------------------------------------


def test_a_second_fit_on_the_same_store_fits_nothing(tmp_path: Path) -> None:
    log, db = tmp_path / "fits.log", tmp_path / "halving.db"
    grid = {"depth": [1, 2, 4, 5, 6]}
    search = HalvingGridSearchCV(FailsDeep(log=str(log)), grid, cv=3, random_state=0, store=db)
    search.fit(*IRIS)
    n_fits = sum(search.n_candidates_) * search.n_splits_
    assert len(log.read_text().splitlines()) == n_fits + 1  # and the refit, never stored
    with SQLiteStore(db) as store:
        assert len(store) == n_fits
        again = HalvingGridSearchCV(
            FailsDeep(log=str(log)), grid, cv=3, random_state=0, store=store
        ).fit(*IRIS)
        assert len(store) == n_fits
    assert len(log.read_text().splitlines()) == n_fits + 2  # only the refit ran again
    assert_cv_results_equal(again.cv_results_, search.cv_results_)
    assert again.n_resources_ == search.n_resources_


class Interruptible(FailsDeep):
    """``FailsDeep`` interrupted, as by ^C, once ``log`` holds as many lines as the
    file ``stop`` says, while it exists (the same parameters stop and resume it)."""

    def __init__(self, depth: int = 1, log: str = "", stop: str = "") -> None:
        super().__init__(depth=depth, log=log)
        self.stop = stop

    def fit(self, X: Any, y: Any) -> Interruptible:
        stop = Path(self.stop)
        if stop.exists() and len(Path(self.log).read_text().splitlines()) >= int(stop.read_text()):
            raise KeyboardInterrupt  # not a failed fit: it ends the search
        super().fit(X, y)
        return self


def test_an_interrupted_search_resumes_mid_rung(tmp_path: Path) -> None:
    log, db, stop = tmp_path / "fits.log", tmp_path / "halving.db", tmp_path / "stop"
    log.touch()
    grid = {"depth": [1, 2, 4, 5, 6, 7, 8, 9, 10]}
    search = HalvingGridSearchCV(
        Interruptible(log=str(log), stop=str(stop)), grid, cv=3, random_state=0, store=db
    )
    reference = HalvingGridSearchCV(FailsDeep(), grid, cv=3, random_state=0).fit(*IRIS)
    assert reference.n_candidates_ == [9, 3]
    first_rung, n_fits = 9 * 3, (9 + 3) * 3
    # Sequentially: interrupted at the 5th of the second rung's 9 fits.
    stop.write_text(str(first_rung + 4))
    with pytest.raises(KeyboardInterrupt):
        search.fit(*IRIS)
    assert len(log.read_text().splitlines()) == first_rung + 4
    stop.unlink()
    search.fit(*IRIS)
    # The finished first rung was read back, not fitted again (its fits train on 12
    # rows). Of the second rung, what the store holds is kept too, but tiny fits run
    # in batches, stored as a batch ends: the interrupted batch is fitted again.
    fits = log.read_text().splitlines()
    assert sum(line.endswith(" 12") for line in fits) == first_rung
    assert len(fits) <= first_rung + 4 + (n_fits - first_rung) + 1
    assert_cv_results_equal(search.cv_results_, reference.cv_results_)


@pytest.mark.parametrize("kind", ["grid", "random"])
def test_signature_is_sklearns_plus_the_execution_options(kind: str) -> None:
    sk_cls, gf_cls = PAIRS[kind]
    sk_params = inspect.signature(sk_cls).parameters
    gf_params = inspect.signature(gf_cls).parameters
    extra = ["backend", "progress", "share", "store", "fit_timeout", "retries", "scheduler"]
    assert list(gf_params) == list(sk_params) + extra
    for name, param in sk_params.items():
        assert gf_params[name].default is param.default or (
            gf_params[name].default == param.default
        ), name
    assert set(gf_cls._parameter_constraints) == set(sk_cls._parameter_constraints) | set(extra)
    assert gf_cls.__doc__ and "store : " in gf_cls.__doc__ and "pre_dispatch" not in gf_cls.__doc__


def test_exported_lazily_from_gridfold() -> None:
    assert gridfold.HalvingGridSearchCV is HalvingGridSearchCV
    assert gridfold.HalvingRandomSearchCV is HalvingRandomSearchCV
    assert {"HalvingGridSearchCV", "HalvingRandomSearchCV"} <= set(gridfold.__all__)


def test_needs_no_experimental_flag_and_leaves_sklearn_as_it_was() -> None:
    code = (
        "import sklearn.model_selection as m\n"
        "exported = list(m.__all__)\n"
        "import gridfold\n"
        "from sklearn.svm import SVC\n"
        "s = gridfold.HalvingGridSearchCV(SVC(), {'C': [1, 10]}, cv=2)\n"
        "from sklearn.datasets import load_iris\n"
        "s.fit(*load_iris(return_X_y=True))\n"
        "assert 'HalvingGridSearchCV' not in vars(m), 'set on sklearn.model_selection'\n"
        "assert m.__all__ == exported, '__all__ changed'\n"
        "try:\n"
        "    from sklearn.model_selection import HalvingGridSearchCV\n"
        "except ImportError as e:\n"
        "    assert 'enable_halving_search_cv' in str(e)\n"
        "else:\n"
        "    raise AssertionError('importable without the flag')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bad_grid_is_sklearns_error_with_a_fix() -> None:
    with pytest.raises(ParameterError, match="need to be a non-empty sequence.*fix: "):
        HalvingGridSearchCV(SVC(), {"C": []}).fit(*IRIS)
    with pytest.raises(TypeError, match="fix: "):
        HalvingRandomSearchCV(SVC(), {"C": 1}).fit(*IRIS)


def test_resource_in_the_grid_is_sklearns_error() -> None:
    message = "Cannot use parameter n_estimators as the resource"
    grid = {"n_estimators": [2, 4]}
    kwargs: dict[str, Any] = {"resource": "n_estimators", "max_resources": 10}
    with pytest.raises(ValueError, match=message):
        SkHalvingGridSearchCV(RandomForestClassifier(), grid, **kwargs).fit(*IRIS)
    with pytest.raises(ValueError, match=message):
        HalvingGridSearchCV(RandomForestClassifier(), grid, **kwargs).fit(*IRIS)
