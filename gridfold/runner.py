"""Run a parsed study file: every model on the same splits, in one pool of workers.

:func:`prepare` loads the data, draws the splits once and checks every model's
candidates before any fit; :func:`run_config` runs the resulting
:class:`~gridfold.tasks.Study` on an executor and gives each model the
``cv_results_`` scikit-learn's ``GridSearchCV``/``RandomizedSearchCV`` would
(same candidates, same splits, same scorers, same formatting code).

A model whose fits all fail does not stop the others: its failures are
grouped by error message and reported in :attr:`ModelOutcome.failures`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from sklearn.base import clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring

from gridfold import _sklearn
from gridfold.config import Dataset, ModelConfig, StudyConfig
from gridfold.config.cluster import ClusterConfig
from gridfold.engine import reusable_results
from gridfold.exceptions import DataError, GridfoldError, ParameterError
from gridfold.executors import Executor
from gridfold.lifecycle import Execution, Session
from gridfold.store.base import ResultStore
from gridfold.tasks import (
    FailureGroup,
    Model,
    Study,
    StudyData,
    TaskResult,
    group_failures,
    results_by_model,
)
from gridfold.validation import check_candidates, check_data, check_grid_not_empty

if TYPE_CHECKING:
    from gridfold.halving_study import HalvingOutcome

__all__ = [
    "FailureGroup",
    "ModelOutcome",
    "PreparedStudy",
    "StudyOutcome",
    "prepare",
    "run_config",
]


@dataclass(frozen=True)
class ModelOutcome:
    """One model's results.

    Attributes
    ----------
    name : str
    spec : str
        The estimator as the study file gave it.
    estimator : estimator
        The unfitted base estimator.
    candidates : tuple of dict
    cv_results : dict
        Exactly the ``cv_results_`` of scikit-learn's search for this model.
    n_fits : int
    failures : tuple of FailureGroup
    failed_fits : tuple of (int, int)
        ``(candidate, split)`` of every fit that raised, in that order: the
        scores ``cv_results`` holds there are ``error_score``, not
        measurements (a paired test must not use them).
    halving : HalvingOutcome or None
        For a ``search = "halving"`` model, what its rows are (a row per
        candidate and rung): see :mod:`gridfold.halving_study`.
    """

    name: str
    spec: str
    estimator: Any
    candidates: tuple[dict[str, Any], ...]
    cv_results: dict[str, Any]
    n_fits: int
    failures: tuple[FailureGroup, ...]
    failed_fits: tuple[tuple[int, int], ...] = ()
    halving: HalvingOutcome | None = None

    @property
    def n_failed(self) -> int:
        """Number of fits that raised."""
        return sum(f.count for f in self.failures)


@dataclass(frozen=True)
class PreparedStudy:
    """A study ready to run: data loaded, splits drawn, candidates checked."""

    config: StudyConfig
    study: Study
    dataset: Dataset
    splitter: Any
    specs: tuple[str, ...]
    #: ``search = "halving"`` models, run after the study's (not among its models).
    halving: tuple[ModelConfig, ...] = ()

    @property
    def n_candidates(self) -> int:
        """Candidates over all models."""
        return sum(len(m.candidates) for m in self.study.models)


@dataclass(frozen=True)
class StudyOutcome:
    """What :func:`run_config` returns.

    Attributes
    ----------
    config : StudyConfig
    models : tuple of ModelOutcome
    metrics : tuple of str
        The metric keys of ``cv_results_`` (``("score",)`` for one scorer).
    refit_metric : str
        The metric that ranks the leaderboard.
    metric_labels : dict
        Display name of each metric key (the scorer's name where known).
    n_splits : int
    splitter : str
    dataset : str
    n_workers : int
    backend : str
    wall_time : float
        Seconds from the first submitted fit to the last result.
    split_sizes : tuple of (int, int)
        ``(n_train, n_test)`` rows of each split, in split order (what the
        corrected t-test of :mod:`gridfold.verdict` needs).
    """

    config: StudyConfig
    models: tuple[ModelOutcome, ...]
    metrics: tuple[str, ...]
    refit_metric: str
    metric_labels: dict[str, str]
    n_splits: int
    splitter: str
    dataset: str
    n_workers: int
    backend: str
    wall_time: float
    split_sizes: tuple[tuple[int, int], ...] = ()

    @property
    def n_fits(self) -> int:
        """Fits over all models."""
        return sum(m.n_fits for m in self.models)

    @property
    def n_failed(self) -> int:
        """Failed fits over all models."""
        return sum(m.n_failed for m in self.models)


def _located(cfg: StudyConfig, model: ModelConfig, exc: GridfoldError) -> GridfoldError:
    """``exc`` with the file, line and model name in front.

    The line is that of the first parameter the message names, else the model's.
    """
    text = str(exc)
    line = next((n for name, n in model.param_lines.items() if f"'{name}'" in text), model.line)
    where = f"{cfg.file}: line {line}: " if line else f"{cfg.file}: "
    return type(exc)(f"{where}model {model.name!r}: {text}")


def _model(cfg: StudyConfig, mc: ModelConfig, dataset: Dataset, raise_exc: bool) -> Model:
    try:
        check_data(dataset.X, dataset.y, mc.estimator, {})
        candidates = mc.candidates()
        check_grid_not_empty(list(mc.space) if mc.space else {}, candidates)
        check_candidates(mc.estimator, candidates)
    except (DataError, ParameterError) as exc:
        raise _located(cfg, mc, exc) from None
    except ValueError as exc:  # e.g. ParameterSampler on a bad space
        raise _located(cfg, mc, ParameterError(str(exc))) from None
    scorer = check_scoring(mc.estimator, _scoring_arg(cfg), raise_exc=raise_exc)
    return Model(mc.name, clone(mc.estimator), tuple(candidates), scorer)


def _scoring_arg(cfg: StudyConfig) -> str | list[str] | None:
    scoring = cfg.run.scoring
    return list(scoring) if isinstance(scoring, tuple) else scoring


def prepare(cfg: StudyConfig) -> PreparedStudy:
    """Load the data, draw the splits once, and check every model before any fit.

    Parameters
    ----------
    cfg : StudyConfig

    Returns
    -------
    PreparedStudy

    Raises
    ------
    ConfigError, DataError, ParameterError
        For data that cannot be loaded or does not fit a model, an empty
        search space or an unknown parameter name.
    """
    dataset = cfg.data.load()
    try:
        X, y = check_data(dataset.X, dataset.y, cfg.models[0].estimator, {})
    except DataError as exc:
        raise _located(cfg, cfg.models[0], exc) from None
    raise_exc = cfg.run.error_score == "raise"
    models = tuple(_model(cfg, mc, dataset, raise_exc) for mc in cfg.models)  # checks them all
    halving = tuple(mc for mc in cfg.models if mc.search == "halving")
    if halving and isinstance(cfg.run.scoring, tuple):
        raise _located(
            cfg,
            halving[0],
            ParameterError(
                'search = "halving" ranks candidates by one metric, as HalvingGridSearchCV '
                f"does; [run] scoring is a list ({list(cfg.run.scoring)}). Expected one name; "
                'fix: scoring = "accuracy" (say), or search = "grid" for this model.'
            ),
        )
    models = tuple(m for m, mc in zip(models, cfg.models, strict=True) if mc.search != "halving")
    classifier = all(is_classifier(mc.estimator) for mc in cfg.models)
    splitter = cfg.cv.make(y, classifier)
    try:
        splits = tuple(splitter.split(X, y, dataset.groups))
    except ValueError as exc:
        raise DataError(
            f"{cfg.file}: [cv]: {type(splitter).__name__} cannot split this data: {exc}. "
            'Fix: choose a splitter that fits the data (fewer splits, or groups = "COLUMN" '
            "in [data] for Group* splitters)."
        ) from None
    study = Study(
        models=models,
        data=StudyData(X, y, splits),
        return_train_score=cfg.run.return_train_score,
        error_score=cfg.run.error_score,
    )
    specs = tuple(mc.spec for mc in cfg.models if mc.search != "halving")
    return PreparedStudy(cfg, study, dataset, splitter, specs, halving)


def run_config(
    cfg: StudyConfig,
    *,
    n_jobs: int | None = None,
    backend: str | None = None,
    progress: bool = True,
    share: bool = True,
    console: Console | None = None,
    on_start: Callable[[PreparedStudy, Executor], None] | None = None,
    store: ResultStore | None = None,
    fit_timeout: float | None = None,
    retries: int = 1,
    scheduler: Any = None,
    cluster: ClusterConfig | None = None,
) -> StudyOutcome:
    """Run every model of a study on the same splits and collect their results.

    Parameters
    ----------
    cfg : StudyConfig
        A parsed study file (:func:`gridfold.config.load_config`).
    n_jobs : int, default=None
        Workers; overrides ``[run] n_jobs``. ``-1`` all cores.
    backend : {"sequential", "threads", "processes"}, default=None
        Overrides ``[run] backend``.
    progress : bool, default=True
        Show a progress bar.
    share : bool, default=True
        Let one fit answer several candidates where that is exact
        (:mod:`gridfold.sharing`); False fits each candidate on its own.
    console : rich.console.Console, default=None
        Where the bar goes (default: stderr).
    on_start : callable, default=None
        Called with the prepared study and the executor once every check
        passed, just before the first fit.
    store : ResultStore, default=None
        Where every result is written as it arrives; fits it already holds
        are not run again (see :func:`gridfold.engine.run_study`).
    fit_timeout : float, default=None
        Seconds a fit may run before its worker is killed (needs processes).
    retries : int, default=1
        Reruns of a fit whose worker process died.
    scheduler : str or distributed.Client, default=None
        A Dask cluster to run on; overrides ``[run] scheduler``.
    cluster : ClusterConfig, default=None
        Batch jobs of Dask workers to start for the run (SLURM); overrides the
        ``[cluster]`` table. The jobs are cancelled when the run ends.

    Returns
    -------
    StudyOutcome
    """
    common: dict[str, Any] = dict(
        n_jobs=n_jobs,
        progress=progress,
        share=share,
        console=console,
        on_start=on_start,
        store=store,
        fit_timeout=fit_timeout,
        retries=retries,
    )
    cluster = cluster or cfg.cluster
    if cluster is not None and scheduler is None:
        from gridfold.executors.jobqueue import start_cluster

        Execution(  # bad options fail before any batch job is queued
            n_jobs=n_jobs,
            backend=backend,
            fit_timeout=fit_timeout,
            retries=retries,
            scheduler="the cluster's",
        ).checked()
        with start_cluster(cluster) as client:
            return _run_config(cfg, backend or "dask", client, **common)
    return _run_config(cfg, backend, scheduler or cfg.run.scheduler, **common)


def _run_config(
    cfg: StudyConfig,
    backend: str | None,
    scheduler: Any,
    *,
    n_jobs: int | None,
    progress: bool,
    share: bool,
    console: Console | None,
    on_start: Callable[[PreparedStudy, Executor], None] | None,
    store: ResultStore | None,
    fit_timeout: float | None,
    retries: int,
) -> StudyOutcome:
    execution = Execution(
        n_jobs=n_jobs if n_jobs is not None else cfg.run.n_jobs,
        backend=backend or cfg.run.backend,
        store=store,
        retries=retries,
        fit_timeout=fit_timeout,
        share=share,
        progress=progress,
        scheduler=scheduler,
    ).checked()  # bad options fail before the data is loaded
    prepared = prepare(cfg)
    metric = cfg.run.refit_metric if isinstance(cfg.run.scoring, tuple) else None
    with Session(execution, console=console) as session:
        if on_start is not None:
            on_start(prepared, session.executor)
        start = time.perf_counter()
        results = []
        if prepared.study.models:
            results = session.run(prepared.study, label=str(cfg.file), metric=metric).results
        halving = [
            _halving_outcome(prepared, mc, session, i) for i, mc in enumerate(prepared.halving)
        ]
        wall = time.perf_counter() - start
        executor = session.executor
    return make_outcome(prepared, results, executor.n_workers, executor.name, wall, halving)


def _halving_outcome(
    prepared: PreparedStudy, mc: ModelConfig, session: Session, index: int
) -> ModelOutcome:
    """Run a ``search = "halving"`` model on ``session``; its outcome."""
    from gridfold.halving_study import failed_fits, run_halving_model

    cfg = prepared.config
    results, rows, failures, n_fits = run_halving_model(cfg, mc, prepared.study.data, session)
    return ModelOutcome(
        name=mc.name,
        spec=mc.spec,
        estimator=clone(mc.estimator),
        candidates=tuple(results["params"]),
        cv_results=results,
        n_fits=n_fits,
        failures=failures,
        failed_fits=failed_fits(results, prepared.study.n_splits, cfg.run.error_score),
        halving=rows,
    )


def make_outcome(
    prepared: PreparedStudy,
    results: Sequence[TaskResult],
    n_workers: int,
    backend: str,
    wall: float,
    halving: Sequence[ModelOutcome] = (),
) -> StudyOutcome:
    """The :class:`StudyOutcome` of a study's complete ``results``.

    ``halving`` holds the outcomes of its ``search = "halving"`` models; the
    models come in the study file's order.
    """
    cfg, study = prepared.config, prepared.study
    per_model = results_by_model(study, results)
    found = {
        o.name: o
        for o in (
            *(_outcome(cfg, study, i, rows, prepared.specs[i]) for i, rows in enumerate(per_model)),
            *halving,
        )
    }
    outcomes = tuple(found[mc.name] for mc in cfg.models if mc.name in found)
    labels = {k: k for k in cfg.run.metrics}
    if isinstance(cfg.run.scoring, str):
        labels = {"score": cfg.run.scoring}
    return StudyOutcome(
        config=cfg,
        models=outcomes,
        metrics=cfg.run.metrics,
        refit_metric=cfg.run.refit_metric,
        metric_labels=labels,
        n_splits=study.n_splits,
        splitter=repr(prepared.splitter),
        dataset=prepared.dataset.description,
        n_workers=n_workers,
        backend=backend,
        wall_time=wall,
        split_sizes=tuple((len(train), len(test)) for train, test in study.data.splits),
    )


@dataclass(frozen=True)
class ModelStatus:
    """How many of one model's fits a store holds."""

    name: str
    done: int
    failed: int
    missing: int


def stored_results(
    prepared: PreparedStudy, store: ResultStore
) -> tuple[list[TaskResult], list[ModelStatus]]:
    """The study's results ``store`` holds, and per model: done, failed, missing.

    Crashes and timeouts count as missing: ``gridfold run`` runs them again.
    """
    from gridfold.store.keys import task_keys

    study = prepared.study
    keys = task_keys(study)
    found = reusable_results(store, keys, list(study.tasks()))
    counts = [[0, 0, 0] for _ in study.models]
    for task in study.tasks():
        result = found.get(task)
        column = 2 if result is None else 1 if result.failed else 0
        counts[task.model][column] += 1
    results = list(found.values())
    status = [ModelStatus(m.name, *c) for m, c in zip(study.models, counts, strict=True)]
    return results, status


def _outcome(
    cfg: StudyConfig, study: Study, index: int, rows: list[TaskResult], spec: str
) -> ModelOutcome:
    model = study.models[index]
    failures = group_failures(rows)
    failed_fits = tuple(sorted((r.task.candidate, r.task.split) for r in rows if r.failed))
    if failures and sum(f.count for f in failures) == len(rows):
        # scikit-learn raises when every fit failed; here the other models must
        # still be reported, so this model's scores are formatted as they are
        # (all error_score) and the failures are reported by the caller.
        rows = [dataclasses.replace(r, fit_error=None) for r in rows]
    with warnings.catch_warnings():
        # Failed fits are reported in ModelOutcome.failures instead.
        warnings.simplefilter("ignore", FitFailedWarning)
        if failures:
            warnings.filterwarnings(
                "ignore", "One or more of the (test|train) scores are non-finite"
            )
        out = _sklearn.warn_or_raise_about_fit_failures(
            rows,
            cfg.run.error_score,
            callable_scoring=False,
            return_train_score=cfg.run.return_train_score,
        )
        cv_results = _sklearn.format_cv_results(
            model.candidates, study.n_splits, out, cfg.run.return_train_score
        )
    return ModelOutcome(
        name=model.name,
        spec=spec,
        estimator=model.estimator,
        candidates=model.candidates,
        cv_results=cv_results,
        n_fits=len(rows),
        failures=failures,
        failed_fits=failed_fits,
    )
