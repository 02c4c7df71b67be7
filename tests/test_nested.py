"""gridfold.nested_cv: scikit-learn's nested cross_validate, bit for bit, in one pool."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, cross_validate
from sklearn.model_selection import RandomizedSearchCV as SkRandomizedSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold.exceptions import ParameterError
from gridfold.sharing.base import path_family
from gridfold.store import SQLiteStore

IRIS = load_iris(return_X_y=True)
CANCER = load_breast_cancer(return_X_y=True)
DIABETES = load_diabetes(return_X_y=True)
DIGITS = tuple(a[:300] for a in load_digits(return_X_y=True))


class Picky(ClassifierMixin, BaseEstimator):
    """A depth-``depth`` tree that raises on odd-sized (``fail_odd``) or large training sets.

    ``log`` names a file that gets one line per fit (counts fits across processes).
    """

    def __init__(
        self, depth: int = 1, fail_odd: bool = False, max_rows: int = 10**9, log: str = ""
    ) -> None:
        self.depth = depth
        self.fail_odd = fail_odd
        self.max_rows = max_rows
        self.log = log

    def fit(self, X: Any, y: Any) -> Picky:
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{self.depth}\n")
        if self.fail_odd and len(X) % 2:
            raise ValueError("Picky: an odd number of rows")
        if len(X) > self.max_rows:
            raise ValueError("Picky: too many rows")
        self.tree_ = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.tree_.predict(X)


def _reference(search: Any, X: Any, y: Any, **kwargs: Any) -> dict[str, Any]:
    """``cross_validate(search, X, y, ...)`` with the fitted searches, its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cross_validate(clone(search), X, y, return_estimator=True, **kwargs)


def _nested(search: Any, X: Any, y: Any, **kwargs: Any) -> gridfold.NestedResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
        return gridfold.nested_cv(search, X, y, **kwargs)


def assert_same_as_sklearn(
    got: gridfold.NestedResult, ref: dict[str, Any], cv_results_equal: Any
) -> None:
    """Outer scores bit for bit; per fold the chosen parameters and the whole cv_results_."""
    assert np.array_equal(got.test_score, ref["test_score"], equal_nan=True)
    assert len(got.scores) == len(ref["test_score"])
    for fold, search in enumerate(ref["estimator"]):
        assert got.best_params[fold] == search.best_params_, fold
        for name, value in search.best_params_.items():
            assert got.scores.loc[fold, f"param_{name}"] == value
        got_results = got.cv_results[fold]
        assert got_results is not None
        cv_results_equal(got_results, search.cv_results_)
        if not callable(search.refit):
            assert got.scores.loc[fold, "best_score"] == search.best_score_


