"""The results-store contract: one :class:`StoredResult` per finished task.

A study stores every :class:`~gridfold.tasks.TaskResult` as it arrives, under a
content key (:mod:`gridfold.store.keys`) that names everything the result
depends on. A rerun of the study, or another study that needs the same fits,
looks its tasks' keys up first and runs only the missing ones.

This module also holds the row codec every store uses (:func:`encode_row`,
:func:`decode_row`), so that a :class:`~gridfold.store.memory.MemoryStore` and
an :class:`~gridfold.store.sqlite.SQLiteStore` accept, reject and return exactly
the same rows.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from gridfold.exceptions import ParameterError, StoreError
from gridfold.tasks import Scores, Task, TaskResult

__all__ = ["StoredResult", "ResultStore", "RunRecord", "open_store", "ERROR_KINDS"]

#: The values of :attr:`StoredResult.error_kind` besides None (see TaskResult).
ERROR_KINDS = ("exception", "crash", "timeout")


@dataclass(frozen=True)
class StoredResult:
    """One stored task result: a :class:`~gridfold.tasks.TaskResult` and its labels.

    Parameters
    ----------
    key : str
        Hex content key of the task (:func:`gridfold.store.keys.task_keys`).
    study : str
        Label of the study that stored it (study file path or estimator name),
        for ``gridfold status``. Not part of the key.
    model : str
        Name of the model.
    params : str
        The candidate's parameters, readable
        (:func:`gridfold.store.keys.candidate_repr`); for humans only.
    split : int
        Index of the split in the study that stored it. Informational: the
        key identifies the split by its indices, so a study that lists the
        same split at another position reuses the row.
    test_scores, train_scores : float or dict of str to float
        As in :class:`~gridfold.tasks.TaskResult`; ``train_scores`` is None
        when train scores were not asked for. Ints and bools (a scorer or an
        ``error_score`` may return them) are kept as such.
    n_test_samples : int
        Number of test samples.
    fit_time, score_time : float
        Seconds, as measured when the task ran.
    fit_error : str or None
        Formatted traceback of a failed fit.
    error_kind : {"exception", "crash", "timeout"} or None
        Why the fit failed.
    created : float
        Unix time the row was made.
    """

    key: str
    study: str
    model: str
    params: str
    split: int
    test_scores: Scores
    train_scores: Scores | None
    n_test_samples: int
    fit_time: float
    score_time: float
    fit_error: str | None
    error_kind: str | None
    created: float

    @classmethod
    def from_result(
        cls, key: str, result: TaskResult, *, study: str, model: str, params: str
    ) -> StoredResult:
        """The row that stores ``result`` under ``key``, stamped with the current time."""
        return cls(
            key=key,
            study=study,
            model=model,
            params=params,
            split=result.task.split,
            test_scores=result.test_scores,
            train_scores=result.train_scores,
            n_test_samples=result.n_test_samples,
            fit_time=result.fit_time,
            score_time=result.score_time,
            fit_error=result.fit_error,
            error_kind=result.error_kind,
            created=time.time(),
        )

    def to_result(self, task: Task) -> TaskResult:
        """The stored result as ``task``'s :class:`~gridfold.tasks.TaskResult`.

        Scores, times and errors are returned exactly as stored (floats bit for
        bit, NaN included, multimetric dicts in their order). Score dicts are
        copies, so the caller may change them without changing the row.
        """
        return TaskResult(
            task=task,
            test_scores=_copy_scores(self.test_scores),
            train_scores=None if self.train_scores is None else _copy_scores(self.train_scores),
            n_test_samples=self.n_test_samples,
            fit_time=self.fit_time,
            score_time=self.score_time,
            fit_error=self.fit_error,
            error_kind=self.error_kind,
        )


@dataclass(frozen=True)
class RunRecord:
    """What a plan predicted, or what a run of a study did: for ``gridfold status``.

    Parameters
    ----------
    study : str
        The study's label in the store (as :attr:`StoredResult.study`).
    kind : {"plan", "run"}
        ``"plan"``: ``gridfold plan``'s prediction; ``"run"``: a finished run.
    n_workers : int
        Workers the prediction is for, or the run had.
    n_fits : int
        Fits planned, or fits the run ran (stored ones it reused left out).
    wall_seconds : float
        Predicted, or measured, wall time of the fits.
    work_seconds : float
        Predicted, or measured, total fit and scoring seconds of every worker.
    created : float
        Unix time the record was made.
    """

    study: str
    kind: str
    n_workers: int
    n_fits: int
    wall_seconds: float
    work_seconds: float
    created: float = 0.0


def _copy_scores(scores: Scores) -> Scores:
    return dict(scores) if isinstance(scores, dict) else scores


class ResultStore(ABC):
    """Where a study's task results are kept, keyed by content.

    The contract every store follows:

    - **Who calls it.** Only the driver: the thread that runs the study and
      receives results from the executor. Workers never see a store (it is
      never pickled). A store object is used by one thread at a time;
      implementations need no locks of their own.
    - **When rows are written.** Nothing is written for a task until its
      result has arrived in the driver; the driver then writes a batch's
      results with one :meth:`put`. A crash or ``kill -9`` of the driver or of
      a worker therefore leaves no partial row: a task that was in flight has
      no row, and a rerun of the study runs exactly those tasks again.
    - **Atomicity.** :meth:`put` stores all of its rows or none: every row is
      checked before anything is written (a row that cannot be stored raises
      :class:`~gridfold.exceptions.StoreError` and stores nothing of its
      batch), and persistent stores write the batch in one transaction.
    - **Replacement.** A row whose key is already stored replaces the old
      row, which then counts as inserted anew (it moves to the end of
      :meth:`rows`). That is how a rerun of a crashed or timed-out fit
      overwrites its failed row. Within one :meth:`put` the last row of a key
      wins.
    - **Immutability.** Rows are values: a row read back equals the row
      written (floats bit for bit, NaN included; ints and bools kept; score
      dicts in their order), and changing an object after :meth:`put` or
      after :meth:`get` does not change what is stored.
    - **Several processes.** A persistent store must stay correct when
      several processes (several ``gridfold run`` on one file) read and write
      it at the same time: no corruption, no lost rows.
    - **Lifetime.** :meth:`close` releases the store and may be called more
      than once; a store is a context manager that closes on exit. Any other
      call on a closed store raises :class:`~gridfold.exceptions.StoreError`.

    A store is truthy even when empty, so ``if store:`` tests whether there is
    a store, not whether it holds rows.
    """

    @abstractmethod
    def put(self, rows: Sequence[StoredResult]) -> None:
        """Store ``rows``, all or none, replacing rows with the same keys.

        Raises
        ------
        StoreError
            If a row cannot be stored (nothing of ``rows`` is then stored) or
            the store cannot be written.
        """

    @abstractmethod
    def get(self, keys: Iterable[str]) -> dict[str, StoredResult]:
        """The stored rows of ``keys``, in their order; keys without a row are left out."""

    @abstractmethod
    def rows(self, study: str | None = None) -> list[StoredResult]:
        """Every row, or the rows of ``study``, in insertion order."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of stored rows."""

    @abstractmethod
    def close(self) -> None:
        """Release the store. Idempotent."""

    def record_run(self, record: RunRecord) -> None:  # noqa: B027 - optional, see below
        """Keep ``record`` (a plan or a finished run) for ``gridfold status``.

        Optional: not part of the five-method contract. A store that keeps no
        history inherits this no-op, and :meth:`run_records` then returns none.
        """

    def run_records(self, study: str) -> list[RunRecord]:
        """The records :meth:`record_run` kept for ``study``, oldest first."""
        return []

    def __bool__(self) -> bool:
        return True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(store: ResultStore | str | os.PathLike[str] | None) -> ResultStore | None:
    """The store a ``store=`` argument names.

    Parameters
    ----------
    store : ResultStore, str, path-like or None
        None for no store; a store, returned as is; or the path of an SQLite
        results file, created if missing.

    Returns
    -------
    ResultStore or None

    Raises
    ------
    ParameterError
        If ``store`` is none of these, or an empty path.
    StoreError
        If the path cannot be opened as a results store.
    """
    if store is None or isinstance(store, ResultStore):
        return store
    if isinstance(store, str | os.PathLike) and os.fspath(store) not in ("", b""):
        from gridfold.store.sqlite import SQLiteStore  # sqlite3 only when a path is given

        return SQLiteStore(store)
    raise ParameterError(
        "store must be None, a ResultStore or the path of a results file; "
        f"got {type(store).__name__} {store!r}. "
        "Fix: pass store='results.db' (an SQLite file, created if missing) or "
        "store=gridfold.store.MemoryStore()."
    )


