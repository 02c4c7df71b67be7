"""Errors on bad input: the right type, before any fit, with a message that helps.

Every message says what was expected, what was given, and how to fix it;
every input error is also a ``ValueError`` (what scikit-learn raises), so
existing ``except ValueError`` code keeps working.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_info

import gridfold
from gridfold import DataError, GridfoldError, ParameterError

# The function's home module; `gridfold.compare` itself is pinned in test_compare.py.
from gridfold.comparison import compare

SEARCHES = [gridfold.GridSearchCV, gridfold.RandomizedSearchCV]


class NeverFits(ClassifierMixin, BaseEstimator):
    """Fails every fit; counts nothing, so it is safe in any executor."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: Any, y: Any) -> NeverFits:
        raise ArithmeticError(f"cannot fit with C={self.C}")


@pytest.fixture(scope="module")
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    return X, (X[:, 0] > 0).astype(int)


def search(cls: type, estimator: Any, space: Any, **kwargs: Any) -> Any:
    if cls is gridfold.RandomizedSearchCV:
        kwargs.setdefault("n_iter", 2)
        kwargs.setdefault("random_state", 0)
    return cls(estimator, space, cv=2, **kwargs)


def assert_helpful(err: BaseException, *needles: str) -> None:
    message = str(err)
    assert isinstance(err, GridfoldError) and isinstance(err, ValueError)
    assert "expected" in message.lower(), message
    assert "fix" in message.lower(), message
    for needle in needles:
        assert needle in message, (needle, message)


def test_error_classes_are_value_errors() -> None:
    for cls in (ParameterError, DataError, gridfold.ConfigError):
        assert issubclass(cls, ValueError) and issubclass(cls, GridfoldError)
    assert issubclass(gridfold.ExecutorError, GridfoldError)


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", SEARCHES)
def test_unknown_parameter_names_it_and_suggests(cls: type, xy: tuple) -> None:
    with pytest.raises(ParameterError) as err:
        search(cls, SVC(), {"CC": [1, 2]}).fit(*xy)
    assert_helpful(err.value, "'CC'", "did you mean 'C'", "SVC")


def test_unknown_pipeline_parameter_suggests_step_syntax(xy: tuple) -> None:
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    with pytest.raises(ParameterError) as err:
        gridfold.GridSearchCV(pipe, {"clf_C": [1, 2]}, cv=2).fit(*xy)
    assert_helpful(err.value, "'clf_C'", "did you mean 'clf__C'", "<step>__<param>")


def test_unknown_parameter_fails_before_any_fit(xy: tuple) -> None:
    # NeverFits would warn on every fit; the error must come first, alone.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match="'c'"):
            gridfold.GridSearchCV(NeverFits(), {"c": [1]}, cv=2).fit(*xy)


def test_step_replacement_with_its_own_params_is_not_unknown(xy: tuple) -> None:
    pipe = Pipeline([("clf", LogisticRegression())])
    grid = {"clf": [SVC()], "clf__kernel": ["linear", "rbf"]}  # SVC has kernel, LR not
    gs = gridfold.GridSearchCV(pipe, grid, cv=2).fit(*xy)
    assert len(gs.cv_results_["params"]) == 2


@pytest.mark.parametrize("cls", SEARCHES)
@pytest.mark.parametrize(
    "space",
    [{"C": []}, [{"C": [1]}, {"kernel": []}], {"C": np.array([])}],
    ids=["dict", "list-of-dicts", "empty-array"],
)
def test_empty_grid(cls: type, space: Any, xy: tuple) -> None:
    # scikit-learn's message (its own tests match it), then what was expected and the fix.
    with pytest.raises(ParameterError) as err:
        search(cls, SVC(), space).fit(*xy)
    assert_helpful(err.value, "need to be a non-empty sequence", "non-empty lists")


def test_wrong_grid_type_is_sklearns_type_error_with_a_fix(xy: tuple) -> None:
    with pytest.raises(TypeError) as err:
        gridfold.GridSearchCV(SVC(), {"C": 1}, cv=2).fit(*xy)
    assert isinstance(err.value, gridfold.ParameterTypeError)
    assert_helpful(err.value, "needs to be a list or a numpy array", "in a list of one")


def test_empty_list_of_grids(xy: tuple) -> None:
    with pytest.raises(ParameterError) as err:
        gridfold.GridSearchCV(SVC(), [], cv=2).fit(*xy)
    assert_helpful(err.value, "No fits were performed", "got 0 candidate(s)")


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True], ids=repr)
def test_invalid_n_jobs(n_jobs: Any, xy: tuple) -> None:
    with pytest.raises(ParameterError) as err:
        gridfold.GridSearchCV(SVC(), {"C": [1]}, n_jobs=n_jobs, cv=2).fit(*xy)
    assert_helpful(err.value, f"n_jobs={n_jobs!r}")
    with pytest.raises(ParameterError) as err:
        compare([SVC()], *xy, n_jobs=n_jobs, cv=2)
    assert_helpful(err.value, f"n_jobs={n_jobs!r}")


