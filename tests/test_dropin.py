"""gridfold's searches behave like scikit-learn's everywhere but in where fits run."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import sklearn.model_selection as skms
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics._scorer import _Scorer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

import gridfold

SEARCHES = {
    "grid": lambda est, space, **kw: gridfold.GridSearchCV(est, space, **kw),
    "random": lambda est, space, **kw: gridfold.RandomizedSearchCV(
        est, space, n_iter=3, random_state=0, **kw
    ),
}


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def fitted(iris: tuple) -> dict[str, Any]:
    """One fitted search per face, run on processes (pickling/unpickling included)."""
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=300))])
    space = {"clf__C": [0.1, 1.0, 10.0]}
    return {
        name: make(pipe, space, cv=3, backend="processes", n_jobs=2).fit(*iris)
        for name, make in SEARCHES.items()
    }


@pytest.mark.parametrize("name", SEARCHES)
def test_get_set_params_and_clone_include_new_params(name: str) -> None:
    search = SEARCHES[name](SVC(), {"C": [1, 2]}, backend="threads", progress=True, n_jobs=2)
    params = search.get_params()
    assert params["backend"] == "threads" and params["progress"] is True
    assert "estimator__C" in params  # deep params, as scikit-learn's
    cloned = clone(search)
    assert cloned.get_params()["backend"] == "threads"
    assert cloned.get_params()["progress"] is True
    assert type(cloned) is type(search)
    search.set_params(backend="processes", progress=False, estimator__C=3.0)
    assert search.backend == "processes" and search.progress is False
    assert search.estimator.C == 3.0
    defaults = SEARCHES[name](SVC(), {"C": [1]}).get_params()
    assert defaults["backend"] is None and defaults["progress"] is False
    assert defaults["share"] is True


OUR_PARAMS = {"backend", "progress", "share", "store", "fit_timeout", "retries", "scheduler"}


def test_same_params_as_sklearn_plus_ours() -> None:
    ours = set(gridfold.GridSearchCV(SVC(), {}).get_params(deep=False))
    theirs = set(skms.GridSearchCV(SVC(), {}).get_params(deep=False))
    assert ours - theirs == OUR_PARAMS and theirs <= ours
    ours = set(gridfold.RandomizedSearchCV(SVC(), {}).get_params(deep=False))
    theirs = set(skms.RandomizedSearchCV(SVC(), {}).get_params(deep=False))
    assert ours - theirs == OUR_PARAMS and theirs <= ours


def test_is_a_sklearn_search() -> None:
    assert isinstance(gridfold.GridSearchCV(SVC(), {}), skms.GridSearchCV)
    assert isinstance(gridfold.RandomizedSearchCV(SVC(), {}), skms.RandomizedSearchCV)


@pytest.mark.parametrize("name", SEARCHES)
def test_delegated_methods_after_fit(name: str, fitted: dict, iris: tuple) -> None:
    X, y = iris
    search = fitted[name]
    best = search.best_estimator_
    np.testing.assert_array_equal(search.predict(X), best.predict(X))
    np.testing.assert_array_equal(search.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(search.predict_log_proba(X), best.predict_log_proba(X))
    np.testing.assert_array_equal(search.decision_function(X), best.decision_function(X))
    assert search.score(X, y) == best.score(X, y)
    np.testing.assert_array_equal(search.classes_, np.unique(y))
    assert search.n_features_in_ == 4


def test_delegated_transform(iris: tuple) -> None:
    X, _ = iris
    search = gridfold.GridSearchCV(
        PCA(random_state=0), {"n_components": [1, 2, 3]}, cv=3, backend="threads", n_jobs=2
    ).fit(X)
    reference = skms.GridSearchCV(PCA(random_state=0), {"n_components": [1, 2, 3]}, cv=3).fit(X)
    assert search.best_params_ == reference.best_params_
    np.testing.assert_array_equal(search.transform(X), search.best_estimator_.transform(X))
    Xt = search.transform(X)
    np.testing.assert_array_equal(search.inverse_transform(Xt), reference.inverse_transform(Xt))


@pytest.mark.parametrize("name", SEARCHES)
def test_pickle_round_trip(name: str, fitted: dict, iris: tuple) -> None:
    X, y = iris
    search = fitted[name]
    loaded = pickle.loads(pickle.dumps(search))
    assert type(loaded) is type(search)
    assert loaded.get_params()["backend"] == "processes"
    np.testing.assert_array_equal(loaded.predict_proba(X), search.predict_proba(X))
    assert loaded.best_params_ == search.best_params_
    np.testing.assert_array_equal(
        loaded.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"]
    )
    loaded.set_params(backend="sequential", n_jobs=1).fit(X, y)  # and fits again
    assert loaded.best_params_ == search.best_params_


@pytest.mark.parametrize("name", SEARCHES)
def test_fitted_attributes(name: str, fitted: dict) -> None:
    search = fitted[name]
    assert search.n_splits_ == 3
    assert isinstance(search.refit_time_, float) and search.refit_time_ >= 0
    assert search.multimetric_ is False
    assert isinstance(search.scorer_, _Scorer) or callable(search.scorer_)
    assert search.best_index_ == int(np.argmin(search.cv_results_["rank_test_score"]))


def test_multimetric_attributes(iris: tuple) -> None:
    search = gridfold.GridSearchCV(
        SVC(), {"C": [0.1, 1]}, scoring=["accuracy", "f1_macro"], refit="f1_macro", cv=3
    ).fit(*iris)
    assert search.multimetric_ is True
    assert isinstance(search.scorer_, dict) and set(search.scorer_) == {"accuracy", "f1_macro"}
    assert search.best_score_ == search.cv_results_["mean_test_f1_macro"][search.best_index_]


def test_verbose_prints_fitting_line(iris: tuple, capsys: pytest.CaptureFixture) -> None:
    gridfold.GridSearchCV(SVC(), {"C": [0.1, 1, 10]}, cv=4, verbose=1).fit(*iris)
    out = capsys.readouterr().out
    assert "Fitting 4 folds for each of 3 candidates, totalling 12 fits" in out


def test_verbose_zero_is_silent(iris: tuple, capsys: pytest.CaptureFixture) -> None:
    gridfold.GridSearchCV(SVC(), {"C": [1]}, cv=2).fit(*iris)
    assert capsys.readouterr().out == ""


def test_check_is_fitted(iris: tuple) -> None:
    search = gridfold.GridSearchCV(SVC(), {"C": [1]}, cv=2)
    with pytest.raises(NotFittedError):
        check_is_fitted(search)
    with pytest.raises(NotFittedError):
        search.predict(iris[0])
    check_is_fitted(search.fit(*iris))


def test_refit_false_has_no_predict(iris: tuple) -> None:
    search = gridfold.GridSearchCV(SVC(), {"C": [1, 2]}, cv=2, refit=False).fit(*iris)
    reference = skms.GridSearchCV(SVC(), {"C": [1, 2]}, cv=2, refit=False).fit(*iris)
    assert not hasattr(search, "best_estimator_") and not hasattr(search, "predict")
    with pytest.raises(AttributeError) as ours:
        search.predict(iris[0])
    with pytest.raises(AttributeError) as theirs:
        reference.predict(iris[0])
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value.__cause__) == str(theirs.value.__cause__)


def test_feature_names_in_from_dataframe(iris: tuple) -> None:
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(iris[0], columns=["a", "b", "c", "d"])
    search = gridfold.GridSearchCV(
        LogisticRegression(max_iter=300), {"C": [1]}, cv=2, backend="processes", n_jobs=2
    ).fit(X, iris[1])
    assert list(search.feature_names_in_) == ["a", "b", "c", "d"]
    reference = skms.GridSearchCV(LogisticRegression(max_iter=300), {"C": [1]}, cv=2).fit(
        X, iris[1]
    )
    np.testing.assert_array_equal(
        search.cv_results_["split0_test_score"], reference.cv_results_["split0_test_score"]
    )


def test_progress_bar_does_not_change_results(iris: tuple) -> None:
    kwargs: dict[str, Any] = {"cv": 3, "backend": "threads", "n_jobs": 2}
    grid = {"C": [0.1, 1]}
    with_bar = gridfold.GridSearchCV(SVC(), grid, progress=True, **kwargs).fit(*iris)
    without = gridfold.GridSearchCV(SVC(), grid, **kwargs).fit(*iris)
    np.testing.assert_array_equal(
        with_bar.cv_results_["mean_test_score"], without.cv_results_["mean_test_score"]
    )


def test_default_backend_is_processes_for_n_jobs_2(iris: tuple) -> None:
    from gridfold.executors import get_executor

    with get_executor(None, 2) as ex:
        assert ex.name == "processes"
    with get_executor(None, None) as ex:
        assert ex.name == "sequential"
    search = gridfold.GridSearchCV(SVC(), {"C": [1, 2]}, cv=2, n_jobs=2).fit(*iris)
    reference = skms.GridSearchCV(SVC(), {"C": [1, 2]}, cv=2).fit(*iris)
    assert search.best_params_ == reference.best_params_


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize(("backend", "n_jobs"), [("sequential", 1), ("threads", 2)])
@pytest.mark.parametrize("name", SEARCHES)
def test_the_users_objects_never_change(
    name: str, backend: str, n_jobs: int, share: bool, iris: tuple
) -> None:
    # Estimators put in the grid (a step, replaced, with parameters of its own) and the
    # search's estimator are the caller's: a fit may set parameters only on clones.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    step = LogisticRegression(max_iter=300)
    knn = KNeighborsClassifier()
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", None)])
    space = [
        {"clf": [step], "clf__C": [0.01, 10.0]},
        {"clf": [knn], "clf__n_neighbors": [1, 3, 5]},  # a path family: one query per split
        {"clf": [forest], "clf__n_estimators": [2, 4]},  # a forest path
    ]
    before = [pickle.dumps(obj) for obj in (step, knn, forest, pipe)]
    kwargs = dict(cv=3, scoring="accuracy", backend=backend, n_jobs=n_jobs, share=share)
    search = SEARCHES[name](pipe, space, **kwargs)
    search.fit(*iris)
    assert [pickle.dumps(obj) for obj in (step, knn, forest, pipe)] == before
    assert search.best_estimator_.named_steps["clf"] is not search.best_params_["clf"]
