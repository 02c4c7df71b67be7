"""``fit`` for scikit-learn's search classes, with every fit run on gridfold's engine.

:class:`EngineSearchMixin` goes in front of a subclass of scikit-learn's
``BaseSearchCV`` and replaces its ``fit`` by the same steps in the same order
(``sklearn/model_selection/_search.py``, ``BaseSearchCV.fit``): scorers,
routing, the root callback context, ``check_cv``, ``n_splits_``, then
``_run_search(evaluate_candidates)`` — scikit-learn's documented hook, which
a subclass overrides to choose what to evaluate (the halving searches, a
user's own search) — then the best index, the refit and ``scorer_``. Only
``evaluate_candidates`` differs: it runs its candidates x splits as one
study in a :class:`~gridfold.lifecycle.Session` that stays open for the whole
``fit``, so every call shares one pool and one store. Its results pass
through scikit-learn's own ``_warn_or_raise_about_fit_failures`` and
``_format_results``, so ``cv_results_`` is built by scikit-learn's code.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from inspect import signature
from typing import Any

from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv

from gridfold import _sklearn
from gridfold.callbacks import EvaluationHooks, has_callbacks
from gridfold.exceptions import ParameterError, ParameterTypeError
from gridfold.lifecycle import Execution, Session
from gridfold.refit import refit_estimator, refit_threads
from gridfold.sharing.early_refit import take_refit
from gridfold.sharing.tail_refit import TailRefit
from gridfold.tasks import (
    Continuation,
    KeptFit,
    Model,
    RefitResult,
    Study,
    StudyData,
    results_by_model,
)
from gridfold.validation import check_candidates, check_data, estimator_name

__all__ = [
    "EngineSearchMixin",
    "evaluates_once",
    "search_all",
    "sklearn_error_with_fix",
    "EXTRA_CONSTRAINTS",
]

#: gridfold's search parameters, added to scikit-learn's ``_parameter_constraints``.
EXTRA_CONSTRAINTS: dict[str, Any] = {
    "backend": [str, None],
    "progress": ["boolean"],
    "share": ["boolean"],
    # Checked by Execution.checked, with messages that say the fix.
    "store": "no_validation",
    "fit_timeout": "no_validation",
    "retries": "no_validation",
    "n_jobs": "no_validation",
    "scheduler": "no_validation",
}


def evaluates_once(run_search: Callable[..., None]) -> Callable[..., None]:
    """Mark a ``_run_search`` that evaluates every candidate in one call.

    Only then may the refit be planned while the folds run: the first call
    already holds every candidate the best one can be. A subclass that
    overrides ``_run_search`` loses the mark, and refits after the search.
    """
    run_search._gridfold_evaluates_once = True  # type: ignore[attr-defined]
    return run_search


def search_all(
    search: Any,
    evaluate_candidates: Callable[..., Any],
    candidates: list[dict[str, Any]],
    callback_ctx: Any,
) -> None:
    """Evaluate every candidate in one call, in one ``"search"`` callback task.

    The body of scikit-learn's ``GridSearchCV._run_search`` and
    ``RandomizedSearchCV._run_search`` (``sklearn/model_selection/_search.py``),
    given the candidates already drawn.
    """
    search_ctx = callback_ctx.subcontext(
        task_name="search",
        max_subtasks=len(candidates) * search.n_splits_,
        sequential_subtasks=False,
    ).call_on_fit_task_begin(estimator=search)
    evaluate_candidates(candidates, callback_ctx=search_ctx)
    search_ctx.call_on_fit_task_end(estimator=search)


@contextmanager
def sklearn_error_with_fix(expected: str, fix: str) -> Iterator[None]:
    """Re-raise scikit-learn's ``TypeError``/``ValueError`` as gridfold's, with the fix after it.

    scikit-learn's message is kept word for word (its tests match it), then
    what was expected and the fix; the type becomes :class:`ParameterTypeError`
    or :class:`ParameterError`, still a ``TypeError`` or ``ValueError``.
    """
    try:
        yield
    except TypeError as exc:
        raise ParameterTypeError(f"{exc} Expected {expected}; fix: {fix}") from None
    except ValueError as exc:
        raise ParameterError(f"{exc} Expected {expected}; fix: {fix}") from None


@dataclass(frozen=True)
class OpenSession:
    """A session a caller already has open, for a search to run in (internal).

    The study-file runner runs a ``search = "halving"`` model on the session
    of the study's other models (one pool, one store, one console) by setting
    a search's ``_gridfold_session`` to one of these; ``label`` names its
    fits in the store and prefixes its progress bars.
    """

    session: Session
    label: str


class EngineSearchMixin:
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
    scheduler: Any

    @property
    def _evaluator_type(self) -> type[_Evaluator]:
        """What runs each ``evaluate_candidates`` call (halving's continues its rungs)."""
        return _Evaluator

    def _execution(self) -> Execution:
        return Execution(
            n_jobs=self.n_jobs,
            backend=self.backend,
            store=self.store,
            retries=self.retries,
            fit_timeout=self.fit_timeout,
            share=self.share,
            progress=self.progress,
            scheduler=self.scheduler,
        ).checked()

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
        execution = self._execution()  # bad options fail before anything else
        scorers, refit_metric = search._get_scorers()
        X, y = check_data(X, y, self.estimator, params)
        params = _sklearn.check_method_params(X, params=params)
        routed = search._get_routed_params_for_fit(params)
        weight = params.get("sample_weight")
        metadata = None if weight is None else {"sample_weight": weight}
        root_ctx = search._init_callback_context(
            max_subtasks=1 + (self.refit is not False)
        ).call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)

        search._checked_cv_orig = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        search._check_input_parameters(X=X, y=y, split_params=routed.splitter.split)
        search.n_splits_ = search._checked_cv_orig.get_n_splits(X, y, **routed.splitter.split)
        base_estimator = clone(self.estimator)

        opened: OpenSession | None = getattr(self, "_gridfold_session", None)
        with nullcontext(opened.session) if opened else Session(execution) as session:
            evaluate = self._evaluator_type(self, session, X, y, routed, scorers, base_estimator)
            if "callback_ctx" in signature(search._run_search).parameters:
                search._run_search(evaluate, callback_ctx=root_ctx)
            else:  # a user's search written for scikit-learn before callbacks
                search._run_search(evaluate)

        self._finish(evaluate, refit_metric, metadata, root_ctx)
        search.cv_results_ = evaluate.results
        root_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)
        return self

    def _finish(
        self, evaluate: _Evaluator, refit_metric: Any, metadata: Any, root_ctx: Any
    ) -> None:
        """Select the best candidate and refit, exactly as scikit-learn does.

        The refit may already be done: ``evaluate.early_refit`` holds the
        fitted model of every candidate from one shared fit on the whole
        data, run by a worker alongside the folds
        (:mod:`gridfold.sharing.early_refit`). Otherwise it may use the
        search's idle cores where the fitted model is the same whatever
        ``n_jobs`` is (:mod:`gridfold.refit`).
        """
        search: Any = self
        results = evaluate.results
        # As scikit-learn: only known once a scorer ran (a callable may return a dict).
        first_test_score = evaluate.out[0]["test_scores"]
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
            self._refit(evaluate, metadata, root_ctx)

        if isinstance(evaluate.scorers, _sklearn.MultimetricScorer):
            search.scorer_ = evaluate.scorers._scorers
        else:
            search.scorer_ = evaluate.scorers

    def _refit(self, evaluate: _Evaluator, metadata: Any, root_ctx: Any) -> None:
        search: Any = self
        X, y, fit_params = evaluate.X, evaluate.y, evaluate.routed.estimator.fit
        early = evaluate.early_refit
        best_index = search.best_index_ - evaluate.early_offset  # in the early refit's call
        taken = None if early is None else take_refit(early, best_index)
        search._refit_during_search = taken is not None
        if taken is not None:
            best, refit_time = taken
        else:
            # The parameters are cloned too: they may be estimators (a pipeline step).
            best = clone(evaluate.base_estimator).set_params(
                **clone(search.best_params_, safe=False)
            )
        search.best_estimator_ = best
        refit_ctx = root_ctx.subcontext(task_name="refit-with-best-params")
        with refit_ctx.propagate_callback_context(best):
            refit_ctx.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
            if taken is None:
                start = time.time()
                # The workers are idle now: a forest grows its trees on their cores (same trees).
                refit_estimator(best, X, y, fit_params, refit_threads(self.n_jobs))
                refit_time = time.time() - start
        search.refit_time_ = refit_time
        if hasattr(best, "feature_names_in_"):
            search.feature_names_in_ = best.feature_names_in_
        refit_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)


