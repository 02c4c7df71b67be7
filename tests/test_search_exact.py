"""gridfold's searches give exactly scikit-learn's results, on every executor.

Each case runs scikit-learn's search once (cached) and gridfold's search on the
sequential, threads and processes executors, then compares ``cv_results_``
(keys, dtypes, masks, every non-timing value), ``best_*`` and the warnings.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import sklearn.model_selection as skms
from conftest import BACKEND_IDS, BACKENDS, assert_cv_results_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joblib import cpu_count
from scipy.stats import loguniform, randint
from sklearn.cluster import KMeans
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

import gridfold

# ----------------------------------------------------------------------------
# Scorers and refit callables used by the cases. Module-level so that they
# pickle by reference into process workers as users' functions would.
# ----------------------------------------------------------------------------


def acc_and_f1(est: Any, X: Any, y: Any) -> dict[str, float]:
    pred = est.predict(X)
    return {"acc": accuracy_score(y, pred), "f1": f1_score(y, pred, average="macro")}


def lowest_mean_score(cv_results: dict) -> int:
    return int(np.argmin(cv_results["mean_test_score"]))


def kmeans_score(est: Any, X: Any, y: Any = None) -> float:
    return float(est.score(X))


@dataclass
class Case:
    id: str
    data: str
    estimator: Any
    space: Any
    random: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)
    fit_params: Callable[[np.ndarray, np.ndarray], dict[str, Any]] = lambda X, y: {}
    unsupervised: bool = False

    def make(self, lib: Any, **extra: Any) -> Any:
        cls = lib.RandomizedSearchCV if self.random else lib.GridSearchCV
        return cls(self.estimator, self.space, **self.kwargs, **extra)


def _weights(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return {"sample_weight": np.random.RandomState(0).uniform(0.5, 2.0, len(y))}


def _groups(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return {"groups": np.arange(len(y)) % 7}


def _explicit_splits() -> list[tuple[np.ndarray, np.ndarray]]:
    n = 150  # iris
    order = np.random.RandomState(3).permutation(n)
    folds = np.array_split(order, 3)
    return [(np.setdiff1d(order, f), f) for f in folds]


_tree = DecisionTreeClassifier(random_state=0)
_scaled_logreg = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])

CASES = [
    Case(
        "iris-svc-cv-int",
        "iris",
        SVC(),
        {"C": [0.1, 1, 10], "kernel": ["linear", "rbf"]},
        kwargs={"cv": 4},
    ),
    Case(
        "wine-scoring-list-refit-name",
        "wine",
        _scaled_logreg,
        {"clf__C": [0.01, 0.1, 1.0]},
        kwargs={"scoring": ["accuracy", "f1_macro"], "refit": "f1_macro", "cv": 3},
    ),
    Case(
        "bc-scoring-dict-train-score",
        "breast_cancer",
        _tree,
        {"max_depth": [1, 2, 3, None]},
        kwargs={
            "scoring": {"acc": "accuracy", "auc": "roc_auc"},
            "refit": "auc",
            "return_train_score": True,
            "cv": 3,
        },
    ),
    Case(
        "iris-callable-dict-scoring",
        "iris",
        KNeighborsClassifier(),
        {"n_neighbors": [1, 3, 5, 9]},
        kwargs={"scoring": acc_and_f1, "refit": "acc", "cv": 5},
    ),
    Case(
        "digits-multimetric-refit-false",
        "digits",
        _tree,
        {"max_depth": [2, 4, 8]},
        kwargs={"scoring": ["accuracy", "balanced_accuracy"], "refit": False, "cv": 3},
    ),
    Case(
        "iris-single-refit-false",
        "iris",
        _tree,
        {"min_samples_leaf": [1, 5, 20]},
        kwargs={"refit": False, "cv": 3},
    ),
    Case(
        "iris-refit-callable",
        "iris",
        KNeighborsClassifier(),
        {"n_neighbors": [1, 15, 40]},
        kwargs={"refit": lowest_mean_score, "cv": 3},
    ),
    Case(
        "wine-train-score",
        "wine",
        _tree,
        {"max_depth": [1, 3]},
        kwargs={"return_train_score": True, "scoring": "accuracy", "cv": 3},
    ),
    Case(
        "bc-stratified-shuffle",
        "breast_cancer",
        _tree,
        {"max_depth": [2, 3]},
        kwargs={"cv": StratifiedKFold(4, shuffle=True, random_state=7)},
    ),
    Case(
        "iris-groupkfold-groups",
        "iris",
        _tree,
        {"max_depth": [1, 2, 3]},
        kwargs={"cv": GroupKFold(3)},
        fit_params=_groups,
    ),
    Case(
        "wine-repeated-stratified",
        "wine",
        _tree,
        {"max_depth": [2, None]},
        kwargs={
            "cv": RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0),
            "scoring": "accuracy",
        },
    ),
    Case("iris-iterable-splits", "iris", SVC(), {"C": [0.5, 5]}, kwargs={"cv": _explicit_splits()}),
    Case(
        "bc-sample-weight",
        "breast_cancer",
        _tree,
        {"max_depth": [2, 4]},
        kwargs={"cv": 3},
        fit_params=_weights,
    ),
    Case("iris-error-score-nan", "iris", _tree, {"max_depth": [-1, 2, 3]}, kwargs={"cv": 3}),
    Case(
        "iris-error-score-number",
        "iris",
        _tree,
        {"max_depth": [2, -1, 3]},
        kwargs={
            "cv": 3,
            "error_score": -1.5,
            "scoring": ["accuracy", "f1_macro"],
            "refit": "accuracy",
            "return_train_score": True,
        },
    ),
    Case(
        "iris-error-score-callable-scoring",
        "iris",
        _tree,
        {"max_depth": [-1, 2]},
        kwargs={"cv": 3, "scoring": acc_and_f1, "refit": "f1", "error_score": 0.0},
    ),
    Case(
        "iris-kmeans-scoring-none",
        "iris",
        KMeans(n_init=2, random_state=0),
        {"n_clusters": [2, 3, 4]},
        kwargs={"cv": KFold(3)},
        unsupervised=True,
    ),
    Case(
        "iris-kmeans-callable-no-y",
        "iris",
        KMeans(n_init=2, random_state=0),
        {"n_clusters": [2, 3]},
        kwargs={"cv": KFold(3, shuffle=True, random_state=1), "scoring": kmeans_score},
        unsupervised=True,
    ),
    Case(
        "wine-pipeline-steps",
        "wine",
        Pipeline([("scale", StandardScaler()), ("clf", SVC())]),
        {
            "scale": [StandardScaler(), MinMaxScaler()],
            "clf__C": [0.1, 1.0],
            "clf__kernel": ["linear", "rbf"],
        },
        kwargs={"cv": 3},
    ),
    Case(
        "iris-list-of-dicts",
        "iris",
        SVC(),
        [{"kernel": ["linear"], "C": [1, 10]}, {"kernel": ["rbf"], "C": [1], "gamma": [0.1, 1.0]}],
        kwargs={"cv": 3},
    ),
    Case(
        "diabetes-regression",
        "diabetes",
        Ridge(),
        {"alpha": [0.01, 0.1, 1.0, 10.0]},
        kwargs={"cv": 5, "scoring": ["neg_mean_squared_error", "r2"], "refit": "r2"},
    ),
    Case(
        "diabetes-random-tree",
        "diabetes",
        DecisionTreeRegressor(random_state=0),
        {"max_depth": randint(1, 8), "min_samples_leaf": [1, 5, 10]},
        random=True,
        kwargs={"n_iter": 5, "random_state": 0, "cv": 3},
    ),
    Case(
        "bc-random-loguniform",
        "breast_cancer",
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]),
        {"clf__C": loguniform(1e-3, 1e2)},
        random=True,
        kwargs={
            "n_iter": 4,
            "random_state": 42,
            "cv": 3,
            "scoring": "roc_auc",
            "return_train_score": True,
        },
    ),
    Case(
        "digits-random-list-of-dicts",
        "digits",
        _tree,
        [{"max_depth": [2, 4, 8]}, {"min_samples_split": randint(2, 20)}],
        random=True,
        kwargs={"n_iter": 5, "random_state": 1, "cv": 3},
    ),
]

_SK_CACHE: dict[str, tuple[Any, list[tuple[str, str]]]] = {}


def _xy(case: Case, datasets: dict) -> tuple[np.ndarray, np.ndarray | None]:
    X, y = datasets[case.data]
    return X, (None if case.unsupervised else y)


def _fit(search: Any, X: Any, y: Any, fit_params: dict) -> list[tuple[str, str]]:
    """Fit and return the (category, message) of every warning raised.

    Line numbers in tracebacks are blanked: scikit-learn calls
    ``_fit_and_score`` with a callback context and gridfold without, so the
    ``estimator.fit`` call is on a different line of the same function.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(X, y, **fit_params)
    return sorted(
        ((w.category.__name__, re.sub(r"line \d+", "line N", str(w.message))) for w in caught),
        key=str,
    )