# --------------------------------------------------------------------------
# Row codec. Scores are stored as JSON text: json writes floats with repr, so
# they read back bit for bit, keeps dict order, and tells ints, floats and
# bools apart. Two things JSON loses are handled here: numpy scalars (made
# plain Python numbers, which is what scikit-learn's _score hands back anyway)
# and the sign and payload bits of a NaN (a NaN other than float("nan") is
# written as the string "nan:<hex bits>"; strings are never scores otherwise).
# --------------------------------------------------------------------------

#: A row as stores keep it: the columns of StoredResult, scores as JSON text.
EncodedRow = tuple[
    str, str, str, str, int, str, str | None, int, float, float, str | None, str | None, float
]

_NAN_BITS = struct.pack("<d", math.nan)
# One encoder for every row: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(allow_nan=True, separators=(",", ":"))
_NAN_PREFIX = "nan:"


def encode_row(row: StoredResult) -> EncodedRow:
    """Check ``row`` and return it as stored; :class:`StoreError` if it cannot be stored."""
    if not isinstance(row, StoredResult):
        raise _bad_row(row, "row", row, "a StoredResult")
    if not isinstance(row.key, str) or not row.key:
        raise _bad_row(row, "key", row.key, "a non-empty str")
    for name in ("study", "model", "params"):
        if not isinstance(getattr(row, name), str):
            raise _bad_row(row, name, getattr(row, name), "a str")
    if row.fit_error is not None and not isinstance(row.fit_error, str):
        raise _bad_row(row, "fit_error", row.fit_error, "a str or None")
    if row.error_kind is not None and row.error_kind not in ERROR_KINDS:
        raise _bad_row(row, "error_kind", row.error_kind, f"one of {ERROR_KINDS} or None")
    if row.test_scores is None:
        raise _bad_row(row, "test_scores", None, "a number or a dict of str to number")
    return (
        row.key,
        row.study,
        row.model,
        row.params,
        _int(row, "split"),
        _encode_scores(row, "test_scores"),
        None if row.train_scores is None else _encode_scores(row, "train_scores"),
        _int(row, "n_test_samples"),
        _real(row, "fit_time"),
        _real(row, "score_time"),
        row.fit_error,
        row.error_kind,
        _real(row, "created"),
    )


