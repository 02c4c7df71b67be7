"""The executor contract, ``n_jobs`` semantics and the backend registry."""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar

import joblib

from gridfold.data import StudyHandle
from gridfold.exceptions import ParameterError
from gridfold.runtime import in_worker
from gridfold.tasks import Result, Study, Unit

__all__ = [
    "Executor",
    "register_executor",
    "get_executor",
    "resolve_backend",
    "available_backends",
    "resolve_n_jobs",
    "check_fit_timeout",
    "check_retries",
]


class Executor(ABC):
    """Runs batches of tasks somewhere and hands back futures of their results.

    The contract, which ``tests/test_executors.py`` checks for every
    registered executor:

    - :meth:`share` is called once per study before any :meth:`submit` and
      returns the handle tasks carry; :meth:`release` frees it afterwards.
      Large arrays reach workers once through it, never once per task.
    - :meth:`submit` returns a :class:`concurrent.futures.Future` of the
      batch's results, in the batch's order. It may run the batch before it
      returns (the sequential executor does). An exception raised by a fit
      with ``error_score='raise'`` is set on the future, never swallowed.
    - :meth:`shutdown` may be called more than once; the executor is a
      context manager that calls it on exit.
    - ``n_workers`` is the number of batches that run at once.
    - A worker that dies fails only its own batch: the future gets a
      :class:`~gridfold.executors.pool.WorkerLost` naming the unit it was
      running, the results that had reached the driver, and the other units
      to run again (those not started, and finished ones whose results had
      not arrived); the executor stays usable. The same for a unit killed after its time
      limit (``supports_timeout`` executors, ``fit_timeout``).

    Capability flags describe an executor instead of ``isinstance`` checks.
    """

    name: ClassVar[str]
    uses_processes: ClassVar[bool] = False
    #: Can stop a fit that runs too long (``fit_timeout``): needs a process to kill.
    supports_timeout: ClassVar[bool] = False
    #: Seconds a fit may run before it is stopped and recorded as failed.
    fit_timeout: float | None = None
    #: Batches kept in flight per worker, so a worker never waits for the driver.
    in_flight_per_worker: ClassVar[int] = 2
    #: Names of the backend's own keyword options (``get_executor(..., options=)``).
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_workers = resolve_n_jobs(n_jobs)

    @abstractmethod
    def share(self, study: Study) -> StudyHandle:
        """Make ``study`` available to workers; return the handle tasks carry."""

    def release(self, handle: StudyHandle) -> None:  # noqa: B027 - optional hook
        """Free what :meth:`share` allocated for ``handle``."""

    @abstractmethod
    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[Result]]:
        """Start evaluating ``units``; return a future of all their results."""

    def remaining(self, n_units: int) -> None:  # noqa: B027 - optional hook
        """Hear from the driver, before a submit, how many units are not finished.

        Includes the batch about to be submitted and those in flight. With
        fewer units than workers left, an executor may give the next batch
        the cores that would otherwise idle (:class:`ProcessExecutor` does).
        """

    def abort(self) -> None:  # noqa: B027 - optional hook
        """Stop the fits that are running (Ctrl-C); the executor stays usable.

        Executors that cannot stop a running fit (threads) let it finish.
        """

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Stop the workers this executor owns, if any."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"


ExecutorFactory = Callable[..., Executor]
_REGISTRY: dict[str, Callable[[], ExecutorFactory]] = {}


def register_executor(name: str, loader: Callable[[], ExecutorFactory]) -> None:
    """Register a backend under ``name``.

    ``loader`` is called only when the backend is first asked for, so a
    backend with optional dependencies (Dask) costs nothing until used, and
    its ``ImportError`` can say what to install.
    """
    _REGISTRY[name] = loader


def available_backends() -> list[str]:
    """Names accepted by ``backend=`` and ``--backend``."""
    return sorted(_REGISTRY)


