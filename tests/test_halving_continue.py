"""Halving rungs that continue: a survivor's forest grows from its last rung's forest.

The growth itself is checked attribute by attribute against a fresh fit
(trees by their pickled state); whole searches against scikit-learn's halving
search (``check_same`` of ``tests/test_halving.py``: every ``cv_results_`` key,
the halving attributes, warnings and predictions), with the number of fits
that did continue (``_continued_per_rung``) counted, so a search that silently
fitted afresh fails too.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.model_selection import KFold, StratifiedKFold
from test_halving import check_same
from test_tail_refit import _equal

from gridfold.halving import HalvingGridSearchCV
from gridfold.sharing.continuation import growth_for
from gridfold.sharing.forest import ForestGrowth
from gridfold.store import SQLiteStore

CLF = make_classification(n_samples=300, n_features=10, n_informative=5, random_state=0)
REG = make_regression(n_samples=300, n_features=10, noise=5.0, random_state=0)
WEIGHT = np.random.RandomState(0).uniform(0.5, 2.0, size=300)

GROWN = {
    "rf_classifier": (RandomForestClassifier(random_state=0), CLF, {}),
    "rf_regressor": (RandomForestRegressor(random_state=3, max_depth=6), REG, {}),
    "extra_classifier": (ExtraTreesClassifier(random_state=1), CLF, {}),
    "extra_regressor": (ExtraTreesRegressor(random_state=2, bootstrap=True), REG, {}),
    "oob_class_weight_max_samples": (
        RandomForestClassifier(
            random_state=5, oob_score=True, class_weight={0: 1.0, 1: 3.0}, max_samples=0.6
        ),
        CLF,
        {},
    ),
    "sample_weight": (RandomForestClassifier(random_state=7), CLF, {"sample_weight": WEIGHT}),
}


def _same_tree(ours: Any, theirs: Any) -> None:
    """A fitted tree's attributes, and its ``tree_``'s pickled state, bit for bit.

    The node array is a struct with padding bytes, which nothing initialises:
    it is compared field by field.
    """
    assert type(ours) is type(theirs) and ours.get_params() == theirs.get_params()
    for key in (k for k in vars(theirs) if k.endswith("_") and k != "tree_"):
        assert _equal(getattr(ours, key), getattr(theirs, key)), key
    a, b = ours.tree_.__getstate__(), theirs.tree_.__getstate__()
    assert a.keys() == b.keys()
    for key, value in b.items():
        if isinstance(value, np.ndarray) and value.dtype.names:
            assert a[key].dtype == value.dtype and a[key].shape == value.shape, key
            for field in value.dtype.names:
                assert a[key][field].tobytes() == value[field].tobytes(), (key, field)
        else:
            assert _equal(a[key], value), key


def _same_forest(ours: Any, theirs: Any) -> None:
    """Every fitted attribute equal, each tree's too (its own attributes and pickled state)."""
    assert type(ours) is type(theirs) and ours.get_params() == theirs.get_params()
    fitted = sorted(k for k in vars(theirs) if k.endswith("_") and not k.startswith("__"))
    assert fitted == sorted(k for k in vars(ours) if k.endswith("_") and not k.startswith("__"))
    for key in fitted:
        a, b = getattr(ours, key), getattr(theirs, key)
        if key == "estimators_":
            assert len(a) == len(b)
            for tree_a, tree_b in zip(a, b, strict=True):
                _same_tree(tree_a, tree_b)
        elif key == "estimator_":  # the template tree, unfitted
            assert type(a) is type(b) and a.get_params() == b.get_params()
        else:
            assert _equal(a, b), key
    # What fit sets without a trailing underscore (BaseForest.fit).
    for key in ("_n_samples", "_n_samples_bootstrap", "_sample_weight"):
        assert _equal(getattr(ours, key), getattr(theirs, key)), key