CASES = {
    # A path family: one Ridge solve per inner split answers every alpha.
    "ridge_alpha_path": (
        gridfold.GridSearchCV(Ridge(), {"alpha": [1e-4, 1e-3, 0.01, 0.03, 0.1, 1.0]}, cv=4),
        DIABETES,
        KFold(5, shuffle=True, random_state=0),
    ),
    "knn_n_neighbors_path": (
        SkGridSearchCV(KNeighborsClassifier(), {"n_neighbors": [1, 5, 9, 15]}, cv=3),
        CANCER,
        3,
    ),
    # A pipeline: shared prefixes (the scaler, each PCA) fitted once per inner split.
    "pipeline": (
        gridfold.GridSearchCV(
            Pipeline([("scale", StandardScaler()), ("pca", PCA()), ("svc", SVC())]),
            {"pca__n_components": [5, 10], "svc__C": [1.0, 10.0]},
            cv=3,
        ),
        DIGITS,
        3,
    ),
    # Deeper trees fail on odd-sized inner training sets: NaN means, never chosen.
    "failing_candidates": (
        SkGridSearchCV(
            Picky(),
            [{"depth": [1, 2]}, {"depth": [3, 4], "fail_odd": [True]}],
            cv=3,
            error_score=np.nan,
        ),
        CANCER,
        KFold(3, shuffle=True, random_state=1),
    ),
    # The worst candidate, by a callable refit.
    "callable_refit": (
        gridfold.GridSearchCV(
            SVC(),
            {"C": [0.01, 1.0, 100.0]},
            cv=3,
            refit=lambda results: int(np.argmax(results["rank_test_score"])),
        ),
        IRIS,
        4,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_nested_cv_equals_sklearns_nested_cross_validate(case: str, cv_results_equal: Any) -> None:
    search, (X, y), outer_cv = CASES[case]
    got = _nested(search, X, y, outer_cv=outer_cv)
    ref = _reference(search, X, y, cv=outer_cv)
    assert_same_as_sklearn(got, ref, cv_results_equal)
    assert list(got.scores.columns[:3]) == ["fold", "test_score", "best_score"]
    assert got.scores["fold"].tolist() == list(range(len(ref["test_score"])))
    assert got.scores["fit_error"].isna().all()


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_failing_candidates_get_nan_and_are_never_chosen() -> None:
    search, (X, y), outer_cv = CASES["failing_candidates"]
    with pytest.warns(FitFailedWarning, match="fits failed out of a total of"):
        got = gridfold.nested_cv(search, X, y, outer_cv=outer_cv)
    for results, params in zip(got.cv_results, got.best_params, strict=True):
        assert results is not None and params is not None
        means = dict(zip(map(str, results["params"]), results["mean_test_score"], strict=True))
        assert any(np.isnan(m) for m in means.values())  # some inner fits failed
        assert "fail_odd" not in params


def test_a_failed_outer_refit_is_nan_as_in_cross_validate(cv_results_equal: Any) -> None:
    """The refit on the 380-row outer training part fails: that fold's score is NaN."""
    X, y = CANCER  # KFold(3): outer training parts of 379, 379 and 380 rows
    search = gridfold.GridSearchCV(Picky(max_rows=379), {"depth": [1, 2, 3]}, cv=3)
    with pytest.warns(FitFailedWarning, match="1 fits failed out of a total of 3"):
        got = gridfold.nested_cv(search, X, y, outer_cv=KFold(3))
    ref = _reference(search, X, y, cv=KFold(3))
    assert np.isnan(got.test_score).tolist() == [False, False, True]
    assert np.array_equal(got.test_score, ref["test_score"], equal_nan=True)
    assert "Picky: too many rows" in got.scores.loc[2, "fit_error"]
    assert got.best_params[2] is not None  # chosen, then failed to refit


def test_error_score_raise_raises_the_fits_error() -> None:
    search = clone(CASES["failing_candidates"][0]).set_params(error_score="raise")
    with pytest.raises(ValueError, match="Picky: an odd number of rows"):
        gridfold.nested_cv(search, *CANCER, outer_cv=3)


def test_the_ridge_path_is_shared_across_outer_folds() -> None:
    """One Ridge fit per inner split of every outer fold, not one per alpha."""
    search, (X, y), outer_cv = CASES["ridge_alpha_path"]
    fam = path_family("ridge_alpha")
    original = type(fam).fit_views
    calls = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(fam, *args, **kwargs)

    fam.fit_views = counting  # type: ignore[method-assign]
    try:
        gridfold.nested_cv(search, X, y, outer_cv=outer_cv, n_jobs=1)
    finally:
        del fam.fit_views
    assert len(calls) == 5 * 4  # outer x inner splits; 6 alphas each


@pytest.mark.parametrize(
    ("search_cls", "random_state"),
    [(gridfold.RandomizedSearchCV, 0), (SkRandomizedSearchCV, "RandomState")],
)
def test_randomized_search(search_cls: Any, random_state: Any, cv_results_equal: Any) -> None:
    """The same candidates in every outer fold (each fold's clone starts from one state)."""
    state = np.random.RandomState(3) if random_state == "RandomState" else random_state
    search = search_cls(
        SVC(),
        {"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-3, 1e0)},
        n_iter=4,
        cv=3,
        random_state=state,
    )
    before = None if isinstance(state, int) else state.get_state()[1].copy()
    got = _nested(search, *IRIS, outer_cv=3)
    if before is not None:  # the caller's RandomState is not advanced
        assert np.array_equal(state.get_state()[1], before)
    ref = _reference(search, *IRIS, cv=3)
    assert_same_as_sklearn(got, ref, cv_results_equal)
    first = got.cv_results[0]
    assert first is not None
    assert all(r is not None and r["params"] == first["params"] for r in got.cv_results)


def test_sequential_and_two_processes_give_the_same_result() -> None:
    search, (X, y), outer_cv = CASES["knn_n_neighbors_path"]
    one = gridfold.nested_cv(search, X, y, outer_cv=outer_cv, n_jobs=1)
    two = gridfold.nested_cv(search, X, y, outer_cv=outer_cv, n_jobs=2, backend="processes")
    columns = [c for c in one.scores.columns if not c.endswith("_time")]
    assert one.scores[columns].equals(two.scores[columns])
    assert one.best_params == two.best_params
    for a, b in zip(one.cv_results, two.cv_results, strict=True):
        assert a is not None and b is not None
        for key in ("mean_test_score", "split0_test_score", "rank_test_score"):
            assert np.array_equal(a[key], b[key], equal_nan=True), key


def test_groups_split_the_outer_and_the_inner_folds(cv_results_equal: Any) -> None:
    X, y = IRIS
    groups = np.arange(len(y)) % 12
    search = gridfold.GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, cv=GroupKFold(3))
    got = _nested(search, X, y, outer_cv=GroupKFold(4), groups=groups)
    # cross_validate hands the groups to the search's fit only when told to.
    ref = _reference(search, X, y, cv=GroupKFold(4), groups=groups, params={"groups": groups})
    assert_same_as_sklearn(got, ref, cv_results_equal)


def test_several_metrics_score_every_one_and_choose_by_refit(cv_results_equal: Any) -> None:
    X, y = CANCER
    scoring = {"acc": "accuracy", "bal": "balanced_accuracy"}
    search = SkGridSearchCV(
        KNeighborsClassifier(), {"n_neighbors": [1, 7, 25]}, scoring=scoring, refit="bal", cv=3
    )
    got = _nested(search, X, y, outer_cv=3)
    assert got.metrics == ["acc", "bal"] and got.refit_metric == "bal"
    ref = _reference(search, X, y, cv=3)
    assert_same_as_sklearn(got, ref, cv_results_equal)  # test_bal, the refit metric
    every = _reference(search, X, y, cv=3, scoring=scoring)  # scored through search.predict
    for metric in scoring:
        assert np.array_equal(got.scores[f"test_{metric}"], every[f"test_{metric}"])


def test_a_rerun_on_the_same_store_fits_nothing(tmp_path: Path) -> None:
    log, db = tmp_path / "fits.log", tmp_path / "nested.db"
    search = gridfold.GridSearchCV(Picky(log=str(log)), {"depth": [1, 2, 3]}, cv=3)
    X, y = IRIS
    first = gridfold.nested_cv(search, X, y, outer_cv=4, store=db)
    n_fits = 4 * 3 * 3 + 4  # outer x candidates x inner, and one refit per outer fold
    assert len(log.read_text().splitlines()) == n_fits
    store = SQLiteStore(db)
    try:
        assert len(store) == n_fits  # every inner fit and every refit is kept
        again = gridfold.nested_cv(search, X, y, outer_cv=4, store=store)
        assert len(store) == n_fits
    finally:
        store.close()
    assert len(log.read_text().splitlines()) == n_fits  # nothing fitted again
    columns = ["fold", "test_score", "best_score", "param_depth"]
    assert again.scores[columns].equals(first.scores[columns])


def test_the_label_names_both_studies_in_the_store(tmp_path: Path) -> None:
    search = _svc_search(cv=3)
    with SQLiteStore(tmp_path / "nested.db") as store:
        gridfold.nested_cv(search, *IRIS, outer_cv=3, store=store, label="svc")
        studies = {row.study for row in store.rows()}
    assert studies == {"svc", "svc-refit"}


def test_split_sizes_are_the_outer_splits_rows() -> None:
    outer = StratifiedKFold(4, shuffle=True, random_state=0)
    X, y = IRIS
    got = gridfold.nested_cv(_svc_search(cv=3), X, y, outer_cv=outer)
    assert got.split_sizes == tuple((len(tr), len(te)) for tr, te in outer.split(X, y))


def test_summary_is_the_mean_and_std_of_the_outer_scores() -> None:
    search, (X, y), outer_cv = CASES["callable_refit"]
    got = gridfold.nested_cv(search, X, y, outer_cv=outer_cv)
    table = got.summary()
    assert list(table.index) == ["test_score"]
    assert table.loc["test_score", "mean"] == np.mean(got.test_score)
    assert table.loc["test_score", "std"] == np.std(got.test_score)
    assert table.loc["test_score", "n_folds"] == 4


class OwnSearch(SkGridSearchCV):
    def _run_search(self, evaluate_candidates: Any) -> None:
        evaluate_candidates([{"C": 1.0}])


def _svc_search(**kwargs: Any) -> gridfold.GridSearchCV:
    return gridfold.GridSearchCV(SVC(), {"C": [1.0, 10.0]}, **kwargs)


BAD_INPUT = {
    "not a search": (SVC(), {}, "needs a GridSearchCV or RandomizedSearchCV.*got SVC"),
    "own _run_search": (OwnSearch(SVC(), {"C": [1]}), {}, "overrides _run_search"),
    "refit=False": (_svc_search(refit=False), {}, "got refit=False.*Fix: set refit=True"),
    "callable refit, several metrics": (
        _svc_search(scoring=["accuracy", "f1_macro"], refit=lambda r: 0),
        {},
        "is a callable while scoring=.* has several metrics.*Fix: pass refit='<metric name>'",
    ),
    "unknown refit metric": (
        _svc_search(scoring=["accuracy", "f1_macro"], refit="auc"),
        {},
        "refit must be set to a scorer key.*fix: pass refit=",
    ),
    "invalid search setting": (
        _svc_search(error_score="bogus"),
        {},
        "error_score.*fix: set the search's parameter named there",
    ),
    "unknown parameter": (
        gridfold.GridSearchCV(SVC(), {"c": [1.0]}),
        {},
        r"Unknown parameter\(s\) \['c'\]",
    ),
    "empty outer_cv": (_svc_search(), {"outer_cv": []}, "outer_cv=\\[\\] yielded no splits"),
    "bad outer_cv": (_svc_search(), {"outer_cv": "five"}, "Got five.*fix: e.g. outer_cv=5"),
    "outer group splitter without groups": (
        _svc_search(),
        {"outer_cv": GroupKFold(3)},
        "groups.*GroupKFold needs nested_cv\\(..., groups=<one label per row>\\)",
    ),
    "inner group splitter without groups": (
        _svc_search(cv=GroupKFold(3)),
        {},
        "groups.*fix: give the search a cv.*needs nested_cv\\(..., groups=",
    ),
    "inner cv too large": (
        _svc_search(cv=StratifiedKFold(200)),
        {},
        "Expected a search cv that splits every outer training part",
    ),
    "bad n_jobs": (_svc_search(), {"n_jobs": "all"}, "n_jobs"),
    "bad retries": (_svc_search(), {"retries": -1}, "retries"),
    "bad fit_timeout": (_svc_search(), {"fit_timeout": 0}, "fit_timeout"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_says_what_was_expected_and_the_fix(case: str) -> None:
    search, kwargs, message = BAD_INPUT[case]
    with pytest.raises(ParameterError, match=message):
        gridfold.nested_cv(search, *IRIS, **kwargs)
