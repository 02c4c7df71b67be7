"""compare(): several estimators on the same folds, equal to cross_validate per estimator."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import sklearn.model_selection as skms
from conftest import BACKEND_IDS, BACKENDS
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_validate,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import gridfold
from gridfold import CompareResult, ParameterError

# The function's home module; the public `gridfold.compare` is pinned by
# test_gridfold_compare_is_the_function_whatever_is_imported_first below.
from gridfold.comparison import compare


class NeverFits(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> NeverFits:
        raise ArithmeticError("this model never fits")


CLASSIFIERS = {
    "svc": SVC(),
    "tree": DecisionTreeClassifier(random_state=0),
    "knn": KNeighborsClassifier(7),
    "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
}
SCORING = ["accuracy", "f1_macro"]
CV = StratifiedKFold(5, shuffle=True, random_state=0)


def rows(result: CompareResult, name: str) -> Any:
    return result.scores[result.scores["model"] == name].sort_values("split")


@pytest.fixture(scope="module")
def wine(datasets: dict) -> tuple[np.ndarray, np.ndarray]:
    return datasets["wine"]


@pytest.fixture(scope="module")
def reference(wine: tuple) -> dict[str, dict]:
    return {
        name: cross_validate(est, *wine, cv=CV, scoring=SCORING, return_train_score=True)
        for name, est in CLASSIFIERS.items()
    }


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_per_fold_scores_equal_cross_validate(
    backend: str, n_jobs: int, wine: tuple, reference: dict
) -> None:
    result = compare(
        CLASSIFIERS,
        *wine,
        cv=CV,
        scoring=SCORING,
        return_train_score=True,
        backend=backend,
        n_jobs=n_jobs,
    )
    assert result.metrics == SCORING and result.n_splits == 5
    assert len(result.scores) == 5 * len(CLASSIFIERS)
    assert list(result.scores["model"].unique()) == list(CLASSIFIERS)
    for name, expected in reference.items():
        got = rows(result, name)
        assert list(got["split"]) == list(range(5))
        for col in ("test_accuracy", "test_f1_macro", "train_accuracy", "train_f1_macro"):
            np.testing.assert_array_equal(got[col].to_numpy(), expected[col], err_msg=col)
        assert got["fit_error"].isna().all()
        assert (got["fit_time"] >= 0).all() and (got["score_time"] >= 0).all()


@pytest.mark.parametrize("metric", SCORING)
def test_summary_equals_numpy_mean_and_std(wine: tuple, reference: dict, metric: str) -> None:
    result = compare(CLASSIFIERS, *wine, cv=CV, scoring=SCORING)
    summary = result.summary(metric)
    assert list(summary.index) == sorted(
        CLASSIFIERS, key=lambda n: -np.mean(reference[n][f"test_{metric}"])
    )
    for name, expected in reference.items():
        for m in SCORING:
            scores = expected[f"test_{m}"]
            assert summary.loc[name, f"mean_test_{m}"] == np.mean(scores), (name, m)
            assert summary.loc[name, f"std_test_{m}"] == np.std(scores), (name, m)
    assert {f"mean_{c}" for c in ("fit_time", "score_time")} <= set(summary.columns)


def test_single_scorer_is_named_score(wine: tuple) -> None:
    result = compare([SVC(), DecisionTreeClassifier(random_state=0)], *wine, cv=3)
    assert result.metrics == ["score"]
    assert set(result.scores["model"]) == {"SVC", "DecisionTreeClassifier"}
    expected = cross_validate(SVC(), *wine, cv=3)["test_score"]
    np.testing.assert_array_equal(rows(result, "SVC")["test_score"].to_numpy(), expected)
    assert "train_score" not in result.scores


def test_named_tuples_and_dict_scoring(wine: tuple) -> None:
    scoring = {"acc": "accuracy", "bal": "balanced_accuracy"}
    result = compare([("a", SVC(C=0.5)), ("b", SVC(C=5))], *wine, cv=3, scoring=scoring)
    assert result.metrics == ["acc", "bal"]
    expected = cross_validate(SVC(C=5), *wine, cv=3, scoring=scoring)
    np.testing.assert_array_equal(rows(result, "b")["test_bal"].to_numpy(), expected["test_bal"])


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_repeated_kfold_has_repeat_and_fold_columns(backend: str, n_jobs: int, wine: tuple) -> None:
    cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=1)
    models = {"tree": DecisionTreeClassifier(random_state=0), "knn": KNeighborsClassifier()}
    result = compare(models, *wine, cv=cv, backend=backend, n_jobs=n_jobs)
    assert result.n_splits == 6
    for name, est in models.items():
        got = rows(result, name)
        assert list(got["repeat"]) == [0, 0, 0, 1, 1, 1]
        assert list(got["fold"]) == [0, 1, 2, 0, 1, 2]
        assert list(got["split"]) == list(got["repeat"] * 3 + got["fold"])
        expected = cross_validate(est, *wine, cv=cv)["test_score"]
        np.testing.assert_array_equal(got["test_score"].to_numpy(), expected)


def test_groups_and_fit_params(wine: tuple) -> None:
    X, y = wine
    groups = np.arange(len(y)) % 6
    weights = np.random.RandomState(0).uniform(0.2, 3.0, len(y))
    tree = DecisionTreeClassifier(random_state=0)
    result = compare(
        {"tree": tree},
        X,
        y,
        groups=groups,
        cv=GroupKFold(3),
        fit_params={"sample_weight": weights},
    )
    expected = cross_validate(
        tree, X, y, groups=groups, cv=GroupKFold(3), params={"sample_weight": weights}
    )
    np.testing.assert_array_equal(
        rows(result, "tree")["test_score"].to_numpy(), expected["test_score"]
    )
    unweighted = cross_validate(tree, X, y, groups=groups, cv=GroupKFold(3))["test_score"]
    assert not np.array_equal(expected["test_score"], unweighted)  # weights did matter


def test_regression(datasets: dict) -> None:
    X, y = datasets["diabetes"]
    models = {"ridge": Ridge(alpha=0.5), "tree": DecisionTreeRegressor(max_depth=3, random_state=0)}
    scoring = ["neg_mean_squared_error", "r2"]
    result = compare(models, X, y, cv=KFold(4), scoring=scoring)
    for name, est in models.items():
        expected = cross_validate(est, X, y, cv=KFold(4), scoring=scoring)
        for m in scoring:
            np.testing.assert_array_equal(
                rows(result, name)[f"test_{m}"].to_numpy(), expected[f"test_{m}"]
            )


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_nested_cv_with_a_search_inside(backend: str, wine: tuple) -> None:
    X, y = wine
    inner_cv = StratifiedKFold(3, shuffle=True, random_state=2)
    grid = {"svc__C": [0.1, 1, 10]}
    pipe = make_pipeline(StandardScaler(), SVC())
    ours = gridfold.GridSearchCV(pipe, grid, cv=inner_cv, n_jobs=2)  # nested: runs sequentially
    theirs = skms.GridSearchCV(pipe, grid, cv=inner_cv)
    result = compare(
        {"tuned": ours, "plain": clone(pipe)},
        X,
        y,
        cv=CV,
        scoring=SCORING,
        backend=backend,
        n_jobs=2,
    )
    expected = cross_validate(theirs, X, y, cv=CV, scoring=SCORING)
    for m in SCORING:
        np.testing.assert_array_equal(
            rows(result, "tuned")[f"test_{m}"].to_numpy(), expected[f"test_{m}"]
        )
    plain = cross_validate(pipe, X, y, cv=CV, scoring=SCORING)
    np.testing.assert_array_equal(
        rows(result, "plain")["test_accuracy"].to_numpy(), plain["test_accuracy"]
    )


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_failing_model_gives_nan_and_warns_without_aborting_others(
    backend: str, n_jobs: int, wine: tuple
) -> None:
    models = {"bad": NeverFits(), "svc": SVC(), "tree": DecisionTreeClassifier(random_state=0)}
    with pytest.warns(FitFailedWarning) as caught:
        result = compare(models, *wine, cv=CV, scoring=SCORING, backend=backend, n_jobs=n_jobs)
    messages = [str(w.message) for w in caught if w.category is FitFailedWarning]
    assert len(messages) == 1
    message = messages[0]
    assert message.startswith("bad: 5 of 5 fits failed")
    assert "5 fits failed with the following error" in message
    assert "Traceback (most recent call last)" in message
    assert "ArithmeticError: this model never fits" in message
    assert "error_score='raise'" in message
    bad = rows(result, "bad")
    assert bad["test_accuracy"].isna().all() and bad["test_f1_macro"].isna().all()
    assert bad["fit_error"].str.contains("ArithmeticError: this model never fits").all()
    for name in ("svc", "tree"):
        expected = cross_validate(models[name], *wine, cv=CV, scoring=SCORING)
        np.testing.assert_array_equal(
            rows(result, name)["test_accuracy"].to_numpy(), expected["test_accuracy"]
        )
    summary = result.summary()
    assert list(summary.index)[-1] == "bad" and np.isnan(summary.loc["bad", "mean_test_accuracy"])


def test_error_score_number_and_raise(wine: tuple) -> None:
    with pytest.warns(FitFailedWarning, match=re.escape("set to -1.0")):
        result = compare({"bad": NeverFits()}, *wine, cv=3, error_score=-1.0)
    assert (result.scores["test_score"] == -1.0).all()
    with pytest.raises(ArithmeticError, match="never fits"):
        compare(
            {"bad": NeverFits(), "svc": SVC()},
            *wine,
            cv=3,
            error_score="raise",
            backend="processes",
            n_jobs=2,
        )


@pytest.mark.parametrize(
    ("estimators", "needle"),
    [({}, "no estimators"), ([SVC(), SVC()], "['SVC']"), ({"x": "not a model"}, "no fit method")],
    ids=["empty", "duplicate-names", "not-an-estimator"],
)
def test_bad_estimators(estimators: Any, needle: str, wine: tuple) -> None:
    with pytest.raises(ParameterError) as err:
        compare(estimators, *wine)
    assert needle in str(err.value) and "fix" in str(err.value).lower()


class FailsOnOddTrainSize(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> FailsOnOddTrainSize:
        if len(X) % 2:
            raise ArithmeticError("odd training set")
        self.classes_ = np.unique(y)
        self.first_ = y[0]
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.first_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.FitFailedWarning")
def test_partly_failing_model_has_nan_mean_as_sklearn(wine: tuple) -> None:
    """Like mean_test_score, the summary does not average over the folds that failed."""
    est = FailsOnOddTrainSize()
    result = compare({"partial": est}, *wine, cv=CV)
    scores = rows(result, "partial")["test_score"].to_numpy()
    assert np.isnan(scores).sum() == 2 and np.isfinite(scores).sum() == 3  # 142/143 train rows
    summary = result.summary()
    assert np.isnan(summary.loc["partial", "mean_test_score"])
    with pytest.warns(UserWarning, match="non-finite"):
        sk = skms.GridSearchCV(est, {}, cv=CV).fit(*wine)
    np.testing.assert_array_equal(sk.cv_results_["mean_test_score"], [np.nan])


@pytest.mark.parametrize(
    "first",
    [
        "from gridfold import CompareResult",
        "import gridfold.comparison",
        "from gridfold.comparison import CompareResult",
        "gridfold.GridSearchCV",
    ],
)
def test_gridfold_compare_is_the_function_whatever_is_imported_first(first: str) -> None:
    """No import order may make gridfold.compare anything but the function."""
    import subprocess
    import sys

    code = (
        "import importlib, gridfold\n"
        f"{first}\n"
        "assert callable(gridfold.compare), type(gridfold.compare)\n"
        "assert gridfold.compare is importlib.import_module('gridfold.comparison').compare\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