def _warned(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    return out, [f"{w.category.__name__}: {w.message}" for w in caught]


@pytest.mark.parametrize("case", sorted(GROWN))
def test_a_grown_forest_is_the_fresh_fit(case: str) -> None:
    base, (X, y), fit_params = GROWN[case]
    start = clone(base).set_params(n_estimators=5).fit(X, y, **fit_params)
    before = copy.deepcopy(start)
    bigger = clone(base).set_params(n_estimators=13)
    grown, grown_warned = _warned(ForestGrowth().grow, start, bigger, X, y, dict(fit_params))
    fresh, fresh_warned = _warned(clone(bigger).fit, X, y, **fit_params)
    same, same_warned = _warned(ForestGrowth().grow, start, clone(start), X, y, dict(fit_params))
    # The same warnings as a fresh fit (too few trees for OOB, say), no warm-start one.
    assert grown_warned == fresh_warned and same_warned == []
    _same_forest(grown, fresh)
    assert grown.warm_start is False and len(grown.estimators_) == 13
    _same_forest(same, start)
    # The start is left as it was: a retried task grows from it again.
    _same_forest(start, before)
    assert len(start.estimators_) == 5


@pytest.mark.parametrize(
    ("estimator", "grows"),
    [
        (RandomForestClassifier(random_state=0), True),
        (ExtraTreesRegressor(random_state=0), True),
        (RandomForestClassifier(random_state=0, n_jobs=1), True),
        (RandomForestClassifier(), False),  # seedless: each fit draws other trees
        (RandomForestClassifier(random_state=np.random.RandomState(0)), False),
        (RandomForestClassifier(random_state=True), False),
        (RandomForestClassifier(random_state=0, n_jobs=2), False),  # threads sum the trees
        # A warm start with these warns (about data it does not see), a fresh fit does not.
        (RandomForestClassifier(random_state=0, class_weight="balanced"), False),
        (ExtraTreesClassifier(random_state=0, class_weight="balanced_subsample"), False),
        (GradientBoostingClassifier(random_state=0), False),  # no growth for boosting (yet)
    ],
    ids=str,
)
def test_which_forests_grow(estimator: Any, grows: bool) -> None:
    assert (growth_for(estimator, "n_estimators") is not None) is grows
    assert growth_for(estimator, "max_depth") is None


FOREST_GRID = {"max_depth": [2, 4, None], "max_features": [0.3, 0.6, 1.0]}
HALVING: dict[str, Any] = dict(resource="n_estimators", min_resources=3, max_resources=27, factor=3)


def _continued(search: Any) -> list[int]:
    return list(search._continued_per_rung)


def _survivor_fits(search: Any) -> list[int]:
    """What a search whose every survivor continues counts: rung 0 has nothing to grow from."""
    return [0] + [n * search.n_splits_ for n in search.n_candidates_[1:]]


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["sequential", "processes"])
def test_a_forest_search_continues_and_is_sklearns(n_jobs: int) -> None:
    got, expected, _ = check_same(
        "grid",
        lambda: RandomForestClassifier(random_state=0),
        FOREST_GRID,
        *CLF,
        n_jobs=n_jobs,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        **HALVING,
    )
    assert got.n_resources_ == [3, 9, 27] and got.n_candidates_ == [9, 3, 1]
    assert _continued(got) == _survivor_fits(got) and sum(_continued(got)) > 0
    # The last rung has one candidate, so it is the refit's: on two workers it is refitted
    # alongside that rung's folds (gridfold.sharing.early_refit: 5 folds on 2 workers leave
    # a worker idle for one fold's time), the same forest.
    assert got._refit_during_search is (n_jobs == 2)
    _same_forest(got.best_estimator_, expected.best_estimator_)


def test_a_regressor_search_continues_on_threads() -> None:
    got, _, _ = check_same(
        "grid",
        lambda: ExtraTreesRegressor(random_state=4, bootstrap=True),
        {"min_samples_leaf": [1, 3, 9], "max_features": [0.5, 1.0]},
        *REG,
        n_jobs=2,
        ours={"backend": "threads"},
        cv=KFold(3),
        **HALVING,
    )
    assert _continued(got) == _survivor_fits(got)


def test_random_search_continues() -> None:
    from scipy.stats import randint

    got, _, _ = check_same(
        "random",
        lambda: RandomForestClassifier(random_state=2),
        {"max_depth": randint(2, 8), "min_samples_split": randint(2, 10)},
        *CLF,
        n_jobs=2,
        cv=3,
        random_state=0,
        n_candidates=9,
        **HALVING,
    )
    assert _continued(got) == _survivor_fits(got)


def test_aggressive_elimination_reuses_a_forest_of_the_same_size() -> None:
    # Rungs 0 and 1 both use 3 trees: rung 1's survivors are their rung-0 forests as is.
    got, _, _ = check_same(
        "grid",
        lambda: RandomForestClassifier(random_state=0),
        {"max_depth": [1, 2, 3, 4, 5, 6, None], "max_features": [0.2, 0.4, 0.6, 1.0]},
        *CLF,
        n_jobs=2,
        cv=3,
        resource="n_estimators",
        min_resources=3,
        max_resources=9,
        factor=3,
        aggressive_elimination=True,
    )
    assert got.n_resources_[:2] == [3, 3] and got.n_resources_[-1] == 9
    assert _continued(got) == _survivor_fits(got)


