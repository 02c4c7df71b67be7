"""What to evaluate (:class:`Study`), its units of work and their results.

A study is M models (an estimator and its candidate parameter settings) x K
splits of one data set, under one set of scorers. Its unit of work is a
:class:`Task` (model, candidate, split); every task yields exactly one
:class:`TaskResult`, whose shape never depends on options.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridfold.warnings_replay import CaughtWarning

Scores = float | dict[str, float]
Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Model:
    """One estimator and the candidate settings to evaluate it with.

    Parameters
    ----------
    name : str
        Label used in results and leaderboards.
    estimator : estimator
        Unfitted scikit-learn compatible estimator; cloned for every fit.
    candidates : tuple of dict
        Parameter settings, in the order they appear in ``cv_results_``.
    scorer : callable
        A scikit-learn scorer, ``_MultimetricScorer`` or scoring callable.
    callbacks : FitCallbacks, default=None
        scikit-learn callbacks to call around each fit where it runs
        (:class:`gridfold.callbacks.FitCallbacks`); None: none there.
    continuation : Continuation, default=None
        Fits of an earlier rung of a halving search that this model's fits
        continue (:mod:`gridfold.sharing.continuation`); None: every fit
        starts afresh.
    """

    name: str
    estimator: Any
    candidates: tuple[dict[str, Any], ...]
    scorer: Any
    callbacks: Any = None
    continuation: Continuation | None = None


@dataclass(frozen=True)
class Continuation:
    """Where a model's fits start: the fitted estimators of a smaller budget.

    Parameters
    ----------
    kind : str
        The :class:`~gridfold.sharing.continuation.Growth` that continues them
        (its ``name``).
    starts : mapping of (candidate, split) to fitted estimator
        For a candidate and a split of this model, the same candidate's fit on
        the same training rows with a smaller value of the growth's parameter.
        A task without one is fitted afresh.
    keep : bool
        Whether each task sends its fitted estimator back (a :class:`KeptFit`)
        for a later rung to continue.
    """

    kind: str
    starts: Mapping[tuple[int, int], Any]
    keep: bool


@dataclass(frozen=True)
class StudyData:
    """The arrays every task reads; shared with workers once per study."""

    X: Any
    y: Any
    splits: tuple[Split, ...]
    fit_params: Mapping[str, Any] = field(default_factory=dict)
    score_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """Models x splits of one data set, and how to score them."""

    models: tuple[Model, ...]
    data: StudyData
    return_train_score: bool = False
    error_score: float | str = np.nan
    verbose: int = 0

    @property
    def n_splits(self) -> int:
        return len(self.data.splits)

    def tasks(self) -> Iterator[Task]:
        """All tasks, model by model, candidate by candidate, split by split."""
        for m, model in enumerate(self.models):
            for c in range(len(model.candidates)):
                for s in range(self.n_splits):
                    yield Task(m, c, s)

    @property
    def n_tasks(self) -> int:
        return sum(len(model.candidates) for model in self.models) * self.n_splits


@dataclass(frozen=True, order=True)
class Task:
    """Fit candidate ``candidate`` of model ``model`` on split ``split``."""

    model: int
    candidate: int
    split: int


@dataclass(frozen=True)
class SharedTask:
    """Candidates of one model on one split whose fits share work.

    ``kind`` names what is shared: a path family (one fit answers every
    candidate) or ``"pipeline"`` (common pipeline prefixes fitted once). See
    :mod:`gridfold.sharing`. It yields one :class:`TaskResult` per candidate,
    equal to what the candidate's own :class:`Task` would have yielded.
    """

    model: int
    candidates: tuple[int, ...]
    split: int
    kind: str

    def tasks(self) -> tuple[Task, ...]:
        return tuple(Task(self.model, c, self.split) for c in self.candidates)


@dataclass(frozen=True)
class RefitTask:
    """Fit candidates of one model on the whole data at once, for a search's refit.

    ``kind`` names the path family whose single fit answers all of them, or is
    ``"plain"``: one candidate fitted as the search's refit fits it. It
    yields one :class:`RefitResult`, run by a worker while the cross-validation
    is still going on, so that the refit no longer waits for the last fold (see
    :mod:`gridfold.sharing.early_refit` and :mod:`gridfold.sharing.tail_refit`).
    """

    model: int
    candidates: tuple[int, ...]
    kind: str


#: What an executor runs: one fit, several that share work, or a shared refit.
Unit = Task | SharedTask | RefitTask


def unit_size(unit: Unit) -> int:
    """Number of candidate fits ``unit`` answers (a time limit is per fit)."""
    return 1 if isinstance(unit, Task) else len(unit.candidates)


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one :class:`Task`.

    ``test_scores`` and ``train_scores`` are a float for one scorer and a dict
    for several, exactly as scikit-learn's ``_fit_and_score`` returns them;
    ``train_scores`` is None when train scores were not asked for.
    ``fit_error`` holds the formatted traceback of a failed fit, else None;
    ``error_kind`` says why it failed: ``"exception"`` (the fit raised; a
    rerun would raise again), ``"crash"`` (the worker process died: a
    signal, ``os._exit``, the kernel's OOM killer) or ``"timeout"`` (killed
    after ``fit_timeout``). Crashes and timeouts depend on the machine, so a
    resumed study runs them again; exceptions are kept.
    """

    task: Task
    test_scores: Scores
    train_scores: Scores | None
    n_test_samples: int
    fit_time: float
    score_time: float
    fit_error: str | None = None
    error_kind: str | None = None

    @property
    def failed(self) -> bool:
        return self.fit_error is not None


