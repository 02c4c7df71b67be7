"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, on gridfold's engine.

Both subclass scikit-learn's classes, so every attribute, delegated method,
``get_params``/``set_params``, pickling and tag behaves the same; only
``fit`` differs: tasks run on a gridfold executor and ``cv_results_`` is built
by scikit-learn's own formatting code from the same per-fit results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv
from sklearn.model_selection import RandomizedSearchCV as _SkRandomizedSearchCV

from gridfold import _sklearn
from gridfold.engine import run_study
from gridfold.executors import get_executor
from gridfold.executors.base import check_retries
from gridfold.progress import progress_callback
from gridfold.refit import refit_estimator, refit_threads
from gridfold.sharing.early_refit import take_refit
from gridfold.store.base import open_store
from gridfold.tasks import Model, RefitResult, Study, StudyData, results_by_model
from gridfold.validation import (
    check_candidates,
    check_data,
    check_grid_not_empty,
    estimator_name,
)

__all__ = ["GridSearchCV", "RandomizedSearchCV"]

_EXTRA_CONSTRAINTS: dict[str, Any] = {
    "backend": [str, None],
    "progress": ["boolean"],
    "share": ["boolean"],
    # Checked by open_store / get_executor / check_retries, with messages that say the fix.
    "store": "no_validation",
    "fit_timeout": "no_validation",
    "retries": "no_validation",
    # Checked by get_executor, which raises ParameterError with a fix, as compare() does.
    "n_jobs": "no_validation",
}


