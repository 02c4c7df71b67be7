"""Every use of scikit-learn's private API, in one place.

gridfold promises the same ``cv_results_`` as scikit-learn, so it runs the very
code scikit-learn runs: ``_fit_and_score`` for each fit, and
``BaseSearchCV._format_results`` for the table. The supported scikit-learn
range is declared in ``pyproject.toml``; ``tests/test_sklearn_compat.py`` pins
the behaviour these helpers are relied upon for.

The path families (:mod:`gridfold.sharing`) import from here the helpers a
separate fit calls (ridge's solvers, kNN's ``ArgKmin``) so as to reproduce it
bit for bit. Each family also reads private fitted attributes of its own
estimator classes; its module docstring names the scikit-learn code it was
checked against, and its tests compare it with scikit-learn.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import re
import time
from collections.abc import Sequence
from traceback import format_exc
from typing import Any

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.callback import AutoPropagatedCallback
from sklearn.linear_model._base import _preprocess_data, _rescale_data
from sklearn.linear_model._ridge import (
    _get_valid_accept_sparse,
    _solve_cholesky_kernel,
    resolve_solver,
)
from sklearn.metrics._pairwise_distances_reduction import ArgKmin, ArgKminClassMode
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV

# Straight from the private module rather than through sklearn.experimental's
# enable_halving_search_cv, which also sets the classes on sklearn.model_selection
# (and its __all__): importing gridfold must not change what scikit-learn exports.
from sklearn.model_selection._search_successive_halving import (
    HalvingGridSearchCV as SkHalvingGridSearchCV,
)
from sklearn.model_selection._search_successive_halving import (
    HalvingRandomSearchCV as SkHalvingRandomSearchCV,
)
from sklearn.model_selection._validation import (
    _fit_and_score,
    _insert_error_scores,
    _score,
    _warn_or_raise_about_fit_failures,
)
from sklearn.tree._tree import Tree
from sklearn.utils import get_tags
from sklearn.utils._array_api import _ravel, device, get_namespace_and_device, move_to
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _check_method_params, _check_sample_weight, _num_samples

from gridfold.splits import SplitParts, split_parts
from gridfold.tasks import Study, Task, TaskResult

__all__ = [
    "fit_context",
    "MultimetricScorer",
    "failed_result",
    "check_method_params",
    "num_samples",
    "openmp_effective_n_threads",
    "fit_and_score",
    "score_fitted",
    "split_data",
    "train_fit_params",
    "whole_data",
    "format_cv_results",
    "search_scorers",
    "select_best_index",
    "validate_params",
    "warn_or_raise_about_fit_failures",
    "safe_split",
    "SkHalvingGridSearchCV",
    "SkHalvingRandomSearchCV",
    "Tree",
    "callbacks_to_propagate",
    # for path families
    "ArgKmin",
    "ArgKminClassMode",
    "_check_sample_weight",
    "_get_valid_accept_sparse",
    "_preprocess_data",
    "_ravel",
    "_rescale_data",
    "_solve_cholesky_kernel",
    "device",
    "get_namespace_and_device",
    "move_to",
    "resolve_solver",
]

fit_context = _fit_context
MultimetricScorer = _MultimetricScorer
check_method_params = _check_method_params
num_samples = _num_samples
openmp_effective_n_threads = _openmp_effective_n_threads
safe_split = _safe_split


def callbacks_to_propagate(callback_ctx: Any) -> list[Any]:
    """The callbacks ``callback_ctx.propagate_callback_context`` hands to a sub-estimator.

    The same selection as ``CallbackContext.propagate_callback_context``
    (``sklearn/callback/_callback_context.py``): auto-propagated callbacks
    whose ``max_propagation_depth`` the context's depth has not reached.
    """
    return [
        callback
        for callback in callback_ctx._callbacks
        if isinstance(callback, AutoPropagatedCallback)
        and (
            callback.max_propagation_depth is None
            or callback_ctx._propagation_depth < callback.max_propagation_depth
        )
    ]


def fit_and_score(study: Study, task: Task) -> TaskResult:
    """Fit and score one task exactly as ``GridSearchCV`` would.

    A model with ``callbacks`` (:class:`gridfold.callbacks.FitCallbacks`)
    gets its evaluation context and caller, as scikit-learn's search passes them.
    Where the split's parts can be cut once per process (:mod:`gridfold.splits`),
    :func:`_fit_and_score_parts` fits on a copy of them.
    """
    model = study.models[task.model]
    if model.callbacks is None and study.verbose == 0 and _sklearn_fit_lines() is not None:
        parts = split_parts(study.data)
        if parts is not None:
            return _fit_and_score_parts(study, task, parts)
    train, test = study.data.splits[task.split]
    callbacks: dict[str, Any] = {}
    if model.callbacks is not None:
        callbacks = {
            "caller": model.callbacks.caller,
            "callback_ctx": model.callbacks.context(task.candidate, task.split),
        }
    out = _fit_and_score(
        clone(model.estimator),
        study.data.X,
        study.data.y,
        scorer=model.scorer,
        train=train,
        test=test,
        verbose=study.verbose,
        parameters=model.candidates[task.candidate],
        fit_params=dict(study.data.fit_params),
        score_params=dict(study.data.score_params),
        return_train_score=study.return_train_score,
        return_n_test_samples=True,
        return_times=True,
        split_progress=(task.split, study.n_splits),
        candidate_progress=(task.candidate, len(model.candidates)),
        error_score=study.error_score,
        **callbacks,
    )
    return TaskResult(
        task=task,
        test_scores=out["test_scores"],
        train_scores=out.get("train_scores"),
        n_test_samples=int(out["n_test_samples"]),
        fit_time=float(out["fit_time"]),
        score_time=float(out["score_time"]),
        fit_error=out["fit_error"],
        error_kind=None if out["fit_error"] is None else "exception",
    )


def _fit_and_score_parts(study: Study, task: Task, parts: SplitParts) -> TaskResult:
    """``_fit_and_score`` on the cut parts of the task's split, copied for this fit.

    Line for line scikit-learn 1.9's ``_fit_and_score``
    (``sklearn/model_selection/_validation.py``) for what gridfold passes it
    without callbacks or verbosity: the same parameter cloning, fit and score
    params, timing, fit call, error handling and scoring; only the two
    ``_safe_split`` calls become a copy of parts cut once per split (the
    conditions are in :mod:`gridfold.splits`). A failed fit's traceback names
    conditions are in :mod:`gridfold.splits`). A failed fit's traceback is
    the text scikit-learn's would be (:func:`_as_sklearn_traceback`).
    """
    model = study.models[task.model]
    train, test = study.data.splits[task.split]
    X, error_score = study.data.X, study.error_score
    if not isinstance(error_score, numbers.Number) and error_score != "raise":
        raise ValueError(
            "error_score must be the string 'raise' or a numeric value. "
            "(Hint: if using 'raise', please make sure that it has been "
            "spelled correctly.)"
        )
    fit_params = _check_method_params(X, params=dict(study.data.fit_params), indices=train)
    score_params = dict(study.data.score_params)
    score_params_train = _check_method_params(X, params=score_params, indices=train)
    score_params_test = _check_method_params(X, params=score_params, indices=test)
    parameters = model.candidates[task.candidate]
    estimator = clone(model.estimator).set_params(**clone(parameters, safe=False))

    start_time = time.time()
    pairwise = get_tags(estimator).input_tags.pairwise

    def cut() -> tuple[Any, Any, Any, Any]:
        y = study.data.y
        return (*_safe_split(estimator, X, y, train), *_safe_split(estimator, X, y, test, train))

    X_train, y_train, X_test, y_test = parts.get(task.split, pairwise, cut)
    scorer, train_scores = model.scorer, None
    try:
        if y_train is None:
            estimator.fit(X_train, **fit_params)
        else:
            estimator.fit(X_train, y_train, **fit_params)
    except Exception:
        fit_time = time.time() - start_time  # time until the error
        score_time = 0.0
        if error_score == "raise":
            raise
        if isinstance(scorer, _MultimetricScorer):
            test_scores: Any = {name: error_score for name in scorer._scorers}
            if study.return_train_score:
                train_scores = test_scores.copy()
        else:
            test_scores = error_score
            if study.return_train_score:
                train_scores = error_score
        fit_error: str | None = _as_sklearn_traceback(format_exc(), y_train is None)
    else:
        fit_error = None
        fit_time = time.time() - start_time
        test_scores = _score(estimator, X_test, y_test, scorer, score_params_test, error_score)
        score_time = time.time() - start_time - fit_time
        if study.return_train_score:
            train_scores = _score(
                estimator, X_train, y_train, scorer, score_params_train, error_score
            )
    return TaskResult(
        task=task,
        test_scores=test_scores,
        train_scores=train_scores,
        n_test_samples=int(_num_samples(X_test)),
        fit_time=float(fit_time),
        score_time=float(score_time),
        fit_error=fit_error,
        error_kind=None if fit_error is None else "exception",
    )


@functools.cache
def _sklearn_fit_lines() -> tuple[str, int, int] | None:
    """File of ``_fit_and_score``, and the lines of its two fit calls without callbacks.

    None if they cannot be found (another scikit-learn): then fits do not use
    :func:`_fit_and_score_parts`, whose tracebacks must read as those lines.
    """
    try:
        lines, first = inspect.getsourcelines(_fit_and_score)
        filename = inspect.getsourcefile(_fit_and_score)
    except (OSError, TypeError):
        return None
    calls = {
        "estimator.fit(X_train, **fit_params)": 0,
        "estimator.fit(X_train, y_train, **fit_params)": 0,
    }
    branch = next((i for i, line in enumerate(lines) if "custom search class" in line), None)
    if filename is None or branch is None:
        return None
    for i in range(branch, min(branch + 6, len(lines))):
        if lines[i].strip() in calls:
            calls[lines[i].strip()] = first + i
    if not all(calls.values()):
        return None
    return filename, *calls.values()  # type: ignore[return-value]


def _as_sklearn_traceback(text: str, no_y: bool) -> str:
    """A failed fit's traceback, its outermost frame as scikit-learn's ``_fit_and_score``.

    :func:`_fit_and_score_parts` makes the very fit call that scikit-learn's
    ``_fit_and_score`` makes (the same statement, so the same source line and
    markers below it); only the frame's file, line and function name differ.
    They are given scikit-learn's, so that a failed fit's ``fit_error``, and
    the warning that groups failures by it, read word for word as
    scikit-learn's. Every frame below, where the error happened, is untouched.
    """
    found = _sklearn_fit_lines()
    assert found is not None  # checked before the fast path is taken
    filename, line_without_y, line_with_y = found
    ours = re.compile(rf'  File "{re.escape(__file__)}", line \d+, in _fit_and_score_parts\n')
    line = line_without_y if no_y else line_with_y
    return ours.sub(
        lambda _: f'  File "{filename}", line {line}, in _fit_and_score\n', text, count=1
    )


def _as_sklearn_out(results: Sequence[TaskResult], return_train_score: bool) -> list[dict]:
    out = []
    for r in results:
        d: dict[str, Any] = {
            "fit_error": r.fit_error,
            "test_scores": r.test_scores,
            "n_test_samples": r.n_test_samples,
            "fit_time": r.fit_time,
            "score_time": r.score_time,
        }
        if return_train_score:
            d["train_scores"] = r.train_scores
        out.append(d)
    return out


def warn_or_raise_about_fit_failures(
    results: Sequence[TaskResult],
    error_score: float | str,
    callable_scoring: bool,
    return_train_score: bool,
) -> list[dict]:
    """Warn as scikit-learn does about failed fits; return sklearn-shaped results."""
    out = _as_sklearn_out(results, return_train_score)
    _warn_or_raise_about_fit_failures(out, error_score)
    if callable_scoring:
        # The type a callable scorer returns is only known once one succeeded.
        _insert_error_scores(out, error_score)
    return out


def format_cv_results(
    candidates: Sequence[dict[str, Any]],
    n_splits: int,
    out: list[dict],
    return_train_score: bool,
    more_results: dict[str, list] | None = None,
) -> dict[str, Any]:
    """``cv_results_`` for these results, built by scikit-learn's own code."""
    formatter = _SkGridSearchCV(
        estimator=None, param_grid={}, return_train_score=return_train_score
    )
    return formatter._format_results(list(candidates), n_splits, out, more_results)


