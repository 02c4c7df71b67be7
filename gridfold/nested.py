"""Nested cross-validation: the score of a tuned model without optimism, in one pool.

``cross_validate(search, X, y, cv=outer_cv)`` fits one search per outer fold:
each runs its candidates x inner splits, refits the best candidate on the
outer training part and is scored on the outer test part. Run that way, a
5 x 5 nested CV is five pools one after the other (or outer folds in parallel
with sequential searches), each idling at its tail.

:func:`nested_cv` runs the same fits as one gridfold study on the whole
``X``. A study's splits are index arrays into ``X``, so inner split
``(inner_train, inner_test)`` of ``X[outer_train]`` becomes the split
``(outer_train[inner_train], outer_train[inner_test])`` of ``X``: the same
rows, in the same order, as the outer fold's search gives that fit. Every
outer fold x candidate x inner split is then a unit of one run on one
executor, so the workers stay busy across outer folds, and path families,
shared pipeline prefixes (:mod:`gridfold.sharing`) and the store apply as in
a search. Each outer fold's best candidate is selected from its own inner
results by scikit-learn's code, and the outer refits (one fit per outer fold,
on its training part, scored on its test part) run as a second study on the
same executor, in parallel: a refit needs its fold's inner results, and the
engine has no unit that waits for others.

Why the scores equal ``cross_validate``'s bit for bit (scikit-learn 1.9,
``sklearn/model_selection/_validation.py`` and ``_search.py``):

* ``cross_validate`` splits with ``check_cv(outer_cv, y, classifier=
  is_classifier(search)).split(X, y, groups)`` and its ``_fit_and_score``
  hands ``search.fit`` the rows ``_safe_split(search, X, y, outer_train)``
  (and ``groups[outer_train]`` when ``params={"groups": groups}``);
* ``BaseSearchCV.fit`` splits those with ``check_cv(search.cv, y_train,
  classifier=is_classifier(search.estimator))`` and fits
  ``clone(estimator)`` with each candidate by ``_fit_and_score(...,
  train=inner_train, test=inner_test)``, which cuts ``X_train[inner_train]``:
  the rows ``outer_train[inner_train]`` of ``X``, which gridfold cuts too
  (``X[outer_train][inner_train]`` and ``X[outer_train[inner_train]]`` are
  equal arrays; for a pairwise estimator both cut columns the same way);
* the candidates are ``ParameterGrid(param_grid)``, or
  ``ParameterSampler(param_distributions, n_iter, random_state)`` drawn from
  the clone's ``random_state`` (an int or a copy of the same
  ``RandomState`` in every outer fold: the same candidates in every fold);
* the search's ``_format_results`` and ``_select_best_index`` pick the best
  candidate from the per-fit results; gridfold calls the same two functions
  (:func:`gridfold._sklearn.format_cv_results`,
  :func:`gridfold._sklearn.select_best_index`) on the same results;
* the refit is ``clone(estimator).set_params(**clone(best_params_,
  safe=False)).fit(X_train, y_train)``, and ``cross_validate``'s default
  scorer calls ``search.score(X_test, y_test)``: the search's scorer (the
  ``refit`` metric's for several) on that estimator. gridfold's outer unit is
  ``_fit_and_score`` of the same candidate on ``(outer_train, outer_test)``
  with the search's scorer: the same clone, ``set_params``, fit and scoring.

Not reproduced: with ``RandomizedSearchCV(random_state=None)`` each outer
fold draws its own candidates from NumPy's global generator, here all before
any fit, in scikit-learn in the middle of the fits; estimators without a
seed draw from it too. Neither is reproducible in scikit-learn either.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.model_selection import RandomizedSearchCV as _SkRandomizedSearchCV
from sklearn.model_selection import check_cv

from gridfold import _sklearn
from gridfold.exceptions import DataError, ParameterError, ParameterTypeError
from gridfold.lifecycle import Execution, Session
from gridfold.search import (
    GridSearchCV,
    RandomizedSearchCV,
    grid_candidates,
    sampled_candidates,
)
from gridfold.searchcv import sklearn_error_with_fix
from gridfold.store.base import ResultStore
from gridfold.tasks import Model, Split, Study, StudyData, Task, TaskResult
from gridfold.validation import check_candidates, check_data, estimator_name

__all__ = ["nested_cv", "NestedResult"]

#: The searches whose candidates nested_cv draws as they do (a subclass may override it).
_RUN_SEARCH = (
    _SkGridSearchCV._run_search,
    _SkRandomizedSearchCV._run_search,
    GridSearchCV._run_search,
    RandomizedSearchCV._run_search,
)

_OUTER_CV = (
    "an int (the number of folds), a scikit-learn splitter or an iterable of (train, test) "
    "index arrays",
    "e.g. outer_cv=5 or outer_cv=KFold(5, shuffle=True, random_state=0); a group splitter "
    "such as GroupKFold needs nested_cv(..., groups=<one label per row>)",
)
_INNER_CV = (
    "a search cv that splits every outer training part",
    "give the search a cv that fits the outer training parts (fewer folds, or a splitter "
    "such as KFold(3)); a group splitter needs nested_cv(..., groups=<one label per row>)",
)


@dataclass(frozen=True)
class NestedResult:
    """Outer-fold scores of a nested cross-validation (:func:`nested_cv`).

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per outer fold, in ``outer_cv``'s order: ``fold``; one
        ``test_<metric>`` column per scorer of the search (``test_score``
        for one) with the refitted best candidate's score on the fold's test
        part; ``best_score`` (the chosen candidate's mean inner score of the
        refit metric, the fold's search's ``best_score_``; NaN with a
        callable ``refit``); one ``param_<name>`` column per parameter of the
        search space, holding the value chosen in that fold; ``fit_time`` and
        ``score_time`` of the refit; ``fit_error`` (None, or why the fold
        has no score: its refit failed, or every inner fit did).
    metrics : list of str
        Scorer names; ``["score"]`` for one scorer.
    refit_metric : str
        The metric the candidates were chosen by (``"score"`` for one
        scorer): ``scores[f"test_{refit_metric}"]`` is what
        ``cross_validate(search, X, y, cv=outer_cv)["test_score"]`` returns.
    best_params : tuple of dict or None
        The chosen candidate of each outer fold, as the fold's search's
        ``best_params_`` (None for a fold whose inner fits all failed).
    cv_results : tuple of dict or None
        Each outer fold's search's ``cv_results_`` (None likewise).
    split_sizes : tuple of (int, int)
        Each outer fold's training and test rows, in order: the ``n_train``
        and ``n_test`` of :func:`gridfold.stats.corrected_ttest` when two
        models' outer scores on the same outer splits are compared.
    """

    scores: pd.DataFrame
    metrics: list[str]
    refit_metric: str
    best_params: tuple[dict[str, Any] | None, ...]
    cv_results: tuple[dict[str, Any] | None, ...]
    split_sizes: tuple[tuple[int, int], ...] = ()

    @property
    def test_score(self) -> np.ndarray:
        """The outer test scores of the refit metric, one per outer fold.

        Equal to ``cross_validate(search, X, y, cv=outer_cv)["test_score"]``.
        """
        return self.scores[f"test_{self.refit_metric}"].to_numpy(dtype=float)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation of each metric's outer test scores.

        Returns
        -------
        pandas.DataFrame
            Indexed by the ``test_<metric>`` columns of :attr:`scores`, with
            columns ``mean`` and ``std`` (NumPy's, ``ddof=0``, as
            scikit-learn's ``std_test_score``: NaN when a fold failed) and
            ``n_folds``.
        """
        columns = [f"test_{m}" for m in self.metrics]
        values = [self.scores[c].to_numpy(dtype=float) for c in columns]
        return pd.DataFrame(
            {
                "mean": [float(np.mean(v)) for v in values],
                "std": [float(np.std(v)) for v in values],
                "n_folds": [len(v) for v in values],
            },
            index=pd.Index(columns, name="metric"),
        )


