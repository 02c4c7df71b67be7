"""Compare learning algorithms on the same cross-validation folds."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv

from gridfold import _sklearn, stats
from gridfold.exceptions import ParameterError
from gridfold.lifecycle import Execution, Session
from gridfold.store.base import ResultStore
from gridfold.tasks import Model, Study, StudyData, TaskResult, group_failures, results_by_model
from gridfold.validation import check_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["compare", "CompareResult", "MultiCompareResult"]

Method = Literal["corrected", "bayesian", "5x2cv_t", "5x2cv_f"]
_METHODS = ("corrected", "bayesian", "5x2cv_t", "5x2cv_f")


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
    split_sizes : tuple of (int, int)
        ``(n_train, n_test)`` rows of each split, in split order; the
        corrected tests of :meth:`test` use their means. Empty for a result
        built without them.
    """

    scores: pd.DataFrame
    metrics: list[str]
    n_splits: int
    split_sizes: tuple[tuple[int, int], ...] = ()

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

    def test(
        self,
        a: str,
        b: str,
        *,
        metric: str | None = None,
        method: Method = "corrected",
        rope: float = 0.01,
    ) -> stats.TTestResult | stats.BayesianTTestResult | stats.FTestResult:
        """Is model ``a`` better than model ``b``? A paired test over the splits.

        Differences are ``a - b`` of the per-split test scores (higher is
        better), split by split.

        Parameters
        ----------
        a, b : str
            Two model names, as in ``scores["model"]``.
        metric : str, default=None
            One of :attr:`metrics`; default the first.
        method : {"corrected", "bayesian", "5x2cv_t", "5x2cv_f"}, default="corrected"
            :func:`gridfold.stats.corrected_ttest` (two-sided) or
            :func:`gridfold.stats.bayesian_ttest`, with ``n_train`` and
            ``n_test`` the mean sizes of the splits this result ran: right
            for (repeated) k-fold. ``"5x2cv_t"`` and ``"5x2cv_f"``:
            :func:`gridfold.stats.paired_ttest_5x2cv` and
            :func:`gridfold.stats.combined_ftest_5x2cv`, for a result of
            ``compare(..., cv=gridfold.FiveByTwo(...))``.
        rope : float, default=0.01
            Half-width of the region of practical equivalence (``"bayesian"``
            only), in score units.

        Returns
        -------
        TTestResult, BayesianTTestResult or FTestResult
            As the chosen function returns it.

        Raises
        ------
        ParameterError
            For an unknown model, metric or method, a model with failed fits
            (NaN scores), a 5x2cv method on other splits than FiveByTwo's,
            or fewer than 2 splits.
        """
        column = self._metric_column(metric)
        _check_method(method)
        for name in (a, b):
            self._check_model(name)
        if a == b:
            raise ParameterError(
                f"test() compares two different models; got a = b = {a!r}. "
                "Fix: name another model as b."
            )
        scores_a, scores_b = self._scores_to_test(a, column), self._scores_to_test(b, column)
        if method == "5x2cv_t":
            self._check_five_by_two(method)
            return stats.paired_ttest_5x2cv(scores_a, scores_b)
        if method == "5x2cv_f":
            self._check_five_by_two(method)
            return stats.combined_ftest_5x2cv(scores_a, scores_b)
        n_train, n_test = self._mean_split_sizes(method)
        if method == "bayesian":
            return stats.bayesian_ttest(
                scores_a, scores_b, n_train=n_train, n_test=n_test, rope=rope
            )
        return stats.corrected_ttest(scores_a, scores_b, n_train=n_train, n_test=n_test)

    def pairwise(
        self, metric: str | None = None, method: Method = "corrected", *, rope: float = 0.01
    ) -> pd.DataFrame:
        """Every model against the best one (by mean score), with :meth:`test`.

        Parameters
        ----------
        metric : str, default=None
            One of :attr:`metrics`; default the first.
        method : {"corrected", "bayesian", "5x2cv_t", "5x2cv_f"}, default="corrected"
            As in :meth:`test`.
        rope : float, default=0.01
            As in :meth:`test` (``"bayesian"`` only).

        Returns
        -------
        pandas.DataFrame
            One row per model other than the best, in the order of
            :meth:`summary` (best first), indexed by ``model``. Columns:
            ``best`` (the best model's name), ``mean_difference`` (best -
            model) and, for the frequentist methods, ``statistic``,
            ``pvalue`` and ``pvalue_holm`` (Holm-adjusted over the rows,
            :func:`gridfold.stats.holm`); for ``"bayesian"``,
            ``p_best_better``, ``p_equivalent`` and ``p_model_better``
            (no adjustment). A model with failed fits (NaN scores) gets NaN
            and is left out of the Holm family.
        """
        column = self._metric_column(metric)
        _check_method(method)
        order = list(self.summary(metric).index)
        best = order[0]
        bayesian = method == "bayesian"
        names = (
            ["p_best_better", "p_equivalent", "p_model_better"]
            if bayesian
            else ["statistic", "pvalue"]
        )
        rows: list[dict[str, Any]] = []
        for model in order[1:]:
            row: dict[str, Any] = {"model": model, "best": best}
            if (
                np.isnan(self._split_scores(best, column)).any()
                or np.isnan(self._split_scores(model, column)).any()
            ):
                row.update(dict.fromkeys(["mean_difference", *names], np.nan))
            else:
                result = asdict(self.test(best, model, metric=metric, method=method, rope=rope))
                if bayesian:
                    result["p_best_better"] = result.pop("p_a_better")
                    result["p_model_better"] = result.pop("p_b_better")
                row.update({k: result[k] for k in ["mean_difference", *names]})
            rows.append(row)
        table = pd.DataFrame(rows, columns=["model", "best", "mean_difference", *names])
        if not bayesian:
            table["pvalue_holm"] = stats.holm(table["pvalue"].to_numpy(dtype=float))
        return table.set_index("model")

    def to_frame(self) -> pd.DataFrame:
        """The per-split scores as a tidy table: one row per (model, split).

        ``compare()`` evaluates each model once (one candidate), so a row is
        one fit: ``model``, ``split``, ``repeat``, ``fold``, ``test_<metric>``
        (and ``train_<metric>``), ``fit_time``, ``score_time``, ``fit_error``.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`scores`, models in the order given, splits in order.
        """
        order = {name: i for i, name in enumerate(self.scores["model"].unique())}
        frame = self.scores.sort_values(
            ["model", "split"], key=lambda c: c.map(order) if c.name == "model" else c
        )
        return frame.reset_index(drop=True)

    def plot_scores(self, metric: str | None = None) -> Figure:
        """Each model's test score on each split, the splits joined across models.

        :func:`gridfold.report.plot_fold_scores`, models best first (by mean).

        Parameters
        ----------
        metric : str, default=None
            One of :attr:`metrics`; default the first.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from gridfold.report.plots import plot_fold_scores

        column = self._metric_column(metric)
        table = self.scores.pivot(index="split", columns="model", values=column)
        order = list(self.summary(column[len("test_") :]).index)
        return plot_fold_scores(table[order], metric=column[len("test_") :])

    def plot_times(self) -> Figure:
        """Seconds each model spent fitting and scoring, summed over its splits.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`gridfold.report.plot_times`.
        """
        from gridfold.report.plots import plot_times

        sums = self.scores.groupby("model", sort=False)[["fit_time", "score_time"]].sum()
        return plot_times(sums["fit_time"].to_dict(), sums["score_time"].to_dict())

    def _metric_column(self, metric: str | None) -> str:
        metric = self.metrics[0] if metric is None else metric
        if metric not in self.metrics:
            raise ParameterError(
                f"Unknown metric {metric!r}; this result has {self.metrics}. "
                "Fix: pass one of those (the scorer names given to compare())."
            )
        return f"test_{metric}"

    def _check_model(self, name: str) -> None:
        known = list(self.scores["model"].unique())
        if name not in known:
            raise ParameterError(
                f"Unknown model {name!r}; this result has {known}. "
                "Fix: use a name as compare() reported it (see result.summary().index)."
            )

    def _split_scores(self, model: str, column: str) -> np.ndarray:
        rows = self.scores[self.scores["model"] == model].sort_values("split")
        return rows[column].to_numpy(dtype=float)

    def _scores_to_test(self, model: str, column: str) -> np.ndarray:
        scores = self._split_scores(model, column)
        failed = np.flatnonzero(np.isnan(scores))
        if failed.size:
            raise ParameterError(
                f"Model {model!r} has no {column} on splits {failed.tolist()} (its fits "
                "failed, see the FitFailedWarning); a paired test needs a score on every "
                "split. Fix: find why they failed (error_score='raise') and rerun."
            )
        return scores

    def _check_five_by_two(self, method: str) -> None:
        halves = all(abs(n_train - n_test) <= 1 for n_train, n_test in self.split_sizes)
        if self.n_splits != 10 or not halves:
            shape = "" if halves else ", not all of them halves of the data"
            raise ParameterError(
                f"method={method!r} needs the 10 half/half splits of gridfold.FiveByTwo "
                f"(5 repetitions of 2-fold); this result has {self.n_splits} splits{shape}. "
                "Fix: compare(..., cv=gridfold.FiveByTwo(random_state=0)), or use "
                "method='corrected' for these splits."
            )

    def _mean_split_sizes(self, method: str) -> tuple[float, float]:
        if not self.split_sizes:
            raise ParameterError(
                f"method={method!r} needs the train/test sizes of the splits, and this "
                "CompareResult records none (split_sizes is empty). Fix: use the result of "
                "compare(), or call gridfold.stats with n_train and n_test yourself."
            )
        sizes = np.asarray(self.split_sizes, dtype=float)
        return float(sizes[:, 0].mean()), float(sizes[:, 1].mean())


@dataclass(frozen=True)
class MultiCompareResult:
    """Per-fold scores of several estimators on several data sets, from one call.

    Every model ran on every data set with the same splitter settings (the
    ``cv`` argument resolved per data set). Across data sets, the models are
    compared by their mean test score on each (Demšar, 2006).

    Attributes
    ----------
    results : dict of str -> CompareResult
        One :class:`CompareResult` per data set, in the order given.
    """

    results: dict[str, CompareResult]

    @property
    def metrics(self) -> list[str]:
        """Scorer names, the same for every data set."""
        return next(iter(self.results.values())).metrics

    def summary(self, metric: str | None = None) -> pd.DataFrame:
        """Each data set's :meth:`CompareResult.summary`, stacked.

        Parameters
        ----------
        metric : str, default=None
            Sort each data set's rows by this metric's mean (default: the first).

        Returns
        -------
        pandas.DataFrame
            One row per (data set, model), indexed by ``dataset`` and
            ``model``; data sets in the order given, models best first within
            each; columns as in :meth:`CompareResult.summary`.
        """
        self._metric(metric)
        tables = {name: r.summary(metric) for name, r in self.results.items()}
        return pd.concat(tables, names=["dataset", "model"])

    def scores_table(self, metric: str | None = None) -> pd.DataFrame:
        """Mean test score of each model on each data set.

        Parameters
        ----------
        metric : str, default=None
            One of :attr:`metrics`; default the first.

        Returns
        -------
        pandas.DataFrame
            One row per data set (index ``dataset``), one column per model
            (in the order given to :func:`compare`): the table
            :func:`gridfold.stats.friedman` and :func:`gridfold.stats.nemenyi`
            take. A model with failed fits has NaN there.
        """
        column = f"test_{self._metric(metric)}"
        rows = {}
        for name, result in self.results.items():
            grouped = result.scores.groupby("model", sort=False)[column]
            rows[name] = grouped.agg(lambda s: np.mean(s.to_numpy()))
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "dataset"
        table.columns.name = None
        return table

    def friedman(self, metric: str | None = None) -> stats.FriedmanResult:
        """Friedman's test of the models over the data sets.

        :func:`gridfold.stats.friedman` on :meth:`scores_table` (needs at
        least 2 data sets and 3 models; see its notes for when not to use it).

        Parameters
        ----------
        metric : str, default=None
            One of :attr:`metrics`; default the first.

        Returns
        -------
        FriedmanResult
        """
        return stats.friedman(self.scores_table(metric))

    def nemenyi(self, metric: str | None = None, alpha: float = 0.05) -> stats.NemenyiResult:
        """The Nemenyi test of every pair of models over the data sets.

        :func:`gridfold.stats.nemenyi` on :meth:`scores_table`; run it after
        :meth:`friedman` rejects.

        Parameters
        ----------
        metric : str, default=None
            One of :attr:`metrics`; default the first.
        alpha : float, default=0.05
            Level of the critical difference.

        Returns
        -------
        NemenyiResult
        """
        return stats.nemenyi(self.scores_table(metric), alpha=alpha)

    def plot_critical_difference(self, metric: str | None = None, alpha: float = 0.05) -> Figure:
        """Demšar's critical-difference diagram of :meth:`nemenyi` at level ``alpha``.

        Parameters
        ----------
        metric : str, default=None
            One of :attr:`metrics`; default the first.
        alpha : float, default=0.05

        Returns
        -------
        matplotlib.figure.Figure
            :func:`gridfold.report.plot_critical_difference`.
        """
        from gridfold.report.plots import plot_critical_difference

        result = self.nemenyi(metric, alpha=alpha)
        return plot_critical_difference(
            result.ranks,
            result.critical_difference,
            title=f"Average rank over {len(self.results)} data sets (Nemenyi, alpha {alpha:g})",
        )

    def _metric(self, metric: str | None) -> str:
        metric = self.metrics[0] if metric is None else metric
        if metric not in self.metrics:
            raise ParameterError(
                f"Unknown metric {metric!r}; this result has {self.metrics}. "
                "Fix: pass one of those (the scorer names given to compare())."
            )
        return metric


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ParameterError(
            f"Unknown method {method!r}; expected one of {list(_METHODS)}. Fix: 'corrected' "
            "for k-fold splits, '5x2cv_f' for FiveByTwo splits."
        )


@overload
def compare(
    estimators: Mapping[str, Any] | Sequence[Any],
    X: Any,
    y: Any = None,
    *,
    datasets: None = None,
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
) -> CompareResult: ...


@overload
def compare(
    estimators: Mapping[str, Any] | Sequence[Any],
    X: None = None,
    y: None = None,
    *,
    datasets: Mapping[str, tuple[Any, Any]],
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
) -> MultiCompareResult: ...


def compare(
    estimators: Mapping[str, Any] | Sequence[Any],
    X: Any = None,
    y: Any = None,
    *,
    datasets: Mapping[str, tuple[Any, Any]] | None = None,
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
) -> CompareResult | MultiCompareResult:
    """Evaluate several estimators on the same cross-validation splits, in one pool.

    Each estimator's per-split scores equal those of
    :func:`sklearn.model_selection.cross_validate` with the same ``cv`` and
    ``scoring``. An estimator may itself be a search (nested cross-validation).

    Parameters
    ----------
    estimators : dict of str -> estimator, or list of estimators or (name, estimator)
        The algorithms to compare. Unnamed estimators are named by class.
    X : array-like of shape (n_samples, n_features), default=None
        The data; required unless ``datasets`` is given.
    y : array-like of shape (n_samples,), default=None
    datasets : dict of str -> (X, y), default=None
        Several data sets instead of ``X`` and ``y``: every estimator runs
        on every data set with the same settings, ``cv`` resolved per data
        set with that data set's ``y`` (so ``cv=5`` is stratified for
        classifiers on each). The data sets run one after another on one
        executor (one pool for the whole call). Returns a
        :class:`MultiCompareResult`, whose ``friedman()`` and ``nemenyi()``
        compare the models across the data sets.
    groups : array-like of shape (n_samples,), default=None
        Group labels for group-aware splitters (not with ``datasets``).
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
    CompareResult or MultiCompareResult
        A :class:`MultiCompareResult` when ``datasets`` is given.

    Raises
    ------
    ParameterError
        For bad options, or ``datasets`` given with ``X``, ``y`` or
        ``groups``, empty, or with a value that is not an ``(X, y)`` pair.
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
    data = _check_datasets(datasets, X, y, groups)
    settings = _Settings(cv, scoring, dict(fit_params or {}), return_train_score, error_score)
    prepared = {name: _prepare(named, X_, y_, groups, settings) for name, (X_, y_) in data.items()}
    results: dict[str, CompareResult] = {}
    with Session(execution) as session:  # one executor for every data set
        for name, (study, n_repeats) in prepared.items():
            label = "compare" if datasets is None else f"compare[{name}]"
            run = session.run(study, label=label)
            per_model = results_by_model(study, run.results)
            results[name] = _to_result(study, per_model, n_repeats, error_score)
    if datasets is None:
        return results[_SINGLE]
    return MultiCompareResult(results)