def test_failing_candidates_fail_as_in_sklearn_and_the_rest_continue() -> None:
    # min_samples_split=1 fails every fit (an invalid parameter); its rows are NaN, as
    # sklearn's. (Not an error whose message shows a set of strings: its order follows the
    # hash seed of the process the fit ran in, a worker here.)
    got, _, caught = check_same(
        "grid",
        lambda: RandomForestClassifier(random_state=0),
        {"max_depth": [2, 4, None], "min_samples_split": [1, 2, 5]},
        *CLF,
        n_jobs=2,
        cv=3,
        **HALVING,
    )
    assert np.isnan(got.cv_results_["mean_test_score"]).sum() == 3
    assert any(category == "FitFailedWarning" for category, _ in caught)
    assert _continued(got) == _survivor_fits(got)


@pytest.mark.parametrize(
    "estimator",
    [RandomForestClassifier(random_state=0, n_jobs=2), RandomForestClassifier()],
    ids=["threads-in-forest", "seedless"],
)
def test_forests_that_would_not_grow_exactly_are_fitted_afresh(estimator: Any) -> None:
    search = HalvingGridSearchCV(estimator, FOREST_GRID, n_jobs=2, cv=3, **HALVING).fit(*CLF)
    assert search.n_iterations_ == 3 and _continued(search) == [0, 0, 0]


def test_share_false_fits_every_rung_afresh() -> None:
    got, _, _ = check_same(
        "grid",
        lambda: RandomForestClassifier(random_state=0),
        FOREST_GRID,
        *CLF,
        n_jobs=2,
        cv=3,
        ours={"share": False},
        **HALVING,
    )
    assert sum(_continued(got)) == 0


def test_a_candidate_that_cannot_be_hashed_fits_every_rung_afresh() -> None:
    # A lambda has no content key: fits could only be matched by position, which _top_k
    # changes between rungs, so nothing continues (and the search is still sklearn's).
    def oob(y_true: Any, y_pred: Any) -> float:
        return float(np.mean(y_true == y_pred))

    got, _, _ = check_same(
        "grid",
        lambda: RandomForestClassifier(random_state=0),
        {"max_depth": [2, 4, None], "max_features": [0.3, 1.0], "oob_score": [oob]},
        *CLF,
        cv=3,
        **HALVING,
    )
    assert got.n_iterations_ == 2 and _continued(got) == [0, 0]


def test_verbose_fits_every_rung_afresh(capsys: pytest.CaptureFixture[str]) -> None:
    # _fit_and_score prints a line per fit with verbose; a grown fit would print none.
    search = HalvingGridSearchCV(
        RandomForestClassifier(random_state=0), FOREST_GRID, cv=3, verbose=3, **HALVING
    ).fit(*CLF)
    assert _continued(search) == [0, 0, 0]
    assert capsys.readouterr().out.count("[CV") >= sum(search.n_candidates_) * 3


def test_a_stored_search_reads_back_and_a_resumed_rung_fits_afresh(tmp_path: Path) -> None:
    db = tmp_path / "forest.db"
    kwargs: dict[str, Any] = dict(n_jobs=2, cv=3, store=db, **HALVING)
    first = HalvingGridSearchCV(RandomForestClassifier(random_state=0), FOREST_GRID, **kwargs)
    first.fit(*CLF)
    n_fits = sum(first.n_candidates_) * first.n_splits_
    # Drop every fit of the last rung: the rerun reads rungs 0 and 1 back (no forests come
    # with them) and fits the last rung afresh, to the same results.
    with sqlite3.connect(db) as con:
        dropped = con.execute("DELETE FROM results WHERE params LIKE ?", ('%"n_estimators": 27%',))
        assert dropped.rowcount == first.n_candidates_[-1] * first.n_splits_
    again = HalvingGridSearchCV(RandomForestClassifier(random_state=0), FOREST_GRID, **kwargs)
    again.fit(*CLF)
    with SQLiteStore(db) as store:
        assert len(store) == n_fits
    assert _continued(again) == [0, 0, 0]
    np.testing.assert_array_equal(
        again.cv_results_["mean_test_score"], first.cv_results_["mean_test_score"]
    )
    assert again.best_params_ == first.best_params_


KILLED = """\
import sys
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from gridfold.halving import HalvingGridSearchCV

X, y = make_classification(n_samples=800, n_features=20, n_informative=8, random_state=0)
grid = {"max_depth": [4, 8, None], "max_features": [0.2, 0.4, 0.6], "min_samples_leaf": [1, 3, 9]}
search = HalvingGridSearchCV(
    RandomForestClassifier(random_state=0), grid, n_jobs=2, cv=5, store=sys.argv[1],
    resource="n_estimators", min_resources=4, max_resources=36, factor=3,
)
search.fit(X, y)
print(search.best_params_, list(search.cv_results_["mean_test_score"]))
"""

