"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, on gridfold's engine.

Both subclass scikit-learn's classes, so every attribute, delegated method,
``get_params``/``set_params``, pickling and tag behaves the same; only
``fit`` differs (:class:`gridfold.searchcv.EngineSearchMixin`): tasks run on a
gridfold executor and ``cv_results_`` is built by scikit-learn's own
formatting code from the same per-fit results. Subclasses may override
``_run_search(evaluate_candidates)``, scikit-learn's extension point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.model_selection import ParameterGrid, ParameterSampler
from sklearn.model_selection import RandomizedSearchCV as _SkRandomizedSearchCV

from gridfold.report.mixins import SearchReportMixin
from gridfold.searchcv import (
    EXTRA_CONSTRAINTS,
    EngineSearchMixin,
    evaluates_once,
    search_all,
    sklearn_error_with_fix,
)

__all__ = ["GridSearchCV", "RandomizedSearchCV", "grid_candidates", "sampled_candidates"]

_GRID = (
    "a dict (or a list of dicts) from parameter names to non-empty lists or 1-d arrays of values",
    "e.g. param_grid={'C': [1, 10]}; a single value goes in a list of one; {} evaluates the "
    "estimator as it is",
)
_DISTRIBUTIONS = (
    "a dict (or a list of dicts) from parameter names to non-empty lists of values or "
    "scipy.stats distributions",
    "e.g. param_distributions={'C': scipy.stats.loguniform(1e-3, 1e3), 'kernel': ['rbf']}",
)


def grid_candidates(param_grid: Any) -> list[dict[str, Any]]:
    """Every candidate of ``param_grid``, in scikit-learn's order, its errors with a fix."""
    with sklearn_error_with_fix(*_GRID):
        return list(ParameterGrid(param_grid))


def sampled_candidates(
    param_distributions: Any, n_iter: int, random_state: Any
) -> list[dict[str, Any]]:
    """The ``n_iter`` candidates scikit-learn's ``RandomizedSearchCV`` draws (the same
    sampler, arguments and order), its errors with a fix. A ``RandomState`` given as
    ``random_state`` is advanced, as the search advances its own."""
    with sklearn_error_with_fix(*_DISTRIBUTIONS):
        return list(ParameterSampler(param_distributions, n_iter, random_state=random_state))


_SEARCH_PARAMS_DOC = """
    backend : {"sequential", "threads", "processes", "dask"} or None, default=None
        Where fits run. None picks "sequential" when ``n_jobs`` resolves to 1
        and "processes" (gridfold's fault-tolerant pool of worker processes,
        reused across searches) otherwise, or "dask" when ``scheduler`` is
        given. See :func:`gridfold.available_backends`.
    progress : bool, default=False
        Show a progress bar (done/total, elapsed, ETA, best score so far).
    share : bool, default=True
        Let one fit answer several candidates where that is exact (a path
        family such as ``n_neighbors`` or ``n_estimators``; shared pipeline
        prefixes; the refit during the search), see :mod:`gridfold.sharing`.
        False fits every candidate on its own and refits after the search, as
        scikit-learn does. Either way the scores and ``best_estimator_`` are
        identical.

    store : ResultStore, str or path-like, default=None
        Keep every fit's result as it arrives: a :class:`gridfold.store.ResultStore`
        or the path of an SQLite file (created if missing). A later ``fit``
        with the same store runs only the fits it does not hold, so an
        interrupted search resumes, and a grown grid reuses every fit whose
        estimator, parameters, data, split and scoring are unchanged.
    fit_timeout : float, default=None
        Seconds a fit of the cross-validation may run before its worker
        process is killed and the fit recorded as failed (score
        ``error_score``); the refit has no limit. Needs a process backend;
        with ``backend=None`` processes are used even for ``n_jobs=1``.
    retries : int, default=1
        Times a fit whose worker process died (a segfault, the out-of-memory
        killer) is run again before it is recorded as failed. A fit that
        raises a Python exception is never retried: it would raise again.
    scheduler : str or distributed.Client, default=None
        The Dask cluster to run on (``backend="dask"``): a scheduler address
        such as ``"tcp://10.0.0.5:8786"``, or a connected client, which stays
        open. With ``backend="dask"`` and no scheduler, ``n_jobs`` Dask worker
        processes are started on this machine for the search. Install with
        ``pip install 'gridfold[dask]'``.

    ``pre_dispatch`` is accepted for compatibility and ignored: gridfold keeps
    two batches per worker in flight and sizes batches from measured fit times.

    The fitted search has exactly scikit-learn's public attributes. When
    every candidate lies on one exact path (a seeded forest's
    ``n_estimators``, ``HistGradientBoosting*``'s ``max_iter``) and a cost
    model says it shortens the run, the refit is done while the folds run,
    by one shared fit on the whole data in a worker (see
    :mod:`gridfold.sharing.early_refit`): ``best_estimator_`` is then,
    attribute for attribute, the model scikit-learn's refit fits, and
    ``refit_time_`` is the seconds of that shared fit, which overlapped the
    search. The private attribute ``_refit_during_search`` (bool) records
    whether that happened.

    Callbacks set with ``set_callbacks`` see the same hooks as on
    scikit-learn's search, on every backend; see :mod:`gridfold.callbacks`.
"""