def test_unknown_backend(xy: tuple) -> None:
    with pytest.raises(ParameterError) as err:
        gridfold.GridSearchCV(SVC(), {"C": [1]}, backend="gpu", cv=2).fit(*xy)
    assert_helpful(err.value, "'gpu'", *gridfold.available_backends())
    with pytest.raises(ParameterError) as err:
        compare([SVC()], *xy, backend="gpu", cv=2)
    assert_helpful(err.value, "'gpu'")


def test_backend_of_wrong_type_is_rejected_by_sklearn_validation(xy: tuple) -> None:
    with pytest.raises(ValueError, match="backend"):
        gridfold.GridSearchCV(SVC(), {"C": [1]}, backend=3, cv=2).fit(*xy)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", SEARCHES)
def test_x_y_length_mismatch(cls: type, xy: tuple) -> None:
    X, y = xy
    with pytest.raises(DataError) as err:
        search(cls, SVC(), {"C": [1, 2]}).fit(X, y[:-3])
    assert_helpful(err.value, "X has 40", "y has 37")


def test_sample_weight_length_mismatch(xy: tuple) -> None:
    X, y = xy
    with pytest.raises(DataError) as err:
        gridfold.GridSearchCV(SVC(), {"C": [1]}, cv=2).fit(X, y, sample_weight=np.ones(5))
    assert_helpful(err.value, "sample_weight has 5")


def test_continuous_y_with_classifier(xy: tuple) -> None:
    X, _ = xy
    y = np.linspace(0.1, 0.9, len(X))
    with pytest.raises(DataError) as err:
        gridfold.GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1]}, cv=2).fit(X, y)
    assert_helpful(err.value, "classifier", "continuous", "regressor")
    with pytest.raises(DataError):
        compare([DecisionTreeClassifier()], X, y, cv=2)


def test_supervised_estimator_without_y(xy: tuple) -> None:
    with pytest.raises(DataError) as err:
        gridfold.GridSearchCV(SVC(), {"C": [1]}, cv=2).fit(xy[0])
    assert_helpful(err.value, "y is None")


def test_input_error_leaves_no_thread_limits_behind(xy: tuple) -> None:
    """A threads search that fails on its input must not cap BLAS for the session."""
    X, y = xy
    before = [i["num_threads"] for i in threadpool_info()]
    with pytest.raises(DataError):
        gridfold.GridSearchCV(SVC(), {"C": [1]}, backend="threads", n_jobs=2).fit(X, y[:5])
    with pytest.raises(DataError):
        compare([SVC()], X, y[:5], backend="threads", n_jobs=2)
    assert [i["num_threads"] for i in threadpool_info()] == before


# ---------------------------------------------------------------------------
# Failed fits
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
@pytest.mark.parametrize(("backend", "n_jobs"), [("sequential", 1), ("processes", 2)])
def test_failed_fits_warn_grouped_with_traceback(backend: str, n_jobs: int, xy: tuple) -> None:
    tree = DecisionTreeClassifier()
    with pytest.warns(FitFailedWarning) as caught:
        gs = gridfold.GridSearchCV(
            tree, {"max_depth": [-1, -2, 2]}, cv=3, backend=backend, n_jobs=n_jobs
        ).fit(*xy)
    messages = [str(w.message) for w in caught if w.category is FitFailedWarning]
    assert len(messages) == 1
    message = messages[0]
    assert "6 fits failed out of a total of 9" in message
    # Grouped: the two parameter values give two distinct errors, 3 fits each.
    assert message.count("3 fits failed with the following error") == 2
    assert message.count("Traceback (most recent call last)") == 2
    assert "max_depth" in message and "error_score='raise'" in message
    scores = gs.cv_results_["mean_test_score"]
    assert np.isnan(scores[:2]).all() and np.isfinite(scores[2])
    assert gs.best_params_ == {"max_depth": 2}


def test_all_fits_failing_raises_with_how_to_debug(xy: tuple) -> None:
    with pytest.raises(ValueError, match=re.escape("All the 4 fits failed")) as err:
        gridfold.GridSearchCV(NeverFits(), {"C": [1, 2]}, cv=2).fit(*xy)
    assert "error_score='raise'" in str(err.value)
    assert "ArithmeticError: cannot fit with C=1" in str(err.value)


def test_error_score_raise_propagates_original_exception(xy: tuple) -> None:
    with pytest.raises(ArithmeticError, match="cannot fit with C=1"):
        gridfold.GridSearchCV(
            NeverFits(), {"C": [1]}, cv=2, error_score="raise", backend="processes", n_jobs=2
        ).fit(*xy)


def test_invalid_error_score(xy: tuple) -> None:
    with pytest.raises(ValueError, match="error_score"):
        gridfold.GridSearchCV(SVC(), {"C": [1]}, cv=2, error_score="rise").fit(*xy)