def decode_row(values: Sequence[Any]) -> StoredResult:
    """The :class:`StoredResult` of an :data:`EncodedRow` (from :func:`encode_row`)."""
    key, study, model, params, split, test, train, n_test, *rest = values
    fit_t, score_t, error, kind, created = rest
    return StoredResult(
        key=key,
        study=study,
        model=model,
        params=params,
        split=split,
        test_scores=_decode_scores(test),
        train_scores=None if train is None else _decode_scores(train),
        n_test_samples=n_test,
        # SQLite stores a NaN REAL as NULL; times are measured, so this is defensive.
        fit_time=math.nan if fit_t is None else fit_t,
        score_time=math.nan if score_t is None else score_t,
        fit_error=error,
        error_kind=kind,
        created=created,
    )


def _bad_row(row: object, field: str, value: object, expected: str) -> StoreError:
    key = getattr(row, "key", "?")
    return StoreError(
        f"cannot store the result of key {key!r}: {field} must be {expected}, "
        f"got {type(value).__name__} {value!r}; nothing of this batch was stored. "
        "This is a bug in the code that built the row: please report it."
    )


def _int(row: StoredResult, field: str) -> int:
    value = getattr(row, field)
    if type(value) is int:
        return value  # the common case, without the ABC check below
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise _bad_row(row, field, value, "an int")


def _real(row: StoredResult, field: str) -> float:
    value = getattr(row, field)
    if type(value) is float:
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise _bad_row(row, field, value, "a number")


def _encode_scores(row: StoredResult, field: str) -> str:
    scores = getattr(row, field)
    if isinstance(scores, dict):
        if not all(isinstance(name, str) for name in scores):
            raise _bad_row(row, field, scores, "a dict with str keys")
        plain: object = {name: _score(row, field, v) for name, v in scores.items()}
    else:
        plain = _score(row, field, scores)
    return _JSON.encode(plain)


def _score(row: StoredResult, field: str, value: object) -> bool | int | float | str:
    if type(value) in (bool, int):
        return value  # type: ignore[return-value]
    if isinstance(value, float):
        value = float(value)  # np.float64 is a float: json would write it the same
        if value != value and struct.pack("<d", value) != _NAN_BITS:
            return _NAN_PREFIX + struct.pack("<d", value).hex()
        return value
    if isinstance(value, numbers.Real) and hasattr(value, "item"):
        return _score(row, field, value.item())  # numpy scalar: its Python value
    raise _bad_row(row, field, value, "a number or a dict of str to number")


def _decode_scores(text: str) -> Scores:
    scores = json.loads(text)
    if isinstance(scores, dict):
        return {name: _decode_score(v) for name, v in scores.items()}
    return _decode_score(scores)


def _decode_score(value: Any) -> Any:
    if isinstance(value, str):
        return struct.unpack("<d", bytes.fromhex(value.removeprefix(_NAN_PREFIX)))[0]
    return value