def search_scorers(search: Any) -> tuple[Any, Any]:
    """A search's scorer(s) and refit metric, as its ``fit`` makes them.

    ``BaseSearchCV._get_scorers``: one scorer (or the ``scoring`` callable)
    and ``"score"``, or a ``_MultimetricScorer`` and the ``refit`` name (an
    invalid ``refit`` for several metrics raises its ``ValueError``).
    """
    return search._get_scorers()


def select_best_index(refit: Any, refit_metric: str, results: dict[str, Any]) -> int:
    """The best candidate's index in ``cv_results_``-shaped ``results``, as a search picks it.

    ``BaseSearchCV._select_best_index``: ``refit(results)`` for a callable,
    else the first candidate of the lowest ``rank_test_<refit_metric>`` (ties
    go to the lowest index; NaN means rank last).
    """
    return int(_SkGridSearchCV._select_best_index(refit, refit_metric, results))


def validate_params(estimator: Any) -> None:
    """Check ``estimator``'s parameters against its constraints, as its ``fit`` does first.

    Raises scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a
    ``TypeError``).
    """
    estimator._validate_params()


def split_data(estimator: Any, study: Study, split: int) -> tuple[Any, Any, Any, Any]:
    """``X_train, y_train, X_test, y_test`` exactly as ``_fit_and_score`` slices them."""
    train, test = study.data.splits[split]
    X, y = study.data.X, study.data.y
    X_train, y_train = _safe_split(estimator, X, y, train)
    X_test, y_test = _safe_split(estimator, X, y, test, train)
    return X_train, y_train, X_test, y_test


