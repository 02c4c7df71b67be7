"""A study file with ``[[data]]`` tables: every model on every data set, compared across them.

Each data set is a plain study of its own, as ``gridfold run`` runs one
``[data]`` table: the same models, the ``[cv]`` table resolved on that data
set's target (as :func:`gridfold.compare` resolves ``cv`` per data set), the
same ``[run]`` options. All of them run on one executor and one store, one
after the other, each under its own label (``<file>[<name>]``), so a rerun
fits nothing new and ``gridfold results`` reads them back.

Across data sets the models are compared as Demšar (2006) advises: each
model's best candidate per data set (the one its search would choose, by
mean test score of the ranking metric) gives one score per data set, and
:meth:`gridfold.MultiCompareResult.friedman` and
:meth:`~gridfold.MultiCompareResult.nemenyi` rank the models over the data
sets. The best candidate is chosen and scored on the same splits, so each
score is slightly optimistic; the ranks suffer much less from it than the
scores, as every model is chosen the same way.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from gridfold.comparison import MultiCompareResult
from gridfold.config import StudyConfig
from gridfold.exceptions import GridfoldError, ParameterError, StoreError
from gridfold.leaderboard import best_records, render_best
from gridfold.lifecycle import Execution, Session
from gridfold.runner import PreparedStudy, StudyOutcome, make_outcome, prepare, stored_results
from gridfold.stats import FriedmanResult, NemenyiResult
from gridfold.store.base import ResultStore
from gridfold.store.memory import MemoryStore
from gridfold.store.views import CountingStore
from gridfold.verdict import best_comparison, format_pvalue

__all__ = [
    "DatasetsOutcome",
    "datasets_from_store",
    "datasets_json",
    "prepare_datasets",
    "render_datasets",
    "run_datasets",
]

#: Level of the Nemenyi critical difference.
ALPHA = 0.05


@dataclass(frozen=True)
class DatasetsOutcome:
    """What :func:`run_datasets` and :func:`datasets_from_store` return.

    Attributes
    ----------
    config : StudyConfig
    outcomes : dict of str -> StudyOutcome
        One per ``[[data]]`` table, by name, in the file's order.
    n_fits_run : int
        Fits this call ran (0 when the store held every one).
    n_workers : int
    backend : str
    wall_time : float
    """

    config: StudyConfig
    outcomes: dict[str, StudyOutcome]
    n_fits_run: int
    n_workers: int
    backend: str
    wall_time: float

    @property
    def n_fits(self) -> int:
        """Fits over every data set."""
        return sum(o.n_fits for o in self.outcomes.values())

    @property
    def n_failed(self) -> int:
        """Failed fits over every data set."""
        return sum(o.n_failed for o in self.outcomes.values())

    @property
    def label(self) -> str:
        """The ranking metric's display name."""
        first = next(iter(self.outcomes.values()))
        return first.metric_labels.get(first.refit_metric, first.refit_metric)

    def comparison(self) -> MultiCompareResult:
        """Each model's best candidate per data set, for the tests across data sets.

        Returns
        -------
        MultiCompareResult
            One :class:`~gridfold.CompareResult` per data set, of the
            ranking metric only, models in the study file's order.
        """
        order = {m.name: i for i, m in enumerate(self.config.models)}
        results = {}
        for name, o in self.outcomes.items():
            best = best_comparison(o)
            # The study file's model order, on every data set: the tables' columns keep it.
            rows = best.scores.sort_values("model", key=lambda s: s.map(order), kind="stable")
            results[name] = dataclasses.replace(best, scores=rows.reset_index(drop=True))
        return MultiCompareResult(results)

    def friedman(self) -> FriedmanResult | str:
        """:meth:`MultiCompareResult.friedman`, or why it cannot run (a note)."""
        try:
            return self.comparison().friedman()
        except ParameterError as exc:
            return _not_run("Friedman test", exc)

    def nemenyi(self, alpha: float = ALPHA) -> NemenyiResult | str:
        """:meth:`MultiCompareResult.nemenyi`, or why it cannot run (a note)."""
        try:
            return self.comparison().nemenyi(alpha=alpha)
        except ParameterError as exc:
            return _not_run("Nemenyi test", exc)


def _not_run(test: str, exc: ParameterError) -> str:
    reason = str(exc).split(". Fix")[0]
    return f"no {test}: {reason}"