def nested_cv(
    search: Any,
    X: Any,
    y: Any = None,
    *,
    outer_cv: Any = 5,
    groups: Any = None,
    n_jobs: int | None = None,
    backend: str | None = None,
    store: ResultStore | str | os.PathLike[str] | None = None,
    progress: bool = False,
    retries: int = 1,
    fit_timeout: float | None = None,
    scheduler: Any = None,
    label: str | None = None,
) -> NestedResult:
    """Nested cross-validation of a hyperparameter search, every fit in one pool.

    For each outer split of ``outer_cv``, ``search`` is run on the outer
    training part (its candidates on its own ``cv``'s splits of that part),
    the best candidate is refitted on the whole training part and scored on
    the outer test part: the outer scores estimate how well the tuned model
    generalises, without the optimism of ``search.best_score_``. The outer
    test scores of the refit metric equal, bit for bit,
    ``sklearn.model_selection.cross_validate(search, X, y, cv=outer_cv)
    ["test_score"]`` (with ``groups``: ``cross_validate(search, X, y,
    groups=groups, cv=outer_cv, params={"groups": groups})``), and the
    chosen parameters equal each fold's ``best_params_``.

    All inner fits, of every outer fold, run as one set of units on one
    executor, then the outer refits as a second set on the same one (see
    :mod:`gridfold.nested`).

    Parameters
    ----------
    search : GridSearchCV or RandomizedSearchCV
        An unfitted search, gridfold's or scikit-learn's; it is not changed.
        Its ``estimator``, search space, ``scoring``, ``refit``, ``cv``,
        ``error_score`` and ``return_train_score`` are used; its execution
        settings (``n_jobs``, ``backend``, ``store``, ...) are not, except
        gridfold's ``share``; callbacks set on it are not called. ``refit``
        must be True, a metric name or a callable (for a single metric): the
        outer folds score the refit.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None
    outer_cv : int, cross-validation generator or iterable, default=5
        The outer splits, as ``cv`` of ``cross_validate``: an int is
        (Stratified)KFold, stratified for a classifier.
    groups : array-like of shape (n_samples,), default=None
        Group labels, for the outer splitter and, cut to each outer training
        part, for the search's.
    n_jobs : int, default=None
        Workers: ``-1`` all cores, ``-2`` all but one, ``None`` or 1 sequential.
    backend : {"sequential", "threads", "processes", "dask"}, default=None
        Executor; see :func:`gridfold.available_backends`.
    store : ResultStore, str or path-like, default=None
        Keep every fit's result as it arrives (a path opens an SQLite file,
        created if missing); a later call with the same store runs only the
        fits it does not hold.
    progress : bool, default=False
        Show a progress bar (the inner fits, then the refits).
    retries : int, default=1
        Times a fit whose worker died is run again before it is recorded
        as failed (``error_kind="crash"``).
    fit_timeout : float, default=None
        Seconds a fit (inner, or an outer fold's refit) may run before its
        worker is stopped and the fit recorded as failed (``"processes"``).
    scheduler : str or distributed.Client, default=None
        With ``backend="dask"``: the cluster to run on.
    label : str, default=None
        The studies' names in the store (``"<label>"`` for the inner fits,
        ``"<label>-refit"`` for the outer refits); default
        ``"nested:<estimator>"``. Results are found by content, so the
        label only names them (``gridfold status``, ``gridfold results``).

    Returns
    -------
    NestedResult
        ``scores`` (one row per outer fold), ``summary()``, and each fold's
        ``best_params`` and ``cv_results``.

    Raises
    ------
    ParameterError
        For a ``search`` that is not a grid or randomized search, a search
        without a refit, invalid search settings, an ``outer_cv`` or search
        ``cv`` that yields no split, or invalid execution options, before
        any fit runs (a ``scoring`` callable's metric names, which ``refit``
        must name, are only known once it has scored).
    ValueError
        As ``cross_validate``: when every outer fold failed (each warns
        with a ``FitFailedWarning`` otherwise). With ``error_score="raise"``
        the first failing fit's error is raised instead.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> import gridfold
    >>> X, y = load_iris(return_X_y=True)
    >>> search = gridfold.GridSearchCV(SVC(), {"C": [0.1, 1, 10]}, cv=3)
    >>> result = gridfold.nested_cv(search, X, y, outer_cv=5)
    >>> list(result.scores.columns[:3])
    ['fold', 'test_score', 'best_score']
    """
    execution = Execution(
        n_jobs=n_jobs,
        backend=backend,
        store=store,
        retries=retries,
        fit_timeout=fit_timeout,
        share=bool(getattr(search, "share", True)),
        progress=progress,
        scheduler=scheduler,
    ).checked()  # bad options fail before the data is looked at
    _check_search(search)
    scorers, refit_metric = _scorers(search)
    X, y = check_data(X, y, search.estimator, {})
    _check_groups(groups, X)
    outer = _outer_splits(search, X, y, groups, outer_cv)
    plan = _plan(search, X, y, groups, outer, scorers)
    with Session(execution) as session:
        name = label if label is not None else f"nested:{plan.study.models[0].name}"
        run = session.run(plan.study, label=name, tasks=plan.tasks())
        by_task = {r.task: r for r in run.results}
        choices = [_choose(search, plan, fold, by_task, refit_metric) for fold in plan.folds]
        refits = _refit_study(search, plan, choices)
        wanted = [Task(0, o, o) for o, c in enumerate(choices) if c.error is None]
        run = session.run(refits, label=f"{name}-refit", tasks=wanted)
    result = _result(search, plan, choices, refits, run.results, refit_metric)
    sizes = tuple((len(train), len(test)) for train, test in outer)
    return dataclasses.replace(result, split_sizes=sizes)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def _check_search(search: Any) -> None:
    if not isinstance(search, _SkGridSearchCV | _SkRandomizedSearchCV):
        raise ParameterTypeError(
            f"nested_cv needs a GridSearchCV or RandomizedSearchCV (gridfold's or "
            f"scikit-learn's); got {type(search).__name__}. Fix: wrap the estimator, e.g. "
            "nested_cv(GridSearchCV(SVC(), {'C': [1, 10]}), X, y); to cross-validate an "
            "estimator without tuning, use gridfold.compare."
        )
    if type(search)._run_search not in _RUN_SEARCH:
        raise ParameterTypeError(
            f"{type(search).__name__} overrides _run_search, so nested_cv cannot know which "
            "candidates it evaluates. Expected a GridSearchCV or RandomizedSearchCV as "
            "gridfold or scikit-learn define it; fix: pass one, or run "
            "sklearn.model_selection.cross_validate(search, X, y) for your own search."
        )
    with sklearn_error_with_fix(
        "a value the message above allows",
        "set the search's parameter named there to one of those values",
    ):
        _sklearn.validate_params(search)
    refit = search.refit
    if refit is False:
        raise ParameterError(
            "nested_cv needs a search that refits (refit=True, a metric name or a callable); "
            "got refit=False, and an outer fold cannot score a search that holds no refitted "
            "estimator (cross_validate cannot either). Fix: set refit=True (or "
            "refit='<metric>' for several metrics)."
        )
    if callable(refit) and _several_metrics(search.scoring):
        raise ParameterError(
            f"nested_cv scores each outer fold with the refit metric, and refit={refit!r} is "
            f"a callable while scoring={search.scoring!r} has several metrics, so there is "
            "none (cross_validate's search.score fails there too). Fix: pass "
            "refit='<metric name>', or a single scoring."
        )


