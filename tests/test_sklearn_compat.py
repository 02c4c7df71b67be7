"""Pins on the scikit-learn private helpers gridfold relies on (gridfold/_sklearn.py).

If a scikit-learn release changes one of these behaviours, a test here fails
first and names the helper, before the exactness suite fails obscurely.
"""

from __future__ import annotations

import inspect
import math
import re
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
import sklearn.model_selection as skms
from conftest import assert_cv_results_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import accuracy_score, check_scoring
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection._validation import _fit_and_score
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from gridfold import _sklearn
from gridfold.tasks import Model, Study, StudyData, Task, TaskResult

ROOT = Path(__file__).resolve().parents[1]


class NeverFits(ClassifierMixin, BaseEstimator):
    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: Any, y: Any) -> NeverFits:
        raise ArithmeticError("never fits")


def acc_dict(est: Any, X: Any, y: Any) -> dict[str, float]:
    return {"acc": accuracy_score(y, est.predict(X)), "one": 1.0}


@pytest.fixture(scope="module")
def iris(datasets: dict) -> tuple[np.ndarray, np.ndarray]:
    return datasets["iris"]


@pytest.fixture(scope="module")
def splits(iris: tuple) -> tuple:
    return tuple(StratifiedKFold(3, shuffle=True, random_state=0).split(*iris))


def study_for(
    iris: tuple, splits: tuple, estimator: Any, candidates: list, scorer: Any, **kw: Any
) -> Study:
    model = Model("m", estimator, tuple(candidates), scorer)
    return Study(models=(model,), data=StudyData(*iris, splits), **kw)


def all_results(study: Study) -> list[TaskResult]:
    return [_sklearn.fit_and_score(study, t) for t in study.tasks()]


# ---------------------------------------------------------------------------
# Supported range
# ---------------------------------------------------------------------------


def test_installed_sklearn_is_in_the_declared_range() -> None:
    from packaging.specifiers import SpecifierSet

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("scikit-learn"))
    assert sklearn.__version__ in SpecifierSet(spec.removeprefix("scikit-learn")), spec


def test_private_names_and_signatures_gridfold_uses() -> None:
    params = inspect.signature(_fit_and_score).parameters
    used = {
        "scorer",
        "train",
        "test",
        "verbose",
        "parameters",
        "fit_params",
        "score_params",
        "return_train_score",
        "return_n_test_samples",
        "return_times",
        "split_progress",
        "candidate_progress",
        "error_score",
    }
    assert used <= set(params), used - set(params)
    fmt = inspect.signature(skms.GridSearchCV._format_results).parameters
    assert list(fmt) == ["self", "candidate_params", "n_splits", "out", "more_results"]
    assert hasattr(_sklearn.MultimetricScorer(scorers={}), "_scorers")
    assert callable(_sklearn.fit_context(prefer_skip_nested_validation=False))


def test_check_method_params_splits_per_sample_arrays(iris: tuple) -> None:
    X, _ = iris
    w = np.arange(len(X), dtype=float)
    out = _sklearn.check_method_params(X, params={"sample_weight": w, "flag": 3}, indices=[1, 4])
    np.testing.assert_array_equal(out["sample_weight"], [1.0, 4.0])
    assert out["flag"] == 3


# ---------------------------------------------------------------------------
# fit_and_score
# ---------------------------------------------------------------------------


def test_fit_and_score_single_scorer_fields(iris: tuple, splits: tuple) -> None:
    tree = DecisionTreeClassifier(random_state=0)
    study = study_for(iris, splits, tree, [{"max_depth": 2}], check_scoring(tree))
    r = _sklearn.fit_and_score(study, Task(0, 0, 1))
    assert isinstance(r, TaskResult) and r.task == Task(0, 0, 1)
    assert isinstance(r.test_scores, float) and 0 <= r.test_scores <= 1
    assert r.train_scores is None and r.fit_error is None and not r.failed
    assert r.n_test_samples == len(splits[1][1]) and isinstance(r.n_test_samples, int)
    assert isinstance(r.fit_time, float) and r.fit_time >= 0
    assert isinstance(r.score_time, float) and r.score_time >= 0