_SINGLE = ""  # the one data set's key when compare() got X and y


@dataclass(frozen=True)
class _Settings:
    """The options of :func:`compare` that shape each data set's study."""

    cv: Any
    scoring: Any
    fit_params: dict[str, Any]
    return_train_score: bool
    error_score: float | str


def _check_datasets(
    datasets: Mapping[str, tuple[Any, Any]] | None, X: Any, y: Any, groups: Any
) -> dict[str, tuple[Any, Any]]:
    if datasets is None:
        if X is None:
            raise ParameterError(
                "compare() got no data: X is None and no datasets were given. "
                "Fix: compare(estimators, X, y) or compare(estimators, datasets={'name': (X, y)})."
            )
        return {_SINGLE: (X, y)}
    given = [name for name, value in (("X", X), ("y", y), ("groups", groups)) if value is not None]
    if given:
        raise ParameterError(
            f"compare() got both datasets= and {', '.join(given)}; they exclude each other. "
            "Fix: put every data set in datasets={'name': (X, y)} and leave X, y and groups out."
        )
    if not isinstance(datasets, Mapping) or not datasets:
        raise ParameterError(
            f"datasets must be a non-empty dict {{name: (X, y)}}; got {_describe(datasets)}. "
            "Fix: e.g. datasets={'iris': load_iris(return_X_y=True)}."
        )
    for name, value in datasets.items():
        if not isinstance(name, str) or not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ParameterError(
                f"datasets[{name!r}] must be an (X, y) pair under a str name; got a "
                f"{_describe(value)}. Fix: datasets={{'name': (X, y)}}."
            )
    return {name: (X_, y_) for name, (X_, y_) in datasets.items()}


