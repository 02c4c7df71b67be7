"""The refit of the leader on a worker idle at the search's tail (gridfold.sharing.tail_refit).

Whether a worker is idle while the leader is known depends on timing in a
fresh search. These tests make it certain instead: a search is run once into
a store, one fit is deleted from it, and the rerun has one fit left to run on
two workers, so the other worker is idle from the start and the leader is
known from the stored results. Deleting a losing candidate's fit keeps the
leader (the bet is taken); deleting the winner's changes it (the bet is lost,
stopped or discarded, and the caller refits). Either way every result must
be scikit-learn's.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold.sharing.tail_refit import exact_in_a_worker, replay_global_draws
from gridfold.store.keys import candidate_repr

X, y = make_classification(400, 5, n_informative=3, flip_y=0.1, random_state=0)
GRID = {"C": [0.01, 1.0, 100.0]}
PIPE = Pipeline([("scale", StandardScaler()), ("svc", SVC())])
PIPE_GRID = {"svc__C": [0.01, 1.0, 100.0]}


def _search(estimator: Any, grid: dict, store: Path, **kwargs: Any) -> Any:
    return gridfold.GridSearchCV(estimator, grid, cv=4, n_jobs=2, store=store, **kwargs)


def _drop(store: Path, params: dict[str, Any], split: int) -> None:
    """Delete one stored fit, so that a rerun has exactly that fit left to do."""
    with sqlite3.connect(store) as db:
        gone = db.execute(
            "DELETE FROM results WHERE params = ? AND split = ?", (candidate_repr(params), split)
        ).rowcount
    assert gone == 1


def _same_fit(ours: Any, theirs: Any) -> None:
    """Every fitted attribute equal, bit for bit (a pipeline: step by step)."""
    if isinstance(theirs, Pipeline):
        for (_, a), (_, b) in zip(ours.steps, theirs.steps, strict=True):
            _same_fit(a, b)
        return
    assert type(ours) is type(theirs) and ours.get_params() == theirs.get_params()
    fitted = [k for k in vars(theirs) if k.endswith("_") and not k.startswith("__")]
    assert fitted and sorted(fitted) == sorted(k for k in vars(ours) if k in fitted)
    for key in fitted:
        assert _equal(getattr(ours, key), getattr(theirs, key)), key


def _equal(a: Any, b: Any) -> bool:
    if isinstance(b, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        # Bit for bit where the items are numbers (NaN included); objects by value.
        return bool(np.array_equal(a, b)) if b.dtype == object else a.tobytes() == b.tobytes()
    if isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in b)
    if type(b).__module__.startswith("sklearn.tree"):  # a Tree: its pickled state
        return type(a) is type(b) and _equal(a.__getstate__(), b.__getstate__())
    return bool(a == b)


def _rerun_after_dropping(
    estimator: Any,
    grid: dict,
    tmp_path: Path,
    which: str,
    Xs: Any = X,
    backend: str | None = None,
    **kwargs: Any,
) -> tuple[Any, Any, float, float]:
    """(gridfold's rerun, scikit-learn's search, the global draws after each)."""
    theirs = SkGridSearchCV(estimator, grid, cv=4, **kwargs).fit(Xs, y)
    store = tmp_path / "s.db"
    _search(estimator, grid, store, **kwargs).fit(Xs, y)
    best = theirs.best_index_
    loser = (best + 1) % len(theirs.cv_results_["params"])
    _drop(store, theirs.cv_results_["params"][best if which == "winner" else loser], split=0)
    np.random.seed(7)
    ours = _search(estimator, grid, store, backend=backend, **kwargs).fit(Xs, y)
    after_ours = np.random.rand()
    np.random.seed(7)
    # On two workers too: a seedless SVC's CV fits draw from the generator of the process
    # that runs them, the refit from the caller's.
    SkGridSearchCV(estimator, grid, cv=4, n_jobs=2, **kwargs).fit(Xs, y)
    after_theirs = np.random.rand()
    return ours, theirs, after_ours, after_theirs


def _same_search(ours: Any, theirs: Any) -> None:
    for key in theirs.cv_results_:
        if "time" not in key:
            a, b = ours.cv_results_[key], theirs.cv_results_[key]
            assert np.array_equal(a, b) if key != "params" else a == b, key
    assert ours.best_index_ == theirs.best_index_ and ours.best_params_ == theirs.best_params_
    _same_fit(ours.best_estimator_, theirs.best_estimator_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


CASES = {
    "svc": (SVC(), GRID, {}),
    "svc_seeded": (SVC(random_state=0), GRID, {}),
    "pipeline": (PIPE, PIPE_GRID, {}),
    "multimetric": (SVC(), GRID, {"scoring": ["accuracy", "f1"], "refit": "f1"}),
    "tree": (DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3, 8]}, {}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_leader_kept_means_the_tail_refit_is_the_refit(case: str, tmp_path: Path) -> None:
    estimator, grid, kwargs = CASES[case]
    ours, theirs, after_ours, after_theirs = _rerun_after_dropping(
        estimator, grid, tmp_path, "loser", **kwargs
    )
    assert ours._refit_during_search
    assert ours.refit_time_ > 0
    _same_search(ours, theirs)
    # NumPy's global generator is left as scikit-learn's refit leaves it (one SVC draw).
    assert after_ours == after_theirs


@pytest.mark.parametrize("case", ["svc", "pipeline"])
def test_the_leader_overtaken_means_the_caller_refits(case: str, tmp_path: Path) -> None:
    estimator, grid, kwargs = CASES[case]
    ours, theirs, after_ours, after_theirs = _rerun_after_dropping(
        estimator, grid, tmp_path, "winner", **kwargs
    )
    assert not ours._refit_during_search
    _same_search(ours, theirs)
    assert after_ours == after_theirs
    # The pool carries on after a stopped bet: a new search on it is exact too.
    again = gridfold.GridSearchCV(estimator, grid, cv=4, n_jobs=2).fit(X, y)
    _same_search(again, theirs)


def test_a_data_frame_keeps_its_columns_in_the_workers_refit(tmp_path: Path) -> None:
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    ours, theirs, _, _ = _rerun_after_dropping(PIPE, PIPE_GRID, tmp_path, "loser", Xs=frame)
    assert ours._refit_during_search
    _same_search(ours, theirs)
    assert list(ours.feature_names_in_) == list(frame.columns)


@pytest.mark.parametrize("backend", ["threads", "sequential"])
def test_only_executors_that_can_stop_a_fit_bet(backend: str, tmp_path: Path) -> None:
    ours, theirs, _, _ = _rerun_after_dropping(SVC(), GRID, tmp_path, "loser", backend=backend)
    assert not ours._refit_during_search
    _same_search(ours, theirs)


@pytest.mark.parametrize(
    "estimator, grid",
    [
        (LogisticRegression(), GRID),  # BLAS: not provably the caller's fit in a worker
        (GaussianNB(), {"var_smoothing": [1e-9, 1e-3, 1e-1]}),  # not on the list
    ],
)
def test_an_estimator_off_the_list_is_refitted_by_the_caller(
    estimator: Any, grid: dict, tmp_path: Path
) -> None:
    ours, theirs, after_ours, after_theirs = _rerun_after_dropping(
        estimator, grid, tmp_path, "loser"
    )
    assert not ours._refit_during_search
    _same_search(ours, theirs)
    assert after_ours == after_theirs


def test_a_callable_refit_never_bets(tmp_path: Path) -> None:
    def pick(results: dict) -> int:
        return int(np.argmax(results["mean_test_score"]))

    ours, theirs, _, _ = _rerun_after_dropping(SVC(), GRID, tmp_path, "loser", refit=pick)
    assert not ours._refit_during_search
    _same_search(ours, theirs)


@pytest.mark.parametrize(
    "estimator, exact",
    [
        (SVC(), True),
        (SVC(random_state=0), True),
        (SVC(verbose=True), False),
        (SVR(), True),
        (DecisionTreeClassifier(random_state=0), True),
        (DecisionTreeClassifier(), False),  # seedless: draws from the global generator
        (LogisticRegression(), False),  # BLAS: its result may depend on the threads
        (LinearSVC(random_state=0), False),
        (RandomForestClassifier(random_state=0), False),  # n_jobs: the caller's refit
        (PIPE, True),
        (Pipeline([("scale", StandardScaler()), ("pca", PCA()), ("svc", SVC())]), False),
        (Pipeline([("scale", "passthrough"), ("svc", SVC())]), True),
        (Pipeline([("scale", StandardScaler()), ("svc", SVC())], memory="cache"), False),
    ],
)
def test_which_estimators_a_worker_refits_exactly(estimator: Any, exact: bool) -> None:
    assert exact_in_a_worker(estimator) is exact


def test_a_probability_svc_bets_only_when_seeded() -> None:
    seedless = SVC(probability=True)  # its seed draws the internal CV's folds
    assert not exact_in_a_worker(seedless)
    assert exact_in_a_worker(clone(seedless).set_params(random_state=0))


def test_replayed_draws_are_those_of_a_fit_in_the_caller() -> None:
    for estimator in (SVC(), PIPE, SVC(random_state=0), DecisionTreeClassifier(random_state=0)):
        np.random.seed(3)
        clone(estimator).fit(X, y)
        fitted = np.random.rand()
        np.random.seed(3)
        replay_global_draws(estimator)
        assert np.random.rand() == fitted