def whole_data(estimator: Any, study: Study) -> tuple[Any, Any, dict[str, Any]]:
    """``X, y`` and fit params of every row, as fresh copies, for a refit in a worker.

    Sliced as ``_fit_and_score`` slices a fold, with every row: the same
    values, types and column names as the search's own refit sees, never the
    worker's read-only memory maps.
    """
    X, y = study.data.X, study.data.y
    rows = np.arange(_num_samples(X))
    X_all, y_all = _safe_split(estimator, X, y, rows)
    fit_params = _check_method_params(X, params=dict(study.data.fit_params), indices=rows)
    return X_all, y_all, fit_params


def train_fit_params(study: Study, split: int) -> dict[str, Any]:
    """The fit params of ``split``'s training part, as ``_fit_and_score`` passes them."""
    train, _ = study.data.splits[split]
    return dict(
        _check_method_params(study.data.X, params=dict(study.data.fit_params), indices=train)
    )


def score_fitted(
    study: Study,
    task: Task,
    estimator: Any,
    train_xy: tuple[Any, Any],
    test_xy: tuple[Any, Any],
    fit_time: float,
) -> TaskResult:
    """Score an already fitted estimator as ``_fit_and_score`` scores a fresh fit.

    Used by shared work: ``estimator`` is a view that predicts exactly as the
    candidate's own fit would; ``train_xy``/``test_xy`` are the data it sees
    (a pipeline's final step sees them transformed by the shared prefix).
    """
    model = study.models[task.model]
    train, test = study.data.splits[task.split]
    X = study.data.X
    params = dict(study.data.score_params)
    start = time.time()
    test_scores = _score(
        estimator,
        *test_xy,
        model.scorer,
        _check_method_params(X, params=params, indices=test),
        study.error_score,
    )
    score_time = time.time() - start
    train_scores = None
    if study.return_train_score:
        train_scores = _score(
            estimator,
            *train_xy,
            model.scorer,
            _check_method_params(X, params=params, indices=train),
            study.error_score,
        )
    return TaskResult(
        task=task,
        test_scores=test_scores,
        train_scores=train_scores,
        n_test_samples=len(test),
        fit_time=fit_time,
        score_time=score_time,
        fit_error=None,
    )


def failed_result(study: Study, task: Task, message: str, kind: str) -> TaskResult:
    """The result of a fit that produced none (its worker died, or it timed out).

    Shaped as scikit-learn's ``_fit_and_score`` shapes a failed fit: every
    score is ``error_score`` (one per scorer for several), ``message`` is
    the ``fit_error``. With ``error_score="raise"`` the caller raises instead.
    """
    scorer = study.models[task.model].scorer
    value = np.nan if study.error_score == "raise" else study.error_score
    scores: Any = (
        {name: value for name in scorer._scorers}
        if isinstance(scorer, _MultimetricScorer)
        else value
    )
    return TaskResult(
        task=task,
        test_scores=scores,
        train_scores=_copy(scores) if study.return_train_score else None,
        n_test_samples=len(study.data.splits[task.split][1]),
        fit_time=0.0,
        score_time=0.0,
        fit_error=message,
        error_kind=kind,
    )


def _copy(scores: Any) -> Any:
    return dict(scores) if isinstance(scores, dict) else scores