class _EngineSearchMixin:
    """``fit`` for a scikit-learn search class, running its fits on gridfold."""

    # Provided by the scikit-learn class this is mixed into.
    estimator: Any
    scoring: Any
    n_jobs: int | None
    refit: bool | str | Callable[..., int]
    cv: Any
    verbose: int
    error_score: float | str
    return_train_score: bool
    backend: str | None
    progress: bool
    share: bool
    store: Any
    fit_timeout: float | None
    retries: int

    def _candidates(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _space(self) -> Any:
        raise NotImplementedError

    @_sklearn.fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Run fit with all sets of parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target; None for unsupervised learning.
        **params : dict of str -> object
            Parameters for the estimator's ``fit``, the scorer and the CV
            splitter (``groups``), routed as in scikit-learn.

        Returns
        -------
        self : object
            The fitted search.
        """
        search: Any = self
        scorers, refit_metric = search._get_scorers()
        X, y = check_data(X, y, self.estimator, params)
        params = _sklearn.check_method_params(X, params=params)
        routed = search._get_routed_params_for_fit(params)

        check_grid_not_empty(self._space())  # before ParameterGrid raises a bare ValueError
        candidates = self._candidates()
        check_grid_not_empty(self._space(), candidates)
        check_candidates(self.estimator, candidates)

        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        search.n_splits_ = cv.get_n_splits(X, y, **routed.splitter.split)
        splits = tuple(cv.split(X, y, **routed.splitter.split))
        if len(splits) != search.n_splits_:
            raise ValueError(
                "cv.split and cv.get_n_splits return inconsistent results. "
                f"Expected {search.n_splits_} splits, got {len(splits)}"
            )
        if self.verbose > 0:
            n = len(candidates)
            print(
                f"Fitting {len(splits)} folds for each of {n} candidates, "
                f"totalling {n * len(splits)} fits"
            )

        base_estimator = clone(self.estimator)
        model = Model(estimator_name(self.estimator), base_estimator, tuple(candidates), scorers)
        study = Study(
            models=(model,),
            data=StudyData(X, y, splits, routed.estimator.fit, routed.scorer.score),
            return_train_score=self.return_train_score,
            error_score=self.error_score,
            verbose=self.verbose,
        )
        retries = check_retries(self.retries)
        store = open_store(self.store)
        # Created last: a ThreadExecutor caps BLAS threads process-wide until shut down,
        # so an input error above must not leave one behind. Bad n_jobs still fails
        # before any fit.
        early_refits: list[RefitResult] = []  # the refit, if a worker did it alongside the folds
        try:
            executor = get_executor(self.backend, self.n_jobs, self.fit_timeout)
            with executor, progress_callback(study, enabled=self.progress) as on_result:
                results = run_study(
                    study,
                    executor,
                    on_result=on_result,
                    share=self.share,
                    store=store,
                    label=model.name,
                    retries=retries,
                    refit_model=0 if self.refit else None,
                    on_refit=early_refits.append,
                )
        finally:
            if store is not None and store is not self.store:  # opened from a path here
                store.close()
        out = _sklearn.warn_or_raise_about_fit_failures(
            results_by_model(study, results)[0],
            self.error_score,
            callable_scoring=callable(self.scoring),
            return_train_score=self.return_train_score,
        )
        search.cv_results_ = _sklearn.format_cv_results(
            candidates, len(splits), out, self.return_train_score
        )
        early = early_refits[0] if early_refits else None
        self._finish(X, y, routed, base_estimator, scorers, refit_metric, out, early)
        return self

    def _finish(
        self,
        X: Any,
        y: Any,
        routed: Any,
        base_estimator: Any,
        scorers: Any,
        refit_metric: Any,
        out: list[dict[str, Any]],
        early: RefitResult | None = None,
    ) -> None:
        """Select the best candidate and refit, exactly as scikit-learn does.

        The refit may already be done: ``early`` holds the fitted model of
        every candidate from one shared fit on the whole data, run by a worker
        alongside the folds (:mod:`gridfold.sharing.early_refit`). Otherwise
        it may use the search's idle cores where the fitted model is the same
        whatever ``n_jobs`` is (:mod:`gridfold.refit`).
        """
        search: Any = self
        results = search.cv_results_
        first_test_score = out[0]["test_scores"]
        search.multimetric_ = isinstance(first_test_score, dict)
        if callable(self.scoring) and search.multimetric_:
            search._check_refit_for_multimetric(first_test_score)
            refit_metric = self.refit

        if self.refit or not search.multimetric_:
            search.best_index_ = search._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                search.best_score_ = results[f"mean_test_{refit_metric}"][search.best_index_]
            search.best_params_ = results["params"][search.best_index_]

        if self.refit:
            taken = None if early is None else take_refit(early, search.best_index_)
            search.refit_during_search_ = taken is not None
            if taken is not None:
                best, search.refit_time_ = taken
            else:
                best = clone(base_estimator).set_params(**clone(search.best_params_, safe=False))
                start = time.time()
                # The workers are idle now: a forest grows its trees on their cores (same trees).
                refit_estimator(best, X, y, routed.estimator.fit, refit_threads(self.n_jobs))
                search.refit_time_ = time.time() - start
            search.best_estimator_ = best
            if hasattr(best, "feature_names_in_"):
                search.feature_names_in_ = best.feature_names_in_

        if isinstance(scorers, _sklearn.MultimetricScorer):
            search.scorer_ = scorers._scorers
        else:
            search.scorer_ = scorers


_SEARCH_PARAMS_DOC = """
    backend : {"sequential", "threads", "processes"} or None, default=None
        Where fits run. None picks "sequential" when ``n_jobs`` resolves to 1
        and "processes" (gridfold's fault-tolerant pool of worker processes,
        reused across searches) otherwise. See
        :func:`gridfold.available_backends`.
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

    ``pre_dispatch`` is accepted for compatibility and ignored: gridfold keeps
    two batches per worker in flight and sizes batches from measured fit times.

    Besides scikit-learn's attributes, a search fitted with ``refit`` has
    ``refit_during_search_`` (bool): True when the refit was done while the
    folds ran, by one shared fit on the whole data in a worker (when every
    candidate lies on one exact path, such as a seeded forest's
    ``n_estimators`` or ``HistGradientBoosting*``'s ``max_iter``, and a cost
    model says it shortens the run; see :mod:`gridfold.sharing.early_refit`).
    ``best_estimator_`` is then, attribute for attribute, the model
    scikit-learn's refit fits, and ``refit_time_`` is the seconds of that
    shared fit, which overlapped the search.
"""


class GridSearchCV(_EngineSearchMixin, _SkGridSearchCV):
    __doc__ = (
        "Exhaustive search over a parameter grid, run on gridfold's engine.\n\n"
        "Same parameters, attributes and ``cv_results_`` as\n"
        ":class:`sklearn.model_selection.GridSearchCV`, plus:\n" + _SEARCH_PARAMS_DOC
    )

    _parameter_constraints: dict = {**_SkGridSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

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

    def _space(self) -> Any:
        return self.param_grid

    def _candidates(self) -> list[dict[str, Any]]:
        return list(ParameterGrid(self.param_grid))


class RandomizedSearchCV(_EngineSearchMixin, _SkRandomizedSearchCV):
    __doc__ = (
        "Randomized search over parameter settings, run on gridfold's engine.\n\n"
        "Same parameters, attributes and ``cv_results_`` as\n"
        ":class:`sklearn.model_selection.RandomizedSearchCV` (the same candidates\n"
        "for the same ``random_state``), plus:\n" + _SEARCH_PARAMS_DOC
    )

    _parameter_constraints: dict = {
        **_SkRandomizedSearchCV._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
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

    def _space(self) -> Any:
        return self.param_distributions

    def _candidates(self) -> list[dict[str, Any]]:
        # The same sampler, arguments and order as scikit-learn's _run_search.
        return list(
            ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state)
        )
