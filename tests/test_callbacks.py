"""scikit-learn's callbacks (``set_callbacks``) see the same hooks on every backend.

A callback on gridfold's search is compared with the same callback on
scikit-learn's (sequential) search: the same hooks, for the same tasks, with
the same training data, whatever the backend, with shared work (a path
family) and with results read back from a store.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from conftest import BACKEND_IDS, BACKENDS
from scipy.stats import randint
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.callback.tests._utils import (
    MaxIterEstimator,
    RecordingAutoPropagatedCallback,
    RecordingCallback,
)
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import RandomizedSearchCV as SkRandomizedSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

import gridfold
from gridfold.store import MemoryStore

X, y = make_classification(n_samples=60, n_features=4, random_state=0)
WEIGHT = np.random.RandomState(0).randint(1, 4, size=len(y)).astype(float)


class ListCallback:
    """A callback that keeps its record in a plain list: no transport to the caller.

    It sees every hook only where hooks run in the caller's process; gridfold
    calls the search's evaluation hooks there, whatever the backend.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.estimators: list[Any] = []

    def setup(self, estimator: Any, context: Any) -> None:
        self.calls.append(("setup", context.task_name))

    def teardown(self, estimator: Any, context: Any) -> None:
        self.calls.append(("teardown", context.task_name))

    def on_fit_task_begin(
        self, estimator: Any, context: Any, *, X: Any = None, y: Any = None, metadata: Any = None
    ) -> None:
        self._record("begin", estimator, context, X, y, metadata)

    def on_fit_task_end(
        self, estimator: Any, context: Any, *, X: Any = None, y: Any = None, metadata: Any = None
    ) -> None:
        self._record("end", estimator, context, X, y, metadata)

    def _record(self, hook: str, est: Any, ctx: Any, X: Any, y: Any, metadata: Any) -> None:
        self.estimators.append(est)
        parent = None if ctx.parent is None else ctx.parent.task_name
        data = None if X is None else (X.shape, float(np.sum(X)), float(np.sum(y)))
        weight = None if not metadata else float(np.sum(metadata["sample_weight"]))
        self.calls.append((hook, ctx.task_name, ctx.task_id, parent, data, weight))


def _calls(search: Any, **fit_params: Any) -> Counter[tuple[Any, ...]]:
    callback = ListCallback()
    search.set_callbacks(callback).fit(X, y, **fit_params)
    assert all(est is search for est in callback.estimators)
    return Counter(callback.calls)


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("refit", [True, False])
def test_a_plain_callback_sees_sklearns_hooks_on_every_backend(
    backend: str, n_jobs: int, refit: bool
) -> None:
    # n_neighbors is a path family: one fit per split answers all candidates.
    est, grid = KNeighborsClassifier(), {"n_neighbors": [1, 3, 5]}
    expected = _calls(SkGridSearchCV(est, grid, cv=3, refit=refit))
    got = _calls(
        gridfold.GridSearchCV(est, grid, cv=3, refit=refit, backend=backend, n_jobs=n_jobs)
    )
    assert got == expected
    assert sum(n for call, n in got.items() if call[1] == "candidate-split-evaluation") == 18


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
def test_hooks_receive_each_splits_training_data_and_weights(backend: str, n_jobs: int) -> None:
    est, grid = MaxIterEstimator(), {"max_iter": [1, 2]}
    expected = _calls(SkGridSearchCV(est, grid, cv=2, scoring="r2"), sample_weight=WEIGHT)
    search = gridfold.GridSearchCV(est, grid, cv=2, scoring="r2", backend=backend, n_jobs=n_jobs)
    assert _calls(search, sample_weight=WEIGHT) == expected


def test_stored_results_call_the_evaluation_hooks_too() -> None:
    est, grid = KNeighborsClassifier(), {"n_neighbors": [1, 3, 5]}
    store = MemoryStore()
    first = _calls(gridfold.GridSearchCV(est, grid, cv=3, store=store))
    again = _calls(gridfold.GridSearchCV(est, grid, cv=3, store=store))
    assert len(store) == 9 and again == first == _calls(SkGridSearchCV(est, grid, cv=3))


SEARCHES = [
    (SkGridSearchCV, gridfold.GridSearchCV, {"max_iter": [1, 2, 3]}, {}),
    (
        SkRandomizedSearchCV,
        gridfold.RandomizedSearchCV,
        {"max_iter": randint(1, 4)},
        {"n_iter": 3, "random_state": 42},
    ),
]


def _recorded(search: Any) -> tuple[Counter[str], Counter[str]]:
    """Hook counts of a plain and an auto-propagated recording callback (both send home)."""
    plain, propagated = RecordingCallback(), RecordingAutoPropagatedCallback()
    search.set_callbacks(plain, propagated).fit(X, y)
    counts = [Counter(r["name"] for r in cb.record) for cb in (plain, propagated)]
    return counts[0], counts[1]


@pytest.mark.parametrize(("backend", "n_jobs"), BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize(("sk_cls", "gf_cls", "space", "kwargs"), SEARCHES)
def test_auto_propagated_callbacks_reach_the_inner_fits_on_every_backend(
    backend: str, n_jobs: int, sk_cls: type, gf_cls: type, space: dict, kwargs: dict
) -> None:
    expected = _recorded(sk_cls(MaxIterEstimator(), space, cv=2, scoring="r2", **kwargs))
    search = gf_cls(
        MaxIterEstimator(), space, cv=2, scoring="r2", backend=backend, n_jobs=n_jobs, **kwargs
    )
    got = _recorded(search)
    assert got == expected
    # The inner estimator's own iterations were seen: more hooks than the search's alone.
    assert got[1]["on_fit_task_begin"] > got[0]["on_fit_task_begin"]


FITS: list[int] = []


class CountingStep(TransformerMixin, BaseEstimator):
    """Passes X through; counts its fits (in the caller: sequential backend only)."""

    def fit(self, X: Any, y: Any = None) -> CountingStep:
        FITS.append(len(X))
        return self

    def transform(self, X: Any) -> Any:
        return X


@pytest.mark.parametrize("propagated", [False, True])
def test_an_auto_propagated_callback_fits_each_candidate_on_its_own(propagated: bool) -> None:
    # Shared pipeline prefixes fit CountingStep once per split; a propagated callback must see
    # every candidate's own pipeline fit, so then nothing is shared.
    pipe = Pipeline([("count", CountingStep()), ("clf", MaxIterEstimator())])
    grid = {"clf__max_iter": [1, 2, 3]}
    callbacks = [RecordingAutoPropagatedCallback()] if propagated else [RecordingCallback()]
    expected = SkGridSearchCV(pipe, grid, cv=2, scoring="r2").set_callbacks(*callbacks)
    expected.fit(X, y)
    sk_hooks = Counter(r["name"] for r in callbacks[0].record)
    callbacks[0].record.clear()
    FITS.clear()
    search = gridfold.GridSearchCV(pipe, grid, cv=2, scoring="r2").set_callbacks(*callbacks)
    search.fit(X, y)
    assert Counter(r["name"] for r in callbacks[0].record) == sk_hooks
    assert len(FITS) == (3 * 2 if propagated else 2) + 1  # + the refit
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