def _several_metrics(scoring: Any) -> bool:
    return isinstance(scoring, list | tuple | set | dict)


def _scorers(search: Any) -> tuple[Any, str]:
    """The search's scorer(s) and refit metric (an invalid ``refit`` raises, with the fix)."""
    with sklearn_error_with_fix(
        "refit=True for one metric, or the name of one of the search's metrics",
        "pass refit='<one of the scoring names>'",
    ):
        scorers, refit_metric = _sklearn.search_scorers(search)
    return scorers, refit_metric


def _check_groups(groups: Any, X: Any) -> None:
    if groups is None:
        return
    n_groups, n_rows = _sklearn.num_samples(groups), _sklearn.num_samples(X)
    if n_groups != n_rows:
        raise DataError(
            f"groups has {n_groups} labels and X has {n_rows} rows. Expected one group label "
            "per row; fix: pass groups for the same samples as X, in the same order."
        )


# --------------------------------------------------------------------------
# The plan: one study of every outer fold's inner fits
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fold:
    """One outer fold: its split of ``X`` and its slice of the inner study."""

    train: np.ndarray
    test: np.ndarray
    candidates: range  # indices into the inner study's candidates
    splits: range  # indices into the inner study's splits


@dataclass(frozen=True)
class _Plan:
    study: Study
    folds: tuple[_Fold, ...]

    def tasks(self) -> list[Task]:
        """Fold by fold, candidate by candidate, split by split (scikit-learn's order)."""
        return [Task(0, c, s) for f in self.folds for c in f.candidates for s in f.splits]