class GridSearchCV(SearchReportMixin, EngineSearchMixin, _SkGridSearchCV):
    __doc__ = (
        "Exhaustive search over a parameter grid, run on gridfold's engine.\n\n"
        "Same parameters, attributes and ``cv_results_`` as\n"
        ":class:`sklearn.model_selection.GridSearchCV`, plus:\n" + _SEARCH_PARAMS_DOC
    )

    _parameter_constraints: dict = {**_SkGridSearchCV._parameter_constraints, **EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: Any = "2*n_jobs",
        error_score: Any = np.nan,
        return_train_score: bool = False,
        backend: str | None = None,
        progress: bool = False,
        share: bool = True,
        store: Any = None,
        fit_timeout: float | None = None,
        retries: int = 1,
        scheduler: Any = None,
    ) -> None:
        super().__init__(
            estimator=estimator,
            param_grid=param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.backend = backend
        self.progress = progress
        self.share = share
        self.store = store
        self.fit_timeout = fit_timeout
        self.retries = retries
        self.scheduler = scheduler

    @evaluates_once
    def _run_search(self, evaluate_candidates: Callable[..., Any], *, callback_ctx: Any) -> None:
        """Search all candidates in ``param_grid``, as scikit-learn's, its errors with a fix."""
        search_all(self, evaluate_candidates, grid_candidates(self.param_grid), callback_ctx)


class RandomizedSearchCV(SearchReportMixin, EngineSearchMixin, _SkRandomizedSearchCV):
    __doc__ = (
        "Randomized search over parameter settings, run on gridfold's engine.\n\n"
        "Same parameters, attributes and ``cv_results_`` as\n"
        ":class:`sklearn.model_selection.RandomizedSearchCV` (the same candidates\n"
        "for the same ``random_state``), plus:\n" + _SEARCH_PARAMS_DOC
    )

    _parameter_constraints: dict = {
        **_SkRandomizedSearchCV._parameter_constraints,
        **EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_iter: int = 10,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: Any = "2*n_jobs",
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        backend: str | None = None,
        progress: bool = False,
        share: bool = True,
        store: Any = None,
        fit_timeout: float | None = None,
        retries: int = 1,
        scheduler: Any = None,
    ) -> None:
        super().__init__(
            estimator=estimator,
            param_distributions=param_distributions,
            n_iter=n_iter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.backend = backend
        self.progress = progress
        self.share = share
        self.store = store
        self.fit_timeout = fit_timeout
        self.retries = retries
        self.scheduler = scheduler

    @evaluates_once
    def _run_search(self, evaluate_candidates: Callable[..., Any], *, callback_ctx: Any) -> None:
        """Search ``n_iter`` candidates, as scikit-learn's (the same sampler, arguments and
        order), its errors with a fix."""
        candidates = sampled_candidates(self.param_distributions, self.n_iter, self.random_state)
        search_all(self, evaluate_candidates, candidates, callback_ctx)
