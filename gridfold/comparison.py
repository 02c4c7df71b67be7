"""Compare learning algorithms on the same cross-validation folds."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv

from gridfold import _sklearn
from gridfold.exceptions import ParameterError
from gridfold.lifecycle import Execution, Session
from gridfold.store.base import ResultStore
from gridfold.tasks import Model, Study, StudyData, TaskResult, group_failures, results_by_model
from gridfold.validation import check_data

__all__ = ["compare", "CompareResult"]


@dataclass(frozen=True)
class CompareResult:
    """Per-fold scores of several estimators evaluated on the same folds.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per (model, split): ``model``, ``split``, ``repeat``, ``fold``,
        one ``test_<metric>`` column per scorer (and ``train_<metric>`` when
        asked for), ``fit_time``, ``score_time`` and ``fit_error``.
    metrics : list of str
        Scorer names; ``["score"]`` for a single unnamed scorer.
    n_splits : int
        Number of train/test splits (folds x repeats).
    """

    scores: pd.DataFrame
    metrics: list[str]
    n_splits: int

    def summary(self, metric: str | None = None) -> pd.DataFrame:
        """Mean and std of each metric and of the times, per model.

        Sorted by the mean of ``metric`` (default: the first), best first.
        """
        metric = metric or self.metrics[0]
        cols = [f"test_{m}" for m in self.metrics] + ["fit_time", "score_time"]
        grouped = self.scores.groupby("model", sort=False)[cols]
        # NumPy's mean and std (ddof=0), as scikit-learn's mean/std_test_score: pandas'
        # own reductions round differently in the last bit and skip NaN (failed fits).
        means = grouped.agg(lambda s: np.mean(s.to_numpy()))
        stds = grouped.agg(lambda s: np.std(s.to_numpy()))
        table = means.add_prefix("mean_").join(stds.add_prefix("std_"))
        order = [f"{s}_{c}" for c in cols for s in ("mean", "std")]
        return table[order].sort_values(f"mean_test_{metric}", ascending=False)


def compare(
    estimators: Mapping[str, Any] | Sequence[Any],
    X: Any,
    y: Any = None,
    *,
    groups: Any = None,
    cv: Any = 5,
    scoring: Any = None,
    n_jobs: int | None = None,
    backend: str | None = None,
    fit_params: Mapping[str, Any] | None = None,
    return_train_score: bool = False,
    error_score: float | str = np.nan,
    progress: bool = False,
    store: ResultStore | str | os.PathLike[str] | None = None,
    retries: int = 1,
    fit_timeout: float | None = None,
    share: bool = True,
    scheduler: Any = None,
) -> CompareResult:
    """Evaluate several estimators on the same cross-validation splits, in one pool.

    Each estimator's per-split scores equal those of
    :func:`sklearn.model_selection.cross_validate` with the same ``cv`` and
    ``scoring``. An estimator may itself be a search (nested cross-validation).

    Parameters
    ----------
    estimators : dict of str -> estimator, or list of estimators or (name, estimator)
        The algorithms to compare. Unnamed estimators are named by class.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None
    groups : array-like of shape (n_samples,), default=None
        Group labels for group-aware splitters.
    cv : int, cross-validation generator or iterable, default=5
        As in scikit-learn; repeated splitters such as
        ``RepeatedStratifiedKFold`` work. The splits are drawn once and shared.
    scoring : str, callable, list or dict, default=None
        As in :func:`sklearn.model_selection.cross_validate`.
    n_jobs : int, default=None
        Workers: ``-1`` all cores, ``-2`` all but one, ``None`` or 1 sequential.
    backend : {"sequential", "threads", "processes", "dask"}, default=None
        Executor; see :func:`gridfold.available_backends`.
    fit_params : dict, default=None
        Passed to every ``fit``; per-sample arrays are split with the data.
    return_train_score : bool, default=False
    error_score : 'raise' or float, default=np.nan
        Score recorded for a fit that raised.
    progress : bool, default=False
        Show a progress bar.
    store : ResultStore, str or path-like, default=None
        Keep every fit's result as it arrives (a path opens an SQLite file,
        created if missing). A later call with the same store runs only the
        fits it does not hold: an interrupted comparison resumes, and one
        with an estimator added reuses every unchanged fit.
    retries : int, default=1
        Times a fit whose worker process died is run again before it is
        recorded as failed. A fit that raises is never retried.
    fit_timeout : float, default=None
        Seconds a fit may run before its worker process is killed and the fit
        recorded as failed (needs worker processes).
    share : bool, default=True
        The searches' option (let one fit answer several candidates where
        that is exact, :mod:`gridfold.sharing`), accepted here so that every
        entry point takes the same execution options. Each estimator given to
        ``compare`` is evaluated with its own settings, which no family
        shares between estimators today, so the work is the same either way.
    scheduler : str or distributed.Client, default=None
        Run on this Dask cluster (``backend="dask"``): a scheduler address
        such as ``"tcp://10.0.0.5:8786"`` or a client. With
        ``backend="dask"`` and no scheduler, ``n_jobs`` local Dask workers.

    Returns
    -------
    CompareResult
    """
    execution = Execution(
        n_jobs=n_jobs,
        backend=backend,
        store=store,
        retries=retries,
        fit_timeout=fit_timeout,
        share=share,
        progress=progress,
        scheduler=scheduler,
    ).checked()  # bad options fail before the data is looked at
    named = _name_estimators(estimators)
    fit_params = dict(fit_params or {})
    first = named[0][1]
    X, y = check_data(X, y, first, fit_params)
    fit_params = _sklearn.check_method_params(X, params=fit_params)
    classifier = all(is_classifier(est) for _, est in named)
    splitter = check_cv(cv, y, classifier=classifier)
    splits = tuple(splitter.split(X, y, groups))
    raise_exc = error_score == "raise"
    models = tuple(
        Model(name, clone(est), ({},), check_scoring(est, scoring, raise_exc=raise_exc))
        for name, est in named
    )
    study = Study(
        models=models,
        data=StudyData(X, y, splits, fit_params, {}),
        return_train_score=return_train_score,
        error_score=error_score,
    )
    with Session(execution) as session:
        run = session.run(study, label="compare")
    n_repeats = int(getattr(splitter, "n_repeats", 1))
    return _to_result(study, results_by_model(study, run.results), n_repeats, error_score)


def _name_estimators(estimators: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
    if isinstance(estimators, Mapping):
        named = list(estimators.items())
    else:
        named = []
        for item in estimators:
            named.append(item if isinstance(item, tuple) else (type(item).__name__, item))
    if not named:
        raise ParameterError(
            "compare() got no estimators. Expected a dict {name: estimator} or a list of "
            "estimators; fix: pass at least one."
        )
    names = [n for n, _ in named]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(
            f"Estimator names must be unique; {dupes} appear more than once. "
            "Fix: pass a dict {name: estimator} with distinct names."
        )
    for name, est in named:
        if not hasattr(est, "fit"):
            raise ParameterError(
                f"{name!r} is {est!r}, which has no fit method. Expected a scikit-learn "
                "compatible estimator; fix: pass an estimator instance, e.g. SVC()."
            )
    return named


def _to_result(
    study: Study, per_model: list[list[TaskResult]], n_repeats: int, error_score: float | str
) -> CompareResult:
    rows: list[dict[str, Any]] = []
    metrics: list[str] = ["score"]
    n_folds = study.n_splits // n_repeats
    for model, results in zip(study.models, per_model, strict=True):
        _warn_failures(model.name, results, error_score)
        for r in results:
            row: dict[str, Any] = {
                "model": model.name,
                "split": r.task.split,
                "repeat": r.task.split // n_folds,
                "fold": r.task.split % n_folds,
            }
            for prefix, scores in (("test", r.test_scores), ("train", r.train_scores)):
                if scores is None:
                    continue
                named = scores if isinstance(scores, dict) else {"score": scores}
                if prefix == "test" and isinstance(scores, dict):
                    metrics = list(scores)
                row.update({f"{prefix}_{k}": v for k, v in named.items()})
            row.update(fit_time=r.fit_time, score_time=r.score_time, fit_error=r.fit_error)
            rows.append(row)
    return CompareResult(pd.DataFrame(rows), metrics, study.n_splits)


def _warn_failures(name: str, results: list[TaskResult], error_score: float | str) -> None:
    groups = group_failures(results)
    if not groups:
        return
    detail = "\n".join(
        f"{g.count} fits failed with the following error:\n{g.traceback}" for g in groups
    )
    n_failed = sum(g.count for g in groups)
    warnings.warn(
        f"{name}: {n_failed} of {len(results)} fits failed; their score is set to "
        f"{error_score}. Debug with error_score='raise'.\n{detail}",
        FitFailedWarning,
        stacklevel=3,
    )