def _outer_splits(search: Any, X: Any, y: Any, groups: Any, outer_cv: Any) -> list[Split]:
    with sklearn_error_with_fix(*_OUTER_CV):
        splitter = check_cv(outer_cv, y, classifier=is_classifier(search))
        splits = list(splitter.split(X, y, groups))
    if not splits:
        raise ParameterError(
            f"outer_cv={outer_cv!r} yielded no splits. Expected {_OUTER_CV[0]} that yields "
            f"at least one; fix: {_OUTER_CV[1]} (a generator is used up after one pass: pass "
            "the splitter itself)."
        )
    return splits


def _inner_splits(search: Any, X: Any, y: Any, groups: Any, train: np.ndarray) -> list[Split]:
    """The search's splits of the outer training part ``train``, as rows of ``X``."""
    X_train, y_train = _sklearn.safe_split(search, X, y, train)  # what search.fit gets
    split_params: dict[str, Any] = {"groups": None}
    if groups is not None:
        split_params = _sklearn.check_method_params(X, params={"groups": groups}, indices=train)
    with sklearn_error_with_fix(*_INNER_CV):
        splitter = check_cv(search.cv, y_train, classifier=is_classifier(search.estimator))
        n_splits = splitter.get_n_splits(X_train, y_train, **split_params)
        inner = list(splitter.split(X_train, y_train, **split_params))
    if not inner or len(inner) != n_splits:
        raise ParameterError(
            f"The search's cv={search.cv!r} yielded {len(inner)} splits of an outer training "
            f"part of {len(train)} rows, and get_n_splits said {n_splits}. Expected "
            f"{_INNER_CV[0]}, at least one, as many as get_n_splits counts; fix: "
            f"{_INNER_CV[1]}."
        )
    return [(train[inner_train], train[inner_test]) for inner_train, inner_test in inner]