@dataclass(frozen=True)
class RefitResult:
    """The outcome of one :class:`RefitTask`.

    ``estimators`` holds one fitted estimator per candidate of the task, in
    the task's order, each equal in every attribute to
    ``clone(estimator).set_params(**candidate).fit(X, y)``; it is empty when
    the fit raised, and ``error`` then holds the traceback (the caller refits
    the usual way, which raises the same error where scikit-learn's would).
    ``fit_time`` is the seconds the shared fit took; ``warnings`` what it
    warned about in a worker process, for the caller to issue again.
    """

    task: RefitTask
    estimators: tuple[Any, ...]
    fit_time: float
    error: str | None = None
    warnings: tuple[CaughtWarning, ...] = ()


@dataclass(frozen=True)
class KeptFit:
    """A task's fitted estimator, sent back for a later rung to continue.

    Yielded after the task's :class:`TaskResult` by a model with a
    :class:`Continuation` whose ``keep`` is set, for fits that succeeded.
    Never stored: the store keeps scores, not models.
    """

    task: Task
    estimator: Any


#: What a unit yields: one result per task, a refit's fitted estimators, kept fits.
Result = TaskResult | RefitResult | KeptFit


def results_by_model(study: Study, results: Sequence[TaskResult]) -> list[list[TaskResult]]:
    """Sort results into one list per model, in candidate-major, split-minor order."""
    grouped: list[list[TaskResult | None]] = [
        [None] * (len(m.candidates) * study.n_splits) for m in study.models
    ]
    for r in results:
        grouped[r.task.model][r.task.candidate * study.n_splits + r.task.split] = r
    out: list[list[TaskResult]] = []
    for m, rows in enumerate(grouped):
        missing = sum(r is None for r in rows)
        if missing:
            raise RuntimeError(f"model {study.models[m].name!r} is missing {missing} results")
        out.append([r for r in rows if r is not None])
    return out


@dataclass(frozen=True)
class FailureGroup:
    """Failed fits of one model that raised the same error.

    Attributes
    ----------
    message : str
        The error, e.g. ``"ValueError: Unsupported set of arguments ..."``.
    count : int
        How many fits raised it.
    traceback : str
        The traceback of one of them.
    """

    message: str
    count: int
    traceback: str


def group_failures(results: Sequence[TaskResult]) -> tuple[FailureGroup, ...]:
    """Failed fits grouped by their error (last traceback line), most frequent first."""
    groups: dict[str, list[str]] = {}
    for r in results:
        if r.fit_error is not None:
            groups.setdefault(_last_line(r.fit_error), []).append(r.fit_error)
    return tuple(
        FailureGroup(message, len(tbs), tbs[0])
        for message, tbs in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    )


def _last_line(traceback: str) -> str:
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else traceback