def prepare_datasets(cfg: StudyConfig) -> dict[str, PreparedStudy]:
    """Each ``[[data]]`` table's study: data loaded, splits drawn, models checked.

    Parameters
    ----------
    cfg : StudyConfig
        A study with ``[[data]]`` tables.

    Returns
    -------
    dict of str -> PreparedStudy

    Raises
    ------
    ConfigError, DataError, ParameterError
        As :func:`gridfold.runner.prepare`, naming the data set, before any fit.
    """
    prepared = {}
    for data in cfg.datasets:
        assert data.name is not None
        try:
            prepared[data.name] = prepare(dataclasses.replace(cfg, data=data, datasets=()))
        except GridfoldError as exc:
            raise type(exc)(f"{exc} (on the data set {data.name!r})") from None
    return prepared


def run_datasets(
    cfg: StudyConfig,
    execution: Execution,
    *,
    console: Console | None = None,
    announce: Any = None,
) -> DatasetsOutcome:
    """Run every model on every data set, on one executor and one store.

    Parameters
    ----------
    cfg : StudyConfig
        A study with ``[[data]]`` tables.
    execution : Execution
        The options (``n_jobs``, ``backend``, ``store``, ...), as the CLI
        resolved them; its store (a :class:`ResultStore` or None) is written
        under ``<file>[<name>]``.
    console : rich.console.Console, default=None
        Where progress bars go.
    announce : callable, default=None
        Called with the data set's name, its prepared study and the
        executor, before that data set's first fit.

    Returns
    -------
    DatasetsOutcome
    """
    if execution.store is not None and not isinstance(execution.store, ResultStore):
        raise ParameterError(
            "run_datasets needs the store open (a ResultStore) to count the fits it runs; "
            f"got {execution.store!r}. Fix: pass gridfold.store.SQLiteStore(path)."
        )
    # Counted through the store: the fits that ran are the rows written (none on a rerun).
    counting = CountingStore(execution.store or MemoryStore())
    execution = dataclasses.replace(execution, store=counting).checked()
    prepared = prepare_datasets(cfg)  # every data set checked before any fit
    metric = cfg.run.refit_metric if isinstance(cfg.run.scoring, tuple) else None
    outcomes: dict[str, StudyOutcome] = {}
    start = time.perf_counter()
    with Session(execution, console=console) as session:
        executor = session.executor
        for name, study in prepared.items():
            if announce is not None:
                announce(name, study, executor)
            run = session.run(study.study, label=f"{cfg.file}[{name}]", metric=metric)
            outcomes[name] = make_outcome(
                study, run.results, executor.n_workers, executor.name, run.wall_time
            )
    return DatasetsOutcome(
        cfg,
        outcomes,
        counting.n_written,
        executor.n_workers,
        executor.name,
        time.perf_counter() - start,
    )


def datasets_from_store(cfg: StudyConfig, store: ResultStore, study: str) -> DatasetsOutcome:
    """The outcome of a finished study of several data sets, read from ``store``.

    Parameters
    ----------
    cfg : StudyConfig
    store : ResultStore
    study : str
        The study file as the user named it, for the fix in the error.

    Returns
    -------
    DatasetsOutcome

    Raises
    ------
    StoreError
        When the store lacks a fit of some data set; nothing is fitted.
    """
    outcomes = {}
    for name, prepared in prepare_datasets(cfg).items():
        results, status = stored_results(prepared, store)
        missing = sum(m.missing for m in status)
        if missing:
            raise StoreError(
                f"{missing} of {prepared.study.n_tasks} fits of {cfg.file} on the data set "
                f"{name!r} are not in the store yet; fix: run `gridfold run {study}` to "
                "finish them (it skips stored fits)"
            )
        outcomes[name] = make_outcome(prepared, results, 0, "store", 0.0)
    return DatasetsOutcome(cfg, outcomes, 0, 0, "store", 0.0)


def render_datasets(outcome: DatasetsOutcome) -> list[Table | str]:
    """Each data set's best-per-model table, the mean scores and ranks, and the tests.

    Parameters
    ----------
    outcome : DatasetsOutcome

    Returns
    -------
    list of rich.table.Table or str
        Tables, and plain lines of text (print them without markup).
    """
    parts: list[Table | str] = []
    for name, o in outcome.outcomes.items():
        parts.append(f"Data set {name!r}: {o.dataset}, {o.n_splits} splits")
        parts.append(render_best(o))
    parts.append(_scores_table(outcome))
    parts.extend(_test_lines(outcome))
    return parts


def _scores_table(outcome: DatasetsOutcome) -> Table:
    table = outcome.comparison().scores_table()
    ranks = table.rank(axis=1, ascending=False)  # 1 = best, ties averaged (as Friedman's)
    rich = Table(
        title=f"Mean test {outcome.label} of each model's best candidate (rank on the data "
        "set in brackets, 1 = best)",
        title_justify="left",
    )
    rich.add_column("data set", style="bold")
    for model in table.columns:
        rich.add_column(str(model), justify="right")
    for name, row in table.iterrows():
        rich.add_row(
            str(name),
            *(
                "failed" if math.isnan(v) else f"{v:.4f} ({ranks.loc[name, m]:g})"
                for m, v in row.items()
            ),
        )
    rich.add_row("average rank", *(f"{ranks[m].mean():.3f}" for m in table.columns))
    return rich


