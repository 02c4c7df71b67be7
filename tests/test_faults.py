"""Real faults in real worker processes: the search completes and loses nothing.

Each crash case kills (or breaks) the worker fitting one candidate, on every
split, while the other candidates fit normally on the same pool. After the
search: every good candidate has the scores of an undisturbed sequential run,
the bad one is recorded as failed with the right reason, the store holds every
result, each crash was retried exactly ``retries`` times, and the pool runs the
next search.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV as SkGridSearchCV

from gridfold import GridSearchCV
from gridfold.exceptions import ExecutorError
from gridfold.store import MemoryStore, SQLiteStore
from gridfold.testing.executors import Majority

PROCESS_BACKENDS = ["processes", "dask"]  # every process-based executor
FIT_TIMEOUT = 3.0
#: Backends that can stop a running fit; the others refuse fit_timeout (tested below).
TIMEOUT_BACKENDS = ("processes",)


class _Unpicklable(float):
    """A score scikit-learn accepts (a Number) that cannot be sent back."""

    def __reduce__(self) -> Any:
        raise TypeError("this score refuses to be pickled")


class Faulty(Majority):
    """Predicts the majority class; ``fault`` decides how its fit misbehaves.

    Every attempt to fit appends a line to ``log`` (when given), so tests can
    count attempts across worker processes. ``once=True`` faults only on the
    first fit of a given training-set size (so the retry, and later fits, succeed).
    """

    def __init__(self, fault: str = "none", log: str | None = None, once: bool = False) -> None:
        self.fault = fault
        self.log = log
        self.once = once

    def fit(self, X: Any, y: Any) -> Faulty:
        first = self._record(len(y))
        if self.fault not in ("none", "ok") and (first or not self.once):
            _FAULTS[self.fault]()
        return super().fit(X, y)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        value = float(np.mean(self.predict(X) == y))
        return _Unpicklable(value) if self.fault == "unpicklable" else value

    def _record(self, n: int) -> bool:
        """Log this attempt; True if it is the first for this training set size.

        "First" is decided by an atomic exclusive create of a claim file, not by
        reading the log back: two workers may append their lines before either
        reads, and then neither would see itself as first.
        """
        if self.log is None:
            return True
        with open(self.log, "a") as f:
            f.write(f"{self.fault} {n}\n")
        try:
            os.close(os.open(f"{self.log}.{self.fault}.{n}.first", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True


def _sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _raise() -> None:
    raise RuntimeError("this fit raises")


_FAULTS = {
    "segfault": faulthandler._sigsegv,
    "exit": lambda: os._exit(3),
    "sigkill": _sigkill_self,
    "raise": _raise,
    "hang": lambda: time.sleep(600),
    "unpicklable": lambda: None,  # the fit is fine; its score cannot be pickled
}

#: fault -> (error_kind, words in the failure's last line, attempts per split)
CASES = {
    "segfault": ("crash", "SIGSEGV", 2),
    "exit": ("crash", "exited with code 3", 2),
    "sigkill": ("crash", "SIGKILL", 2),
    "raise": ("exception", "RuntimeError: this fit raises", 1),
    "hang": ("timeout", "FitTimeout", 1),
    "unpicklable": ("exception", "ResultNotPicklable", 1),
}

N_SPLITS = 3


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


def _grid(fault: str, log: Path) -> dict[str, list[Any]]:
    return {"fault": ["none", fault, "ok"], "log": [str(log)]}  # two distinct good ones


def _expected(iris: tuple, grid: dict) -> dict[str, Any]:
    good = {**grid, "fault": ["none"]}
    return SkGridSearchCV(Faulty(), good, cv=N_SPLITS).fit(*iris).cv_results_


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("fault", list(CASES))
def test_fault_fails_only_its_candidate(
    fault: str, backend: str, iris: tuple, tmp_path: Path
) -> None:
    kind, words, attempts = CASES[fault]
    if fault == "hang" and backend not in TIMEOUT_BACKENDS:
        pytest.skip(f"{backend} cannot stop a running fit: fit_timeout is refused")
    timeout = FIT_TIMEOUT if backend in TIMEOUT_BACKENDS else None
    log = tmp_path / "attempts.log"
    store = MemoryStore()
    search = GridSearchCV(
        Faulty(),
        _grid(fault, log),
        cv=N_SPLITS,
        n_jobs=2,
        backend=backend,
        store=store,
        fit_timeout=timeout,
        retries=1,
    )
    with pytest.warns(FitFailedWarning):
        search.fit(*iris)
    res = search.cv_results_
    # Fits on the 100-row training folds (the refit on all 150 rows is not counted).
    lines = [line for line in log.read_text().splitlines() if line.endswith(" 100")]

    # The good candidates: scores of an undisturbed run.
    expected = _expected(iris, _grid(fault, log))
    for c in (0, 2):
        for s in range(N_SPLITS):
            assert res[f"split{s}_test_score"][c] == expected[f"split{s}_test_score"][0]
    # The faulty one: failed on every split, with its reason, attempted as often as allowed.
    assert all(np.isnan(res[f"split{s}_test_score"][1]) for s in range(N_SPLITS))
    rows = store.rows()
    assert len(rows) == 3 * N_SPLITS  # nothing finished was lost
    failed = [r for r in rows if r.fit_error is not None]
    assert len(failed) == N_SPLITS
    for row in failed:
        assert row.error_kind == kind
        assert words in row.fit_error.strip().splitlines()[-1]
    assert sum(line.startswith(f"{fault} ") for line in lines) == attempts * N_SPLITS
    assert sum(line.split()[0] in ("none", "ok") for line in lines) == 2 * N_SPLITS
    assert search.best_params_["fault"] == "none"

    # The pool still works.
    again = GridSearchCV(Faulty(), {"fault": ["none"]}, cv=N_SPLITS, n_jobs=2, backend=backend)
    assert again.fit(*iris).best_score_ == expected["mean_test_score"][0]


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("fault", ["segfault", "sigkill", "exit"])
def test_a_crash_that_does_not_repeat_is_retried_to_success(
    fault: str, backend: str, iris: tuple, tmp_path: Path
) -> None:
    log = tmp_path / "attempts.log"
    grid = {"fault": [fault], "log": [str(log)], "once": [True]}
    # refit=False: the refit would be the first fit on all rows, so it would crash the driver.
    search = GridSearchCV(
        Faulty(), grid, cv=N_SPLITS, n_jobs=2, backend=backend, retries=1, refit=False
    )
    search.fit(*iris)
    # The first fit crashes (its log line is written first), its retry and the others succeed.
    assert len(log.read_text().splitlines()) == N_SPLITS + 1
    expected = _expected(iris, grid)
    for s in range(N_SPLITS):
        assert search.cv_results_[f"split{s}_test_score"][0] == expected[f"split{s}_test_score"][0]


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_retries_zero_records_the_first_crash(backend: str, iris: tuple, tmp_path: Path) -> None:
    log = tmp_path / "attempts.log"
    grid = {"fault": ["sigkill"], "log": [str(log)], "once": [True]}
    search = GridSearchCV(
        Faulty(),
        {**grid, "fault": ["none", "sigkill"]},
        cv=N_SPLITS,
        n_jobs=2,
        backend=backend,
        retries=0,
        refit=False,
    )
    with pytest.warns(FitFailedWarning):
        search.fit(*iris)
    assert np.isnan(search.cv_results_["mean_test_score"][1])
    assert sum(line.startswith("sigkill") for line in log.read_text().splitlines()) == N_SPLITS


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_crash_with_error_score_raise_raises_after_storing(
    backend: str, iris: tuple, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    grid = {"fault": ["none", "segfault"]}
    search = GridSearchCV(
        Faulty(),
        grid,
        cv=N_SPLITS,
        n_jobs=2,
        backend=backend,
        error_score="raise",
        store=store,
        retries=0,
    )
    with pytest.raises(ExecutorError, match="SIGSEGV"):
        search.fit(*iris)
    assert all(r.error_kind in (None, "crash") for r in store.rows())
    assert any(r.error_kind == "crash" for r in store.rows())
    store.close()


def test_a_resumed_search_retries_crashes_and_keeps_exceptions(iris: tuple, tmp_path: Path) -> None:
    log = tmp_path / "attempts.log"
    db = tmp_path / "r.db"
    grid = {"fault": ["none", "sigkill", "raise"], "log": [str(log)]}
    kwargs: dict[str, Any] = dict(cv=N_SPLITS, n_jobs=2, backend="processes", store=db, retries=0)
    with pytest.warns(FitFailedWarning):
        GridSearchCV(Faulty(), grid, **kwargs).fit(*iris)
    first = log.read_text().splitlines()
    with pytest.warns(FitFailedWarning):
        GridSearchCV(Faulty(), grid, **kwargs).fit(*iris)
    rerun = [x for x in log.read_text().splitlines()[len(first) :] if x.endswith(" 100")]
    # Only the crashed fits ran again: the good ones and the raising ones were kept.
    assert sorted({line.split()[0] for line in rerun}) == ["sigkill"]
    assert len(rerun) == N_SPLITS


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fit_timeout": 0}, "fit_timeout=0 is invalid"),
        ({"fit_timeout": "1s"}, "fit_timeout='1s' is invalid"),
        ({"fit_timeout": 1, "backend": "threads"}, "cannot .a thread or a Dask task"),
        ({"retries": -1}, "retries=-1 is invalid"),
        ({"store": 3}, "store"),
    ],
)
def test_bad_fault_tolerance_arguments(kwargs: dict, match: str, iris: tuple) -> None:
    from gridfold.exceptions import ParameterError

    with pytest.raises(ParameterError, match=match):
        GridSearchCV(Faulty(), {"fault": ["none"]}, cv=N_SPLITS, **kwargs).fit(*iris)