def resolve_backend(
    backend: str | None,
    n_jobs: int | None,
    fit_timeout: float | None = None,
    options: Mapping[str, Any] | None = None,
) -> str:
    """The registered backend name that ``get_executor`` would use; checks every argument.

    ``backend=None`` picks ``"sequential"`` when ``n_jobs`` resolves to 1 and
    ``"processes"`` otherwise, as scikit-learn's default loky backend does.
    Inside a gridfold worker, nested searches always run sequentially.
    With ``fit_timeout``, None picks ``"processes"`` even for one worker: only
    a process can be stopped in the middle of a fit. ``options`` are the
    backend's own settings (a scheduler address, say); each must be one the
    backend's class lists in :attr:`Executor.options`.

    Raises
    ------
    ParameterError
        For an invalid ``n_jobs`` or ``fit_timeout``, an unknown backend, a
        time limit the backend cannot enforce, or an option it does not take.
    """
    n_workers = resolve_n_jobs(n_jobs)
    fit_timeout = check_fit_timeout(fit_timeout)
    if backend is None and fit_timeout is not None and not in_worker():
        backend = "processes"
    if backend is None:
        backend = "sequential" if n_workers == 1 or in_worker() else "processes"
    if backend not in _REGISTRY:
        raise ParameterError(
            f"Unknown backend {backend!r}. Expected one of {available_backends()}; "
            "fix: pass one of these names as backend= (or --backend)."
        )
    factory = _REGISTRY[backend]()
    if in_worker():
        return "sequential"  # nested: no pool, no time limit of its own (the outer one holds)
    if fit_timeout is not None and not getattr(factory, "supports_timeout", False):
        raise ParameterError(
            f"fit_timeout={fit_timeout!r} needs a backend that can stop a running fit, but "
            f"backend={backend!r} cannot (a thread or a Dask task cannot be stopped); fix: use "
            "backend='processes' or drop fit_timeout."
        )
    accepted = tuple(getattr(factory, "options", ()))
    unknown = sorted(set(options or {}) - set(accepted))
    if unknown:
        takes = f"takes only {list(accepted)}" if accepted else "takes no options"
        raise ParameterError(
            f"backend={backend!r} {takes}; got {unknown}. Fix: drop them, or choose a backend "
            "that takes them."
        )
    return backend


def get_executor(
    backend: str | None,
    n_jobs: int | None,
    fit_timeout: float | None = None,
    options: Mapping[str, Any] | None = None,
) -> Executor:
    """The executor for ``backend`` and ``n_jobs`` (see :func:`resolve_backend`)."""
    name = resolve_backend(backend, n_jobs, fit_timeout, options)
    factory = _REGISTRY[name]()
    if in_worker():
        return factory(1)
    kwargs: dict[str, Any] = dict(options or {})
    if fit_timeout is not None:
        kwargs["fit_timeout"] = check_fit_timeout(fit_timeout)
    return factory(n_jobs, **kwargs)


def check_fit_timeout(fit_timeout: Any) -> float | None:
    """``fit_timeout`` as seconds, or None; ParameterError if not a positive number."""
    if fit_timeout is None:
        return None
    if (
        isinstance(fit_timeout, bool)
        or not isinstance(fit_timeout, numbers.Real)
        or not float(fit_timeout) > 0
    ):
        raise ParameterError(
            f"fit_timeout={fit_timeout!r} is invalid. Expected a positive number of seconds "
            "or None (no limit); fix: pass for example fit_timeout=600."
        )
    return float(fit_timeout)


def resolve_n_jobs(n_jobs: Any) -> int:
    """Number of workers for ``n_jobs``, with scikit-learn's semantics.

    ``None`` means 1 (unless a ``joblib.parallel_config`` says otherwise),
    ``-1`` all cores, ``-2`` all but one, ``N`` exactly N.
    """
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0
    ):
        raise ParameterError(
            f"n_jobs={n_jobs!r} is invalid. Expected None, a positive integer (that many "
            "workers) or a negative one (-1 for all cores, -2 for all but one); "
            "fix: pass for example n_jobs=-1."
        )
    return max(1, int(joblib.effective_n_jobs(n_jobs)))


def check_retries(retries: Any) -> int:
    """``retries`` as a count of reruns after a worker crash; ParameterError if invalid."""
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ParameterError(
            f"retries={retries!r} is invalid. Expected how many times to rerun a fit whose "
            "worker process died: an integer >= 0; fix: pass for example retries=1."
        )
    return int(retries)