def _fold_candidates(search: Any, n_folds: int) -> list[list[dict[str, Any]]]:
    """Each outer fold's candidates, as the fold's clone of ``search`` draws them."""
    if isinstance(search, _SkGridSearchCV):
        return [grid_candidates(search.param_grid)] * n_folds
    if search.random_state is None:  # NumPy's global generator: a new draw per fold
        return [_sample(search, None) for _ in range(n_folds)]
    # clone(search) deep-copies a RandomState: every fold starts from the same state.
    return [_sample(search, copy.deepcopy(search.random_state))] * n_folds


def _sample(search: Any, random_state: Any) -> list[dict[str, Any]]:
    return sampled_candidates(search.param_distributions, search.n_iter, random_state)


def _plan(search: Any, X: Any, y: Any, groups: Any, outer: list[Split], scorers: Any) -> _Plan:
    per_fold = _fold_candidates(search, len(outer))
    same = all(c is per_fold[0] for c in per_fold)
    candidates: list[dict[str, Any]] = list(per_fold[0]) if same else []
    splits: list[Split] = []
    folds: list[_Fold] = []
    for (train, test), fold_candidates in zip(outer, per_fold, strict=True):
        if not fold_candidates:
            raise ParameterError(
                f"The search space of {type(search).__name__} is empty. Expected at least "
                "one candidate; fix: give each parameter a non-empty list of values."
            )
        check_candidates(search.estimator, fold_candidates)
        first = 0 if same else len(candidates)
        if not same:
            candidates.extend(fold_candidates)
        inner = _inner_splits(search, X, y, groups, train)
        cand_range = range(first, first + len(fold_candidates))
        folds.append(_Fold(train, test, cand_range, range(len(splits), len(splits) + len(inner))))
        splits.extend(inner)
    model = Model(
        estimator_name(search.estimator), clone(search.estimator), tuple(candidates), scorers
    )
    study = Study(
        models=(model,),
        data=StudyData(X, y, tuple(splits)),
        return_train_score=search.return_train_score,
        error_score=search.error_score,
        verbose=search.verbose,
    )
    return _Plan(study, tuple(folds))


# --------------------------------------------------------------------------
# Each fold's choice, and the refits
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Choice:
    """An outer fold's best candidate (an index into the inner study's), or why none."""

    index: int | None
    cv_results: dict[str, Any] | None
    best_score: float
    error: str | None = None