def test_fit_and_score_equals_sklearn_fit_and_score(iris: tuple, splits: tuple) -> None:
    tree = DecisionTreeClassifier(random_state=0)
    scorer = check_scoring(tree, ["accuracy", "f1_macro"])
    study = study_for(
        iris, splits, tree, [{"max_depth": 1}, {"max_depth": 3}], scorer, return_train_score=True
    )
    for task in study.tasks():
        ours = _sklearn.fit_and_score(study, task)
        train, test = splits[task.split]
        theirs = _fit_and_score(
            DecisionTreeClassifier(random_state=0),
            *iris,
            scorer=scorer,
            train=train,
            test=test,
            verbose=0,
            parameters=study.models[0].candidates[task.candidate],
            fit_params={},
            score_params={},
            return_train_score=True,
            return_n_test_samples=True,
            return_times=True,
        )
        assert ours.test_scores == theirs["test_scores"]
        assert ours.train_scores == theirs["train_scores"]
        assert set(ours.test_scores) == {"accuracy", "f1_macro"}
        assert ours.n_test_samples == theirs["n_test_samples"]


def test_fit_and_score_failed_fit(iris: tuple, splits: tuple) -> None:
    scorer = check_scoring(NeverFits(), ["accuracy", "f1_macro"], raise_exc=False)
    study = study_for(
        iris, splits, NeverFits(), [{"C": 2.0}], scorer, error_score=-3.0, return_train_score=True
    )
    r = _sklearn.fit_and_score(study, Task(0, 0, 0))
    assert r.failed and r.fit_error.startswith("Traceback (most recent call last)")
    assert "ArithmeticError: never fits" in r.fit_error
    assert r.test_scores == {"accuracy": -3.0, "f1_macro": -3.0}
    assert r.train_scores == {"accuracy": -3.0, "f1_macro": -3.0}
    assert r.score_time == 0.0


def test_fit_and_score_failed_fit_with_callable_scorer_is_a_bare_number(
    iris: tuple, splits: tuple
) -> None:
    """Callable scorers' failures are bare numbers until warn_or_raise fixes them up."""
    study = study_for(iris, splits, NeverFits(), [{"C": 1.0}], acc_dict, error_score=0.5)
    assert _sklearn.fit_and_score(study, Task(0, 0, 0)).test_scores == 0.5


def test_fit_and_score_error_score_raise(iris: tuple, splits: tuple) -> None:
    study = study_for(
        iris, splits, NeverFits(), [{}], check_scoring(NeverFits()), error_score="raise"
    )
    with pytest.raises(ArithmeticError, match="never fits"):
        _sklearn.fit_and_score(study, Task(0, 0, 0))


# ---------------------------------------------------------------------------
# warn_or_raise_about_fit_failures
# ---------------------------------------------------------------------------


def test_warn_groups_failures_and_keeps_tracebacks(iris: tuple, splits: tuple) -> None:
    tree = DecisionTreeClassifier(random_state=0)
    cands = [{"max_depth": -1}, {"max_depth": 2}, {"max_depth": -2}]
    study = study_for(iris, splits, tree, cands, check_scoring(tree))
    results = all_results(study)
    with pytest.warns(FitFailedWarning) as caught:
        out = _sklearn.warn_or_raise_about_fit_failures(results, np.nan, False, False)
    message = str(caught[0].message)
    assert "6 fits failed out of a total of 9" in message
    assert message.count("3 fits failed with the following error:\nTraceback") == 2
    assert [set(d) for d in out] == [
        {"fit_error", "test_scores", "n_test_samples", "fit_time", "score_time"}
    ] * 9
    train = _sklearn.warn_or_raise_about_fit_failures(results[3:6], np.nan, False, True)
    assert all("train_scores" in d for d in train)


def test_all_failed_raises_value_error(iris: tuple, splits: tuple) -> None:
    study = study_for(iris, splits, NeverFits(), [{}], check_scoring(NeverFits()))
    with pytest.raises(ValueError, match=re.escape("All the 3 fits failed")):
        _sklearn.warn_or_raise_about_fit_failures(all_results(study), np.nan, False, False)