class _Evaluator:
    """scikit-learn's ``evaluate_candidates``, on a gridfold session.

    Each call evaluates its candidates on the splits of ``cv`` (default: the
    search's) as one study, and returns every result so far formatted as
    ``cv_results_``, as scikit-learn's closure does.
    """

    def __init__(
        self,
        search: Any,
        session: Session,
        X: Any,
        y: Any,
        routed: Any,
        scorers: Any,
        base_estimator: Any,
    ) -> None:
        self.search = search
        self.session = session
        self.X, self.y = X, y
        self.routed = routed
        self.scorers = scorers
        self.base_estimator = base_estimator
        self.candidates: list[dict[str, Any]] = []
        self.out: list[dict[str, Any]] = []
        self.more_results: defaultdict[str, list[Any]] = defaultdict(list)
        self.results: dict[str, Any] = {}
        self.early_refit: RefitResult | None = None
        self.early_offset = 0  # candidates of the calls before the early refit's
        self.calls = 0

    def __call__(
        self,
        candidate_params: Iterable[dict[str, Any]],
        cv: Any = None,
        more_results: dict[str, list[Any]] | None = None,
        callback_ctx: Any = None,
    ) -> dict[str, Any]:
        search = self.search
        cv = cv or search._checked_cv_orig
        candidates = list(candidate_params)
        splits = self._splits(cv)
        if search.verbose > 0:
            n = len(candidates)
            print(
                f"Fitting {len(splits)} folds for each of {n} candidates, "
                f"totalling {n * len(splits)} fits"
            )
        if not candidates or not splits:
            raise ParameterError(
                "No fits were performed. Was the CV iterator empty? Were there no candidates? "
                f"Expected at least one candidate and one split; got {len(candidates)} "
                f"candidate(s) and {len(splits)} split(s). Fix: pass a non-empty search space, "
                "and a cv that yields splits (a generator such as KFold().split(X) is used up "
                "after one pass: pass the splitter itself)."
            )
        check_candidates(search.estimator, candidates)
        self.calls += 1
        out, early = self._run(candidates, splits, callback_ctx, more_results or {})
        if early is not None:  # the refit of this call's candidate early.task.candidates[i]
            self.early_refit, self.early_offset = early, len(self.candidates)
        self.candidates.extend(candidates)
        self.out.extend(out)
        for key, value in (more_results or {}).items():
            self.more_results[key].extend(value)
        self.results = search._format_results(
            self.candidates, search.n_splits_, self.out, self.more_results
        )
        return self.results

    def _tail_refit(self, n_splits: int) -> TailRefit | None:
        """How to tell the leader, if the refit picks it by a known metric's mean."""
        refit, scoring = self.search.refit, self.search.scoring
        if callable(refit) or callable(scoring):  # a rule, or metrics, known only afterwards
            return None
        if isinstance(self.scorers, _sklearn.MultimetricScorer):
            return TailRefit(0, n_splits, refit) if isinstance(refit, str) else None
        return TailRefit(0, n_splits)

    def _splits(self, cv: Any) -> list[tuple[Any, Any]]:
        splits = list(cv.split(self.X, self.y, **self.routed.splitter.split))
        if len(splits) != self.search.n_splits_:
            raise ParameterError(
                "cv.split and cv.get_n_splits return inconsistent results. "
                f"Expected {self.search.n_splits_} splits, got {len(splits)}. Fix: use a "
                "splitter whose get_n_splits counts what its split yields (a generator of "
                "splits is used up after one pass: pass the splitter itself)."
            )
        return splits

    def _continuation(
        self,
        candidates: list[dict[str, Any]],
        splits: list[tuple[Any, Any]],
        more_results: dict[str, list[Any]],
    ) -> Continuation | None:
        """Where this call's fits start, if they continue earlier ones; None: afresh.

        ``more_results`` is what the search's ``_run_search`` passed (a halving
        rung's ``iter`` and ``n_resources``). Kept fits go to :meth:`_keep`.
        """
        return None

    def _keep(self, kept: KeptFit) -> None:
        """Take a fit sent back for a later call to continue (see :meth:`_continuation`)."""

    def _refit_model(self, n_candidates: int, more_results: dict[str, list[Any]]) -> int | None:
        """0 if the search's refit is among this call's candidates for sure, else None.

        Then a worker may refit it alongside the folds (the early or the tail
        refit). A search known to evaluate once holds every candidate the best
        can be in its first call.
        """
        search = self.search
        once = getattr(type(search)._run_search, "_gridfold_evaluates_once", False)
        return 0 if search.refit and once and self.calls == 1 else None

    def _title(self, n_candidates: int, n_splits: int, more_results: dict[str, list[Any]]) -> str:
        """What the progress bar calls this call's fits."""
        return "fits"

    def _run(
        self,
        candidates: list[dict[str, Any]],
        splits: list[tuple[Any, Any]],
        callback_ctx: Any,
        more_results: dict[str, list[Any]],
    ) -> tuple[list[dict[str, Any]], RefitResult | None]:
        """Evaluate ``candidates`` on ``splits``: scikit-learn-shaped results, early refit."""
        search = self.search
        hooks = None
        if callback_ctx is not None and has_callbacks(search):
            hooks = EvaluationHooks(search, callback_ctx, len(candidates), len(splits))
        in_workers = hooks is not None and hooks.in_workers
        callbacks = None
        if hooks is not None and in_workers:
            callbacks = hooks.for_workers(self.session.executor.uses_processes)
        continuation = None
        if hooks is None and self.session.execution.share:
            continuation = self._continuation(candidates, splits, more_results)
        opened: OpenSession | None = getattr(search, "_gridfold_session", None)
        model = Model(
            estimator_name(search.estimator) if opened is None else opened.label,
            self.base_estimator,
            tuple(candidates),
            self.scorers,
            callbacks=callbacks,
            continuation=continuation,
        )
        data = StudyData(
            self.X,
            self.y,
            tuple(splits),
            self.routed.estimator.fit,
            self.routed.scorer.score,
        )
        study = Study(
            models=(model,),
            data=data,
            return_train_score=search.return_train_score,
            error_score=search.error_score,
            verbose=search.verbose,
        )
        on_result = None
        if hooks is not None and not in_workers:
            on_result = hooks.in_driver(self.base_estimator, candidates, data)
        refit_model = self._refit_model(len(candidates), more_results)
        run = self.session.run(
            study,
            label=model.name,
            refit_model=refit_model,
            on_result=on_result,
            share=False if in_workers else None,
            tail_refit=self._tail_refit(len(splits))
            if refit_model == 0 and hooks is None
            else None,
            on_kept=self._keep if continuation is not None and continuation.keep else None,
            title=self._title(len(candidates), len(splits), more_results),
        )
        out = _sklearn.warn_or_raise_about_fit_failures(
            results_by_model(study, run.results)[0],
            search.error_score,
            callable_scoring=callable(search.scoring),
            return_train_score=search.return_train_score,
        )
        return out, run.refit