def _choose(
    search: Any, plan: _Plan, fold: _Fold, by_task: dict[Task, TaskResult], refit_metric: str
) -> _Choice:
    """The fold's best candidate, as the fold's search's ``fit`` selects it."""
    results = [by_task[Task(0, c, s)] for c in fold.candidates for s in fold.splits]
    try:
        out = _sklearn.warn_or_raise_about_fit_failures(
            results,
            search.error_score,
            callable_scoring=callable(search.scoring),
            return_train_score=search.return_train_score,
        )
    except ValueError:
        # Every fit failed: the fold's search raises, and cross_validate records the fold
        # as a failed fit with that traceback.
        return _Choice(None, None, np.nan, traceback.format_exc())
    candidates = [plan.study.models[0].candidates[c] for c in fold.candidates]
    cv_results = _sklearn.format_cv_results(
        candidates, len(fold.splits), out, search.return_train_score
    )
    metric = refit_metric
    if callable(search.scoring) and isinstance(out[0]["test_scores"], dict):
        metric = _callable_refit_metric(search, out[0]["test_scores"])
    best = _sklearn.select_best_index(search.refit, metric, cv_results)
    best_score = np.nan if callable(search.refit) else cv_results[f"mean_test_{metric}"][best]
    return _Choice(fold.candidates[best], cv_results, float(best_score))


def _callable_refit_metric(search: Any, scores: dict[str, Any]) -> str:
    """The refit metric of a ``scoring`` callable that returned several (its names known now)."""
    if isinstance(search.refit, str) and search.refit in scores:
        return search.refit
    raise ParameterError(
        f"scoring={search.scoring!r} returned several metrics {sorted(scores)}, and "
        f"refit={search.refit!r} names none of them. Expected refit='<one of those names>', "
        "the metric each outer fold is scored with; fix: pass it."
    )


def _refit_study(search: Any, plan: _Plan, choices: Sequence[_Choice]) -> Study:
    """Outer fold ``o``'s refit is task ``(0, o, o)``: candidate ``o`` is its choice."""
    inner = plan.study.models[0]
    chosen = tuple(
        {} if c.index is None else inner.candidates[c.index] for c in choices
    )  # {}: a fold without a choice, never run
    return Study(
        models=(Model(inner.name, inner.estimator, chosen, inner.scorer),),
        data=StudyData(plan.study.data.X, plan.study.data.y, _outer(plan)),
        # cross_validate's own error_score (NaN): a failed refit fails the outer fold.
        error_score="raise" if search.error_score == "raise" else np.nan,
    )


def _outer(plan: _Plan) -> tuple[Split, ...]:
    return tuple((f.train, f.test) for f in plan.folds)


def _result(
    search: Any,
    plan: _Plan,
    choices: Sequence[_Choice],
    refits: Study,
    results: Sequence[TaskResult],
    refit_metric: str,
) -> NestedResult:
    by_task = {r.task: r for r in results}
    per_fold: list[TaskResult] = []
    for o, choice in enumerate(choices):
        task = Task(0, o, o)
        if choice.error is not None:
            per_fold.append(_sklearn.failed_result(refits, task, choice.error, "exception"))
        else:
            per_fold.append(by_task[task])
    # As cross_validate: a warning for failed outer folds, a ValueError when all failed.
    out = _sklearn.warn_or_raise_about_fit_failures(
        per_fold,
        np.nan,
        callable_scoring=callable(search.scoring),
        return_train_score=False,
    )
    first = next(o["test_scores"] for o in out if o["fit_error"] is None)
    metrics = list(first) if isinstance(first, dict) else ["score"]
    if isinstance(first, dict) and not callable(search.refit):
        refit_metric = search.refit
    names = _param_names(plan.study.models[0].candidates)
    best_params = tuple(
        None if c.index is None else plan.study.models[0].candidates[c.index] for c in choices
    )
    rows = []
    for o, (fold_out, choice, params) in enumerate(zip(out, choices, best_params, strict=True)):
        scores = fold_out["test_scores"]
        named = scores if isinstance(scores, dict) else {"score": scores}
        row: dict[str, Any] = {"fold": o}
        row.update({f"test_{m}": named[m] for m in metrics})
        row["best_score"] = choice.best_score
        row.update({f"param_{n}": (params or {}).get(n) for n in names})
        row.update(
            fit_time=fold_out["fit_time"],
            score_time=fold_out["score_time"],
            fit_error=fold_out["fit_error"],
        )
        rows.append(row)
    return NestedResult(
        scores=pd.DataFrame(rows),
        metrics=metrics,
        refit_metric=refit_metric,
        best_params=best_params,
        cv_results=tuple(c.cv_results for c in choices),
    )


def _param_names(candidates: Sequence[dict[str, Any]]) -> list[str]:
    """Every parameter name of the search space, in order of first appearance."""
    return list(dict.fromkeys(name for candidate in candidates for name in candidate))
