"""One lifecycle for every entry point: check the options, open, run, close.

The drop-in searches, :func:`gridfold.compare` and ``gridfold run`` all run
studies the same way: check the execution options before anything starts,
open the results store and the executor, run each study with a progress bar,
hand back its results (and the refit a worker did alongside the folds), and
close what was opened even when a fit raises or Ctrl-C arrives. They used to
do it three times, and drifted (``compare`` had no store). Here it is written
once, so an entry point only translates its own inputs into
:class:`~gridfold.tasks.Study` objects and the results into its own outputs,
and an option (a retry count, a scheduler address) is added in one place:

- :class:`Execution` holds the options every entry point shares, and
  :meth:`Execution.checked` validates all of them at once, before any data is
  touched or any worker starts;
- :class:`Session` is the open executor and store for one entry-point call;
  :meth:`Session.run` runs one study on them and may be called several times
  (a search whose ``_run_search`` calls ``evaluate_candidates`` repeatedly,
  the rungs of a halving search, the folds of nested cross-validation), so
  workers and the store are opened once per call, not once per study.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import numpy as np
from rich.console import Console

from gridfold.engine import OnKept, run_study
from gridfold.exceptions import ParameterError
from gridfold.executors.base import (
    Executor,
    check_fit_timeout,
    check_retries,
    get_executor,
    resolve_backend,
)
from gridfold.progress import progress_callback
from gridfold.sharing.tail_refit import TailRefit
from gridfold.store.base import ResultStore, open_store
from gridfold.tasks import RefitResult, Study, Task, TaskResult

__all__ = ["Execution", "Session", "StudyRun"]

OnResult = Callable[[TaskResult], None]


@dataclass(frozen=True)
class Execution:
    """How and where studies run: the options shared by every entry point.

    Parameters
    ----------
    n_jobs : int or None
        Workers: ``-1`` all cores, ``-2`` all but one, None or 1 in-process.
    backend : str or None
        A registered executor name (:func:`gridfold.available_backends`);
        None picks one from ``n_jobs`` and ``fit_timeout``.
    store : ResultStore, str, path-like or None
        Where results are kept as they arrive (a path opens an SQLite file).
    retries : int
        Reruns of a fit whose worker process died.
    fit_timeout : float or None
        Seconds a fit may run before its worker is killed.
    share : bool
        Let one fit answer several candidates where that is exact.
    progress : bool
        Show a progress bar per study.
    options : mapping of str to object
        The backend's own settings (see :attr:`Executor.options`).
    scheduler : str, distributed.Client or None
        Where the Dask backend runs (a scheduler address or a client); given
        without a backend, it picks ``"dask"``.
    """

    n_jobs: int | None = None
    backend: str | None = None
    store: ResultStore | str | os.PathLike[str] | None = None
    retries: int = 1
    fit_timeout: float | None = None
    share: bool = True
    progress: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    scheduler: Any = None

    def checked(self) -> Execution:
        """These options, validated and normalised; the backend resolved to its name.

        Raises
        ------
        ParameterError
            For the first invalid option, with what was expected and the fix.
        """
        for name in ("share", "progress"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise ParameterError(
                    f"{name}={value!r} is invalid. Expected True or False; fix: pass "
                    f"{name}=True or {name}=False."
                )
        _check_store_argument(self.store)
        _check_scheduler(self.scheduler)
        options = dict(self.options)
        backend = self.backend
        if self.scheduler is not None:
            options["scheduler"] = self.scheduler
            backend = "dask" if backend is None else backend
        return dataclasses.replace(
            self,
            backend=resolve_backend(backend, self.n_jobs, self.fit_timeout, options),
            retries=check_retries(self.retries),
            fit_timeout=check_fit_timeout(self.fit_timeout),
            share=bool(self.share),
            progress=bool(self.progress),
            options=options,
            scheduler=None,  # now in options
        )


def _check_scheduler(scheduler: Any) -> None:
    if scheduler is None or (isinstance(scheduler, str) and scheduler.strip()):
        return
    if type(scheduler).__name__ == "Client" and hasattr(scheduler, "scheduler_info"):
        return  # a distributed.Client (not imported here: Dask is optional)
    raise ParameterError(
        f"scheduler={scheduler!r} is invalid. Expected a Dask scheduler address such as "
        "'tcp://10.0.0.5:8786' or a distributed.Client; fix: pass one of these, or None "
        "for Dask workers started on this machine with backend='dask'."
    )


def _check_store_argument(store: Any) -> None:
    """The ``store=`` checks that need nothing opened (open_store does the rest)."""
    if store is None or isinstance(store, ResultStore):
        return
    if isinstance(store, str | os.PathLike) and os.fspath(store) not in ("", b""):
        return
    open_store(store)  # raises its ParameterError, which says the fix


@dataclass(frozen=True)
class StudyRun:
    """What :meth:`Session.run` hands back for one study.

    Attributes
    ----------
    results : list of TaskResult
        One per task of the study (stored ones included), in arrival order.
    refit : RefitResult or None
        The refit a worker fitted alongside the folds, if one was planned and
        succeeded (see :mod:`gridfold.sharing.early_refit`); else None.
    wall_time : float
        Seconds from the start of the study to its last result.
    """

    results: list[TaskResult]
    refit: RefitResult | None
    wall_time: float


class Session:
    """The executor and the store of one entry-point call, open for its studies.

    Use it as a context manager: entering opens the store (a path becomes an
    :class:`~gridfold.store.sqlite.SQLiteStore`) and starts the executor;
    leaving shuts the executor down and closes a store opened here (a store
    object the caller passed stays open: it is the caller's).

    Parameters
    ----------
    execution : Execution
        The options; checked again here, so an unchecked one fails before
        anything is opened.
    console : rich.console.Console, default=None
        Where progress bars go (default: stderr).
    """

    def __init__(self, execution: Execution, *, console: Console | None = None) -> None:
        self.execution = execution.checked()
        self.console = console
        self._store: ResultStore | None = None
        self._executor: Executor | None = None

    def __enter__(self) -> Self:
        self._store = open_store(self.execution.store)
        try:
            ex = self.execution
            self._executor = get_executor(ex.backend, ex.n_jobs, ex.fit_timeout, ex.options)
        except BaseException:
            self._close_store()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None
        finally:
            self._close_store()

    def _close_store(self) -> None:
        if self._store is not None and self._store is not self.execution.store:
            self._store.close()  # opened here from a path
        self._store = None

    @property
    def executor(self) -> Executor:
        """The running executor (only inside the ``with`` block)."""
        if self._executor is None:
            raise RuntimeError("the session is not open: use it in a with block")
        return self._executor

    @property
    def store(self) -> ResultStore | None:
        """The open results store, or None."""
        return self._store

    def run(
        self,
        study: Study,
        *,
        label: str = "",
        refit_model: int | None = None,
        on_result: OnResult | None = None,
        share: bool | None = None,
        metric: str | None = None,
        tasks: Sequence[Task] | None = None,
        tail_refit: TailRefit | None = None,
        on_kept: OnKept | None = None,
        title: str = "fits",
    ) -> StudyRun:
        """Run ``study`` on the session's executor, storing every result as it arrives.

        Parameters
        ----------
        study : Study
        label : str, default=""
            The study's name in the store.
        refit_model : int, default=None
            A model the caller refits on the whole data afterwards: a worker
            may fit it alongside the folds (see :func:`gridfold.engine.run_study`).
        on_result : callable, default=None
            Called in the calling thread with each result, stored ones included.
        share : bool, default=None
            Overrides the session's ``share`` for this study.
        metric : str, default=None
            With several scorers, the one the progress bar's "best" shows.
        tasks : sequence of Task, default=None
            Run only these tasks of ``study``, in this order (default: all of
            them); nested cross-validation runs each outer fold's candidates
            on that fold's inner splits only.
        tail_refit : TailRefit, default=None
            How to tell the leading candidate of ``refit_model``, for a worker
            idle at the study's tail to refit it
            (:mod:`gridfold.sharing.tail_refit`).
        on_kept : callable, default=None
            Called with each :class:`~gridfold.tasks.KeptFit` of a model whose
            continuation keeps its fits (:mod:`gridfold.sharing.continuation`).
        title : str, default="fits"
            What the progress bar says the study is (``"rung 2/4: 9 candidates x
            5 splits"`` for a halving search's rung).

        Returns
        -------
        StudyRun
        """
        early: list[RefitResult] = []
        share = self.execution.share if share is None else share
        start = time.perf_counter()
        total = None if tasks is None else len(tasks)
        with progress_callback(
            study,
            enabled=self.execution.progress,
            console=self.console,
            metric=metric,
            total=total,
            title=title,
        ) as bar:
            results = run_study(
                study,
                self.executor,
                tasks=tasks,
                on_result=_both(bar, on_result),
                share=share,
                store=self._store,
                label=label,
                retries=self.execution.retries,
                refit_model=refit_model,
                on_refit=early.append,
                tail_refit=tail_refit,
                on_kept=on_kept,
            )
        return StudyRun(results, early[0] if early else None, time.perf_counter() - start)


def _both(first: OnResult | None, second: OnResult | None) -> OnResult | None:
    if first is None or second is None:
        return first or second

    def both(result: TaskResult) -> None:
        first(result)
        second(result)

    return both