# Imported by every Python process started with this folder on PYTHONPATH, the pool's
# workers included: each forest fit, fresh or grown, writes its n_estimators to FIT_LOG as
# it starts. Only a log line is added; the fit is scikit-learn's.
FIT_LOG = """\
import os

if os.environ.get("FIT_LOG"):
    from sklearn.ensemble._forest import BaseForest

    _fit = BaseForest.fit

    def fit(self, X, y, sample_weight=None):
        with open(os.environ["FIT_LOG"], "a") as log:
            log.write(f"{self.n_estimators}\\n")
        return _fit(self, X, y, sample_weight=sample_weight)

    BaseForest.fit = fit
"""


def _rung_rows(db: Path) -> dict[int, int]:
    """Stored fits per n_estimators, read by a second connection (as another process)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as con:
        try:
            params = [p for (p,) in con.execute("SELECT params FROM results")]
        except sqlite3.OperationalError:  # schema not written yet
            return {}
    counts: dict[int, int] = {}
    for text in params:
        n = int(re.search(r'"n_estimators": (\d+)', text).group(1))  # type: ignore[union-attr]
        counts[n] = counts.get(n, 0) + 1
    return counts


def _started(log: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in log.read_text().split():
        counts[int(line)] = counts.get(int(line), 0) + 1
    return counts


def test_killing_the_driver_mid_rung_refits_at_most_the_fits_in_flight(tmp_path: Path) -> None:
    script, db, log = tmp_path / "search.py", tmp_path / "forest.db", tmp_path / "fits.log"
    script.write_text(KILLED)
    (tmp_path / "sitecustomize.py").write_text(FIT_LOG)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FIT_LOG": str(log)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)], env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    # Rung 0 is 27 candidates x 5 splits of 4 trees; kill two fits into rung 1 (9 x 5 of 12).
    while _rung_rows(db).get(12, 0) < 2:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    time.sleep(1.0)  # the pool's workers see their driver gone and stop
    stored, started = _rung_rows(db), _started(log)
    with sqlite3.connect(db) as con:
        quickest = min(
            fit + score
            for fit, score in con.execute(
                "SELECT fit_time, score_time FROM results WHERE params LIKE ?",
                ('%"n_estimators": 12%',),
            )
        )
    assert stored[4] == started[4] == 27 * 5  # rung 0: every fit stored, none twice
    assert 2 <= stored[12] < 9 * 5 and 36 not in stored

    # A log of its own: a killed run's worker still finishing a fit writes to the old one.
    log = tmp_path / "rerun.log"
    rerun = subprocess.run(
        [sys.executable, str(script), str(db)],
        env={**env, "FIT_LOG": str(log)},
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _rung_rows(db) == {4: 27 * 5, 12: 9 * 5, 36: 3 * 5}
    again = _started(log)
    # Rung 0 is read back, not fitted. Of rung 1 the rerun fits what was not stored: the
    # fits never started, and the refits, the fits started but not stored when the driver
    # died: at most the batches in flight (2 workers x 2 batches). A batch holds one fit,
    # or as many as take 0.05 s at the rung's mean fit + score time (gridfold.engine.Batcher),
    # which is no less than the quickest stored one's.
    assert 4 not in again and again[12] == 9 * 5 - stored[12]
    per_batch = max(1, int(0.05 / quickest))
    refitted = started[12] - stored[12]
    assert 0 <= refitted <= 2 * 2 * per_batch
    # Rung 2 is fitted (grown where rung 1 was fitted in this run, else afresh); the refit
    # on the whole data is one more 36-tree fit.
    assert again[36] == 3 * 5 + 1

    reference = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "reference.db")],
        capture_output=True,
        text=True,
    )
    assert reference.returncode == 0 and reference.stdout == rerun.stdout


@pytest.mark.parametrize("aggressive", [False, True])
def test_the_progress_bar_names_each_rung_of_all(
    aggressive: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = {"max_depth": [1, 2, 3, 4, 5, 6, None], "max_features": [0.2, 0.4, 0.6, 1.0]}
    search = HalvingGridSearchCV(
        RandomForestClassifier(random_state=0),
        grid,
        cv=3,
        progress=True,
        aggressive_elimination=aggressive,
        **{**HALVING, "max_resources": 9},
    ).fit(*CLF)
    err = capsys.readouterr().err
    n = search.n_iterations_
    assert n == (4 if aggressive else 2)  # 28 candidates: 4 rungs needed, 2 possible
    for rung, count in enumerate(search.n_candidates_, start=1):
        plural = "s" * (count != 1)
        assert f"rung {rung}/{n}: {count} candidate{plural} x 3 splits" in err
