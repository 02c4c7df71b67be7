"""A study file with ``[run] nested = true``: nested cross-validation of every model.

Each ``[[model]]`` becomes the search it describes (grid, random, or one
candidate: a grid of its fixed params), with the ``[cv]`` table as the
search's inner splits, and runs through :func:`gridfold.nested_cv` with the
``[outer_cv]`` table's splits. The outer splits are drawn once, on the whole
data, and every model gets the same ones: the models are then compared fold
by fold on the outer test scores with the corrected t-test
(:func:`gridfold.stats.corrected_ttest`, ``n_train`` and ``n_test`` the outer
splits' mean sizes), every model against the best, Holm-adjusted, as
:func:`gridfold.verdict.verdict` does for a plain study.

Unlike a plain study's verdict, the best model here is not scored on the
scores it was tuned on: each outer fold's candidate was chosen on that fold's
inner splits only, so the outer scores carry no selection optimism.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from sklearn.base import is_classifier

from gridfold.comparison import CompareResult
from gridfold.config import ModelConfig, StudyConfig
from gridfold.exceptions import GridfoldError
from gridfold.executors import resolve_n_jobs
from gridfold.leaderboard import _jsonable, format_params
from gridfold.lifecycle import Execution
from gridfold.nested import NestedResult, nested_cv
from gridfold.runner import prepare
from gridfold.store.base import ResultStore
from gridfold.store.memory import MemoryStore
from gridfold.store.views import CountingStore, StoredOnly
from gridfold.verdict import ContenderTest, Verdict, _decide

__all__ = [
    "NestedModel",
    "NestedOutcome",
    "nested_from_store",
    "nested_verdict",
    "run_nested",
    "nested_json",
    "render_nested",
    "search_of",
    "verdict_lines",
]

#: Level of the Holm-adjusted p-values, as the plain verdict's.
ALPHA = 0.05


@dataclass(frozen=True)
class NestedModel:
    """One model's nested cross-validation.

    Attributes
    ----------
    name : str
    search : {"grid", "random", "none"}
        As the study file gave it.
    n_candidates : int
        Candidates of the inner search.
    result : NestedResult or None
        None when every outer fold failed (``error`` says why).
    error : str or None
    """

    name: str
    search: str
    n_candidates: int
    result: NestedResult | None
    error: str | None = None


@dataclass(frozen=True)
class NestedOutcome:
    """What :func:`run_nested` and :func:`nested_from_store` return.

    Attributes
    ----------
    config : StudyConfig
    models : tuple of NestedModel
        In the study file's order.
    metric_labels : dict
        Display name of each metric key of the results (``"score"`` becomes
        the scorer's name where the study names one).
    refit_metric : str
        The metric key the inner searches chose by and the verdict tests.
    dataset : str
    outer_splitter, inner_splitter : str
        The splitters, as ``repr``.
    split_sizes : tuple of (int, int)
        ``(n_train, n_test)`` of each outer split.
    n_fits_run : int
        Fits this call ran; 0 when every fit came from the store.
    n_workers : int
    backend : str
    wall_time : float
    """

    config: StudyConfig
    models: tuple[NestedModel, ...]
    metric_labels: dict[str, str]
    refit_metric: str
    dataset: str
    outer_splitter: str
    inner_splitter: str
    split_sizes: tuple[tuple[int, int], ...]
    n_fits_run: int
    n_workers: int
    backend: str
    wall_time: float

    @property
    def n_outer(self) -> int:
        """Number of outer folds."""
        return len(self.split_sizes)

    @property
    def label(self) -> str:
        """The display name of the refit metric."""
        return self.metric_labels.get(self.refit_metric, self.refit_metric)

    @property
    def n_fits(self) -> int:
        """Outer folds over all models (the CLI's exit code compares it to :attr:`n_failed`)."""
        return self.n_outer * len(self.models)

    @property
    def n_failed(self) -> int:
        """Outer folds without a score, over all models."""
        return sum(
            self.n_outer if m.result is None else int(np.isnan(m.result.test_score).sum())
            for m in self.models
        )

    def fold_scores(self) -> CompareResult:
        """Every model's outer test scores as a :class:`CompareResult` (failed models left out).

        Returns
        -------
        CompareResult
            ``scores`` has ``model``, ``split`` (the outer fold), one
            ``test_<label>`` column per metric and the outer refit's
            ``fit_time`` and ``score_time``; ``split_sizes`` are the outer
            splits' sizes, which :meth:`CompareResult.test` corrects with.
        """
        rows = []
        for m in self.models:
            if m.result is None:
                continue
            for _, fold in m.result.scores.iterrows():
                row = {"model": m.name, "split": int(fold["fold"])}
                for key in m.result.metrics:
                    row[f"test_{self.metric_labels.get(key, key)}"] = float(fold[f"test_{key}"])
                # The outer refit's times (CompareResult.summary reports them).
                row.update(fit_time=fold["fit_time"], score_time=fold["score_time"])
                rows.append(row)
        labels = [self.metric_labels.get(k, k) for k in self._metric_keys()]
        return CompareResult(pd.DataFrame(rows), labels, self.n_outer, self.split_sizes)

    def _metric_keys(self) -> list[str]:
        done = [m.result for m in self.models if m.result is not None]
        return list(done[0].metrics) if done else [self.refit_metric]


def search_of(mc: ModelConfig, cfg: StudyConfig, inner_cv: Any, share: bool = True) -> Any:
    """The search a ``[[model]]`` table describes, with ``inner_cv`` as its cv.

    Parameters
    ----------
    mc : ModelConfig
    cfg : StudyConfig
        For ``[run]``'s scoring, refit, error_score and return_train_score.
    inner_cv : cross-validator
        The ``[cv]`` table's splitter.
    share : bool, default=True
        The search's ``share`` (``gridfold run --no-share`` turns it off).

    Returns
    -------
    gridfold.GridSearchCV or gridfold.RandomizedSearchCV
        A model without grid or distributions is a grid search of one
        candidate (its fixed params): nested CV is then plain CV of that model.
    """
    from gridfold.search import GridSearchCV, RandomizedSearchCV

    scoring = list(cfg.run.scoring) if isinstance(cfg.run.scoring, tuple) else cfg.run.scoring
    common: dict[str, Any] = dict(
        scoring=scoring,
        refit=cfg.run.refit_metric if isinstance(cfg.run.scoring, tuple) else True,
        cv=inner_cv,
        error_score=cfg.run.error_score,
        return_train_score=cfg.run.return_train_score,
        share=share,
    )
    if mc.search == "random":
        return RandomizedSearchCV(
            mc.estimator,
            list(mc.space),
            n_iter=mc.n_iter,
            random_state=mc.random_state,
            **common,
        )
    return GridSearchCV(mc.estimator, list(mc.space) if mc.space else {}, **common)


def run_nested(
    cfg: StudyConfig,
    *,
    n_jobs: int | None = None,
    backend: str | None = None,
    store: ResultStore | None = None,
    progress: bool = False,
    share: bool = True,
    retries: int = 1,
    fit_timeout: float | None = None,
    scheduler: Any = None,
) -> NestedOutcome:
    """Nested cross-validation of every model of a ``[run] nested = true`` study.

    Parameters
    ----------
    cfg : StudyConfig
        A study with ``run.nested`` (its ``outer_cv`` set).
    n_jobs, backend : default=None
        Override ``[run] n_jobs`` and ``backend``.
    store : ResultStore, default=None
        Where every fit is kept; a rerun with the same store fits nothing new.
    progress : bool, default=False
        A progress bar per model (stderr).
    share : bool, default=True
        Let one fit answer several candidates where that is exact.
    retries, fit_timeout : default=1, None
        As :func:`gridfold.nested_cv`'s.
    scheduler : str or distributed.Client, default=None
        A Dask cluster to run on; overrides ``[run] scheduler``.

    Returns
    -------
    NestedOutcome

    Raises
    ------
    ConfigError, DataError, ParameterError
        Before any fit, for data or models that do not fit (located in the
        study file, as :func:`gridfold.runner.prepare` reports them).
    """
    counting = CountingStore(store if store is not None else MemoryStore())
    return _run(
        cfg,
        n_jobs=n_jobs if n_jobs is not None else cfg.run.n_jobs,
        backend=backend or cfg.run.backend,
        store=counting,
        progress=progress,
        share=share,
        counted=counting,
        options={
            "retries": retries,
            "fit_timeout": fit_timeout,
            "scheduler": scheduler or cfg.run.scheduler,
        },
    )


def nested_from_store(cfg: StudyConfig, store: ResultStore, study: str) -> NestedOutcome:
    """The outcome of a finished nested study, read from ``store`` without fitting.

    Parameters
    ----------
    cfg : StudyConfig
    store : ResultStore
    study : str
        The study file as the user named it, for the fix in the error.

    Returns
    -------
    NestedOutcome

    Raises
    ------
    StoreError
        Before any fit, when the store lacks a fit of some model.
    """
    fix = f"run `gridfold run {study}` to finish them (it skips stored fits)"
    reader = StoredOnly(store, f"nested cross-validation of {cfg.file}", fix)
    return _run(cfg, n_jobs=1, backend="sequential", store=reader, progress=False, share=True)


def _run(
    cfg: StudyConfig,
    *,
    n_jobs: int | None,
    backend: str | None,
    store: ResultStore,
    progress: bool,
    share: bool,
    counted: CountingStore | None = None,
    options: dict[str, Any] | None = None,
) -> NestedOutcome:
    """Every model's nested CV; ``options``: more of :func:`nested_cv`'s execution options."""
    assert cfg.outer_cv is not None, "run_nested needs a study with [run] nested = true"
    prepared = prepare(cfg)  # every model checked against the data before any fit
    data = prepared.study.data
    X, y, groups = data.X, data.y, prepared.dataset.groups
    classifier = all(is_classifier(mc.estimator) for mc in cfg.models)
    outer = cfg.outer_cv.make(y, classifier)
    # Drawn once: every model's outer folds are the same rows, so they can be paired.
    outer_splits = list(outer.split(X, y, groups))
    start = time.perf_counter()
    models = []
    for mc, model in zip(cfg.models, prepared.study.models, strict=True):
        search = search_of(mc, cfg, cfg.cv.make(y, is_classifier(mc.estimator)), share)
        n_candidates = len(model.candidates)
        try:
            result: NestedResult | None = nested_cv(
                search,
                X,
                y,
                outer_cv=outer_splits,
                groups=groups,
                n_jobs=n_jobs,
                backend=backend,
                store=store,
                progress=progress,
                label=f"nested:{mc.name}",
                **(options or {}),
            )
            error = None
        except ValueError as exc:
            if isinstance(exc, GridfoldError):
                # Bad input nested_cv finds before this model's first fit (a [cv] that cannot
                # split an outer training part, say): ParameterError is a ValueError too, but
                # it is not "every outer fold failed". The CLI's one line and exit 2.
                raise type(exc)(f"{cfg.file}: model {mc.name!r}: {exc}") from None
            if cfg.run.error_score == "raise":  # the fit's own error, as asked
                raise
            # Every outer fold failed (nested_cv raises, as cross_validate): the others still count.
            result, error = None, _why_all_failed(str(exc))
        models.append(NestedModel(mc.name, mc.search, n_candidates, result, error))
    labels = {k: k for k in cfg.run.metrics}
    if isinstance(cfg.run.scoring, str):
        labels = {"score": cfg.run.scoring}
    # What nested_cv ran on (it does not say): the same resolution its Execution makes.
    scheduler = (options or {}).get("scheduler")
    execution = Execution(n_jobs=n_jobs, backend=backend, scheduler=scheduler).checked()
    return NestedOutcome(
        config=cfg,
        models=tuple(models),
        metric_labels=labels,
        refit_metric=cfg.run.refit_metric,
        dataset=prepared.dataset.description,
        outer_splitter=repr(outer),
        inner_splitter=repr(prepared.splitter),
        split_sizes=tuple((len(train), len(test)) for train, test in outer_splits),
        n_fits_run=0 if counted is None else counted.n_written,
        n_workers=resolve_n_jobs(n_jobs if n_jobs is not None else 1),
        backend=str(execution.backend),
        wall_time=time.perf_counter() - start,
    )


def _why_all_failed(message: str) -> str:
    """One line from scikit-learn's "All the N fits failed" message: that, and the error."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    # The innermost traceback's last line names the fit's own error.
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): \S", line)]
    head = lines[0] if lines else "every fit failed"
    return f"{head} ({errors[-1]})" if errors else head


def nested_verdict(outcome: NestedOutcome, alpha: float = ALPHA) -> Verdict:
    """The best model by mean outer score against every other, on the outer folds.

    :meth:`CompareResult.pairwise` (corrected t-test, Holm-adjusted) on
    :meth:`NestedOutcome.fold_scores`. A model with a failed outer fold, or
    with none at all, gets a note instead of a test.

    Parameters
    ----------
    outcome : NestedOutcome
    alpha : float, default=0.05

    Returns
    -------
    Verdict
        ``n_splits`` is the number of outer folds; ``n_train`` and
        ``n_test`` the outer splits' mean sizes.
    """
    label = outcome.label
    sizes = np.asarray(outcome.split_sizes, dtype=float)
    n_train, n_test = float(sizes[:, 0].mean()), float(sizes[:, 1].mean())
    notes = [
        f"{m.name}: not tested: every outer fold failed ({m.error})"
        for m in outcome.models
        if m.result is None
    ]
    scores = outcome.fold_scores()
    names = list(dict.fromkeys(scores.scores["model"])) if len(scores.scores) else []
    if len(names) < 2:
        best = names[0] if names else None
        return Verdict(label, best, (), tuple(notes), alpha, outcome.n_outer, n_train, n_test)
    table = scores.pairwise(metric=label)
    best = str(table["best"].iloc[0])
    tests = []
    frame = scores.scores
    failed = set(frame.loc[frame[f"test_{label}"].isna(), "model"])
    for name, row in table.iterrows():
        if name in failed or best in failed:
            notes.append(f"{name}: not tested: an outer fold failed (no score to pair)")
            continue
        p_holm = float(row["pvalue_holm"])
        tests.append(
            ContenderTest(
                a=best,
                b=str(name),
                mean_difference=float(row["mean_difference"]),
                statistic=float(row["statistic"]),
                pvalue=float(row["pvalue"]),
                pvalue_holm=p_holm,
                verdict=_decide(best, str(name), float(row["mean_difference"]), p_holm, alpha),
                n_splits=outcome.n_outer,
            )
        )
    return Verdict(label, best, tuple(tests), tuple(notes), alpha, outcome.n_outer, n_train, n_test)


def verdict_lines(found: Verdict) -> list[str]:
    """The verdict for the terminal: a header for nested CV, one line per test, the notes.

    Parameters
    ----------
    found : Verdict
        From :func:`nested_verdict`.

    Returns
    -------
    list of str
    """
    lines = found.lines()  # Verdict's tests and notes, under a header for nested CV
    if found.tests:
        n = len(found.tests)
        lines[0] = (
            f"Verdict: {found.best} against each other model on the {found.n_splits} outer "
            f"folds, by outer test {found.metric} (corrected t-test, p Holm-adjusted over {n} "
            f"test{'s' * (n != 1)}, alpha {found.alpha:g}):"
        )
    return lines


def render_nested(outcome: NestedOutcome) -> list[Table]:
    """Rich tables: each model's outer folds, then the models side by side, best first.

    Parameters
    ----------
    outcome : NestedOutcome

    Returns
    -------
    list of rich.table.Table
    """
    tables = [_folds_table(outcome, m) for m in outcome.models if m.result is not None]
    summary = Table(
        title=f"Nested CV: {outcome.n_outer} outer folds, best first",
        title_justify="left",
    )
    summary.add_column("model", style="bold")
    summary.add_column("search")
    keys = outcome.fold_scores().metrics
    for label in keys:
        summary.add_column(f"{label} (mean ± std)", justify="right")
    for m in _best_first(outcome):
        plural = "s" * (m.n_candidates != 1)
        cells = [m.name, f"{m.search}, {m.n_candidates} candidate{plural}"]
        if m.result is None:
            cells += ["failed"] * len(keys)
        else:
            table = m.result.summary()
            for key in m.result.metrics:
                mean, std = table.loc[f"test_{key}", "mean"], table.loc[f"test_{key}", "std"]
                cells.append("failed" if math.isnan(mean) else f"{mean:.4f} ± {std:.4f}")
        summary.add_row(*cells)
    return [*tables, summary]


def _best_first(outcome: NestedOutcome) -> list[NestedModel]:
    def mean(m: NestedModel) -> float:
        if m.result is None:
            return -math.inf
        value = float(np.mean(m.result.test_score))
        return -math.inf if math.isnan(value) else value

    return sorted(outcome.models, key=mean, reverse=True)  # stable: ties keep file order


def _folds_table(outcome: NestedOutcome, m: NestedModel) -> Table:
    assert m.result is not None
    table = Table(
        title=f"{m.name}: per outer fold",
        title_justify="left",
    )
    table.add_column("fold", justify="right")
    for key in m.result.metrics:
        table.add_column(f"test {outcome.metric_labels.get(key, key)}", justify="right")
    table.add_column("inner best", justify="right")
    table.add_column("params", overflow="fold")
    for o, (_, row) in enumerate(m.result.scores.iterrows()):
        cells = [str(int(row["fold"]))]
        for key in m.result.metrics:
            value = float(row[f"test_{key}"])
            cells.append("failed" if math.isnan(value) else f"{value:.4f}")
        best = float(row["best_score"])
        cells.append("-" if math.isnan(best) else f"{best:.4f}")
        cells.append(format_params(m.result.best_params[o] or {}))
        table.add_row(*cells)
    return table


def nested_json(outcome: NestedOutcome, found: Verdict) -> dict[str, Any]:
    """What ``gridfold run --json`` prints for a nested study.

    Parameters
    ----------
    outcome : NestedOutcome
    found : Verdict
        From :func:`nested_verdict`.

    Returns
    -------
    dict
        ``study``, ``mode`` (``"nested"``), ``dataset``, ``metric``,
        ``outer_cv``, ``inner_cv``, ``n_outer_folds``, ``models`` (best
        first: ``name``, ``search``, ``n_candidates``, ``mean`` and ``std``
        of the ranking metric's outer test scores, ``metrics`` (each
        metric's mean and std), ``folds`` (per outer fold: ``fold``,
        ``test_scores``, ``inner_best_score``, ``params``), ``error``),
        ``verdict`` (as :meth:`Verdict.to_dict`) and ``n_fits_run``. NaN
        becomes None.
    """
    models = []
    for m in _best_first(outcome):
        record: dict[str, Any] = {
            "name": m.name,
            "search": m.search,
            "n_candidates": m.n_candidates,
            "mean": None,
            "std": None,
            "metrics": {},
            "folds": [],
            "error": m.error,
        }
        if m.result is not None:
            summary = m.result.summary()
            for key in m.result.metrics:
                label = outcome.metric_labels.get(key, key)
                record["metrics"][label] = {
                    "mean": _jsonable(summary.loc[f"test_{key}", "mean"]),
                    "std": _jsonable(summary.loc[f"test_{key}", "std"]),
                }
            record.update(record["metrics"][outcome.label])
            record["folds"] = [
                {
                    "fold": int(row["fold"]),
                    "test_scores": {
                        outcome.metric_labels.get(k, k): _jsonable(row[f"test_{k}"])
                        for k in m.result.metrics
                    },
                    "inner_best_score": _jsonable(row["best_score"]),
                    "params": _jsonable(m.result.best_params[o]),
                }
                for o, (_, row) in enumerate(m.result.scores.iterrows())
            ]
        models.append(record)
    return {
        "study": str(outcome.config.file),
        "mode": "nested",
        "dataset": outcome.dataset,
        "metric": outcome.label,
        "outer_cv": outcome.outer_splitter,
        "inner_cv": outcome.inner_splitter,
        "n_outer_folds": outcome.n_outer,
        "models": models,
        "verdict": found.to_dict(),
        "n_fits_run": outcome.n_fits_run,
    }