def test_callable_scoring_failures_become_dicts(iris: tuple, splits: tuple) -> None:
    tree = DecisionTreeClassifier(random_state=0)
    study = study_for(
        iris, splits, tree, [{"max_depth": -1}, {"max_depth": 2}], acc_dict, error_score=0.25
    )
    with pytest.warns(FitFailedWarning):
        out = _sklearn.warn_or_raise_about_fit_failures(all_results(study), 0.25, True, False)
    assert out[0]["test_scores"] == {"acc": 0.25, "one": 0.25}
    assert out[3]["test_scores"]["one"] == 1.0


# ---------------------------------------------------------------------------
# format_cv_results
# ---------------------------------------------------------------------------


def _out(test: list, train: list | None = None) -> list[dict]:
    rows = []
    for i, score in enumerate(test):
        row = {
            "fit_error": None,
            "test_scores": score,
            "n_test_samples": 10,
            "fit_time": 0.1 * i,
            "score_time": 0.01,
        }
        if train is not None:
            row["train_scores"] = train[i]
        rows.append(row)
    return rows


def test_format_cv_results_by_hand() -> None:
    cands = [{"C": 1}, {"C": 10}, {"kernel": "rbf"}]
    scores = [0.5, 0.7, 0.9, 0.9, math.nan, 0.8]  # candidate-major, split-minor
    with pytest.warns(UserWarning, match="non-finite"):
        res = _sklearn.format_cv_results(cands, 2, _out(scores, scores), True)
    np.testing.assert_array_equal(res["split0_test_score"], [0.5, 0.9, math.nan])
    np.testing.assert_array_equal(res["split1_test_score"], [0.7, 0.9, 0.8])
    np.testing.assert_allclose(res["mean_test_score"], [0.6, 0.9, math.nan])
    np.testing.assert_allclose(res["std_test_score"], [0.1, 0.0, math.nan])
    np.testing.assert_array_equal(res["rank_test_score"], [2, 1, 3])  # NaN ranks last
    assert res["rank_test_score"].dtype == np.int32
    np.testing.assert_allclose(res["mean_fit_time"], [0.05, 0.25, 0.45])
    assert res["params"] == cands
    c = res["param_C"]
    assert isinstance(c, np.ma.MaskedArray)
    assert list(np.ma.getmaskarray(c)) == [False, False, True]
    assert list(c.compressed()) == [1, 10]
    assert list(np.ma.getmaskarray(res["param_kernel"])) == [True, True, False]
    assert "split0_train_score" in res and "rank_train_score" not in res


def test_format_cv_results_multimetric_and_more_results() -> None:
    scores = [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]
    res = _sklearn.format_cv_results([{}], 2, _out(scores), False, {"extra": ["x"]})
    assert {"mean_test_a", "mean_test_b", "rank_test_a", "rank_test_b"} <= set(res)
    assert "mean_test_score" not in res and "split0_train_a" not in res
    np.testing.assert_array_equal(res["extra"], np.asarray(["x"]))


@pytest.mark.parametrize(
    ("scoring", "return_train_score"),
    [(None, False), (["accuracy", "f1_macro"], True), (acc_dict, False)],
    ids=["single", "multi", "callable-dict"],
)
def test_format_cv_results_equals_sklearn_search(
    iris: tuple, splits: tuple, scoring: Any, return_train_score: bool
) -> None:
    svc = SVC()
    grid = {"C": [0.1, 1.0, 10.0], "kernel": ["linear", "rbf"]}
    reference = skms.GridSearchCV(
        svc,
        grid,
        cv=list(splits),
        scoring=scoring,
        refit=False,
        return_train_score=return_train_score,
    ).fit(*iris)
    cands = list(skms.ParameterGrid(grid))
    scorer = scoring if callable(scoring) else check_scoring(svc, scoring)
    study = study_for(iris, splits, svc, cands, scorer, return_train_score=return_train_score)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no failures, nothing to warn about
        out = _sklearn.warn_or_raise_about_fit_failures(
            all_results(study), np.nan, callable(scoring), return_train_score
        )
    got = _sklearn.format_cv_results(cands, len(splits), out, return_train_score)
    assert_cv_results_equal(got, reference.cv_results_)