def inner_threads(n_jobs: int) -> int | None:
    """BLAS/OpenMP threads per worker, as joblib (hence scikit-learn's n_jobs=N) sets them."""
    return None if n_jobs == 1 else max(1, cpu_count() // n_jobs)


def _sklearn_result(case: Case, datasets: dict, n_jobs: int) -> tuple[Any, list[tuple[str, str]]]:
    """scikit-learn's search with the inner thread count its own ``n_jobs`` would give.

    OpenMP reductions (KMeans inertia, say) round differently with 1 and 2
    threads, so "exact" means: the same computation with the same threads.
    """
    inner = inner_threads(n_jobs)
    key = f"{case.id}/{inner}"
    if key not in _SK_CACHE:
        X, y = _xy(case, datasets)
        search = case.make(skms)
        with threadpool_limits(limits=inner):
            _SK_CACHE[key] = (search, _fit(search, X, y, case.fit_params(X, y)))
    return _SK_CACHE[key]


def assert_same_search(got: Any, expected: Any) -> None:
    assert_cv_results_equal(got.cv_results_, expected.cv_results_)
    for attr in ("best_index_", "best_score_", "best_params_", "n_splits_", "multimetric_"):
        assert hasattr(got, attr) == hasattr(expected, attr), attr
        if hasattr(expected, attr):
            assert getattr(got, attr) == getattr(expected, attr), attr
    assert hasattr(got, "best_estimator_") == hasattr(expected, "best_estimator_")


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_search_equals_sklearn(case: Case, backend: str, n_jobs: int, datasets: dict) -> None:
    expected, expected_warnings = _sklearn_result(case, datasets, n_jobs)
    X, y = _xy(case, datasets)
    got = case.make(gridfold, backend=backend, n_jobs=n_jobs)
    got_warnings = _fit(got, X, y, case.fit_params(X, y))

    assert_same_search(got, expected)
    # Same warnings, word for word (failed-fit tracebacks included).
    assert [c for c, _ in got_warnings] == [c for c, _ in expected_warnings]
    assert got_warnings == expected_warnings
    if hasattr(expected, "best_estimator_"):
        np.testing.assert_array_equal(
            got.best_estimator_.predict(X[:20]), expected.best_estimator_.predict(X[:20])
        )


def test_failing_cases_really_fail(datasets: dict) -> None:
    """Guard: the error_score cases do exercise failed fits."""
    case = next(c for c in CASES if c.id == "iris-error-score-nan")
    expected, caught = _sklearn_result(case, datasets, 1)
    assert np.isnan(expected.cv_results_["mean_test_score"][0])
    assert any(c == FitFailedWarning.__name__ for c, _ in caught)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_error_score_raise_same_exception(backend: str, n_jobs: int, datasets: dict) -> None:
    X, y = datasets["iris"]
    grid = {"max_depth": [2, -1, 3]}
    with pytest.raises(Exception) as sk_err:
        skms.GridSearchCV(_tree, grid, cv=3, error_score="raise").fit(X, y)
    with pytest.raises(Exception) as gf_err:
        gridfold.GridSearchCV(
            _tree, grid, cv=3, error_score="raise", backend=backend, n_jobs=n_jobs
        ).fit(X, y)
    assert type(gf_err.value) is type(sk_err.value)
    assert str(gf_err.value) == str(sk_err.value)


# ----------------------------------------------------------------------------
# Property: random small grids and seeds on random data.
# ----------------------------------------------------------------------------

_depths = st.lists(st.one_of(st.none(), st.integers(1, 6)), min_size=1, max_size=3, unique=True)
_splits = st.lists(st.integers(2, 12), min_size=1, max_size=3, unique=True)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    depths=_depths,
    min_splits=_splits,
    seed=st.integers(0, 2**16),
    n_classes=st.integers(2, 3),
    backend_jobs=st.sampled_from(BACKENDS),
)
def test_property_random_grids(
    depths: list, min_splits: list, seed: int, n_classes: int, backend_jobs: tuple
) -> None:
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(60, 4))
    y = rng.randint(0, n_classes, size=60)
    grid = {"max_depth": depths, "min_samples_split": min_splits}
    est = DecisionTreeClassifier(random_state=seed % 7)
    cv = StratifiedKFold(3, shuffle=True, random_state=seed)
    backend, n_jobs = backend_jobs
    expected = skms.GridSearchCV(est, grid, cv=cv).fit(X, y)
    got = gridfold.GridSearchCV(est, grid, cv=cv, backend=backend, n_jobs=n_jobs).fit(X, y)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(got.cv_results_[key], expected.cv_results_[key])
    assert got.best_params_ == expected.best_params_
    assert got.best_index_ == expected.best_index_
    assert got.best_score_ == expected.best_score_