def _test_lines(outcome: DatasetsOutcome) -> list[str]:
    n_sets, n_models = len(outcome.outcomes), len(outcome.config.models)
    friedman = outcome.friedman()
    if isinstance(friedman, str):
        return [friedman]
    lines = [
        f"Friedman test over {n_sets} data sets and {n_models} models, by mean test "
        f"{outcome.label}: chi-square = {friedman.statistic:.4f}, p = {friedman.pvalue:.4g}; "
        f"Iman-Davenport F = {friedman.iman_davenport:.4f}, "
        f"p = {friedman.iman_davenport_pvalue:.4g}"
    ]
    ranks = ", ".join(f"{m} {r:.3f}" for m, r in friedman.ranks.sort_values().items())
    lines.append(f"average ranks (1 = best): {ranks}")
    nemenyi = outcome.nemenyi()
    if isinstance(nemenyi, str):
        return [*lines, nemenyi]
    lines.append(
        f"Nemenyi critical difference (alpha {ALPHA:g}): {nemenyi.critical_difference:.4f} "
        "(two models differ when their average ranks differ by at least this)"
    )
    lines.extend(_nemenyi_pairs(nemenyi))
    return lines


def _nemenyi_pairs(nemenyi: NemenyiResult) -> list[str]:
    ranks = nemenyi.ranks.sort_values()
    names = list(ranks.index)
    lines = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            gap = float(ranks[b] - ranks[a])
            differ = gap >= nemenyi.critical_difference
            verdict = f"{a} better" if differ else "no significant difference"
            p = float(nemenyi.pvalues.loc[a, b])
            lines.append(
                f"{a} vs {b}: {verdict} (rank difference {gap:.3f}, Nemenyi {format_pvalue(p)})"
            )
    return lines


def datasets_json(outcome: DatasetsOutcome) -> dict[str, Any]:
    """What ``gridfold run --json`` prints for a study of several data sets.

    Parameters
    ----------
    outcome : DatasetsOutcome

    Returns
    -------
    dict
        ``study``, ``mode`` (``"datasets"``), ``metric``, ``datasets`` (per
        data set: ``name``, ``dataset``, ``n_splits``, ``models`` as
        ``gridfold run --json`` gives them for one data set), ``scores``
        (``{data set: {model: mean test score of its best candidate}}``),
        ``friedman`` (``statistic``, ``pvalue``, ``iman_davenport``,
        ``iman_davenport_pvalue``, ``ranks``) and ``nemenyi``
        (``critical_difference``, ``alpha``, ``ranks``, ``pvalues``), each
        None with a ``notes`` entry when it cannot run; ``n_fits_run``.
    """
    notes: list[str] = []
    friedman = outcome.friedman()
    nemenyi = outcome.nemenyi()
    table = outcome.comparison().scores_table()
    return {
        "study": str(outcome.config.file),
        "mode": "datasets",
        "metric": outcome.label,
        "datasets": [
            {"name": name, "dataset": o.dataset, "n_splits": o.n_splits, "models": best_records(o)}
            for name, o in outcome.outcomes.items()
        ],
        "scores": {
            str(name): {str(m): _finite(v) for m, v in row.items()}
            for name, row in table.iterrows()
        },
        "friedman": _friedman_json(friedman, notes),
        "nemenyi": _nemenyi_json(nemenyi, notes),
        "notes": notes,
        "n_fits_run": outcome.n_fits_run,
    }


def _friedman_json(result: FriedmanResult | str, notes: list[str]) -> dict[str, Any] | None:
    if isinstance(result, str):
        notes.append(result)
        return None
    return {
        "statistic": _finite(result.statistic),
        "pvalue": _finite(result.pvalue),
        "iman_davenport": _finite(result.iman_davenport),
        "iman_davenport_pvalue": _finite(result.iman_davenport_pvalue),
        "ranks": {str(m): float(r) for m, r in result.ranks.items()},
    }


def _nemenyi_json(result: NemenyiResult | str, notes: list[str]) -> dict[str, Any] | None:
    if isinstance(result, str):
        if result not in notes:
            notes.append(result)
        return None
    return {
        "critical_difference": float(result.critical_difference),
        "alpha": ALPHA,
        "ranks": {str(m): float(r) for m, r in result.ranks.items()},
        "pvalues": {
            str(a): {str(b): float(p) for b, p in row.items()}
            for a, row in result.pvalues.iterrows()
        },
    }


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