def _describe(value: Any) -> str:
    """A short description of a bad argument (no array reprs in messages)."""
    if isinstance(value, (tuple, list, Mapping)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


def _prepare(
    named: list[tuple[str, Any]], X: Any, y: Any, groups: Any, settings: _Settings
) -> tuple[Study, int]:
    """One data set's study and the number of repeats of its splitter."""
    first = named[0][1]
    X, y = check_data(X, y, first, settings.fit_params)
    fit_params = _sklearn.check_method_params(X, params=settings.fit_params)
    classifier = all(is_classifier(est) for _, est in named)
    splitter = check_cv(settings.cv, y, classifier=classifier)
    splits = tuple(splitter.split(X, y, groups))
    raise_exc = settings.error_score == "raise"
    models = tuple(
        Model(name, clone(est), ({},), check_scoring(est, settings.scoring, raise_exc=raise_exc))
        for name, est in named
    )
    study = Study(
        models=models,
        data=StudyData(X, y, splits, fit_params, {}),
        return_train_score=settings.return_train_score,
        error_score=settings.error_score,
    )
    return study, int(getattr(splitter, "n_repeats", 1))


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
    sizes = tuple((len(train), len(test)) for train, test in study.data.splits)
    return CompareResult(pd.DataFrame(rows), metrics, study.n_splits, sizes)


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