# ----------------------------------------------------------------------------
# Input containers: what reaches the workers is not only a float ndarray.
# ----------------------------------------------------------------------------

_INPUTS = {
    "csr-matrix": lambda X, y: (__import__("scipy.sparse").sparse.csr_matrix(X), y),
    "python-lists": lambda X, y: (X.tolist(), y.tolist()),
    "pandas": lambda X, y: (
        __import__("pandas").DataFrame(X, columns=list("abcd")),
        __import__("pandas").Series(y),
    ),
    "string-labels": lambda X, y: (X, np.array(["setosa", "versicolor", "virginica"])[y]),
}


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("kind", list(_INPUTS))
def test_input_containers(kind: str, backend: str, n_jobs: int, datasets: dict) -> None:
    X, y = _INPUTS[kind](*datasets["iris"])
    grid = {"max_depth": [1, 2, 3]}
    kwargs: dict[str, Any] = {"cv": 3, "scoring": ["accuracy", "f1_macro"], "refit": "accuracy"}
    expected = skms.GridSearchCV(_tree, grid, **kwargs).fit(X, y)
    got = gridfold.GridSearchCV(_tree, grid, backend=backend, n_jobs=n_jobs, **kwargs).fit(X, y)
    assert_same_search(got, expected)
    np.testing.assert_array_equal(got.predict(X), expected.predict(X))


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_metadata_routing_to_fit_and_scorer(backend: str, n_jobs: int, datasets: dict) -> None:
    import sklearn
    from sklearn.metrics import make_scorer

    X, y = datasets["iris"]
    weights = np.random.RandomState(0).uniform(0.1, 3.0, len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        est = LogisticRegression(max_iter=300).set_fit_request(sample_weight=True)
        scorer = make_scorer(accuracy_score).set_score_request(sample_weight=True)
        kwargs: dict[str, Any] = {"scoring": scorer, "cv": 3, "return_train_score": True}
        grid = {"C": [0.1, 1.0]}
        expected = skms.GridSearchCV(est, grid, **kwargs).fit(X, y, sample_weight=weights)
        got = gridfold.GridSearchCV(est, grid, backend=backend, n_jobs=n_jobs, **kwargs).fit(
            X, y, sample_weight=weights
        )
    assert_same_search(got, expected)
