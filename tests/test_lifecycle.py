"""One lifecycle for every entry point (:mod:`gridfold.lifecycle`).

The options are checked once, before anything starts; a session closes what
it opened, even when a study raises; the searches, ``compare()`` and
``gridfold run`` hold no executor or store wiring of their own; and
``_run_search`` subclasses, scikit-learn's extension point, run on one
session for the whole ``fit``.
"""

from __future__ import annotations

import ast
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.model_selection._search import BaseSearchCV
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_info

import gridfold
from gridfold.exceptions import ParameterError
from gridfold.lifecycle import Execution, Session
from gridfold.store import MemoryStore, SQLiteStore
from gridfold.tasks import Model, Study, StudyData

ROOT = Path(__file__).resolve().parents[1]
X, y = load_iris(return_X_y=True)


# ---------------------------------------------------------------------------
# Execution: every option checked once, up front
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"n_jobs": 0}, "n_jobs=0 is invalid"),
        ({"backend": "gpu"}, "Unknown backend 'gpu'"),
        ({"store": 3}, "store must be None"),
        ({"retries": -1}, "retries=-1 is invalid"),
        ({"fit_timeout": 0}, "fit_timeout=0 is invalid"),
        ({"fit_timeout": 5, "backend": "threads"}, "can stop a running fit"),
        ({"share": "yes"}, "share='yes' is invalid"),
        ({"progress": None}, "progress=None is invalid"),
        ({"options": {"scheduler": "tcp://x:1"}}, "takes no options"),
        ({"scheduler": "tcp://x:1", "backend": "processes"}, "takes no options"),
        ({"scheduler": 8786}, "scheduler=8786 is invalid"),
        ({"scheduler": ""}, "scheduler='' is invalid"),
        ({"backend": "dask", "fit_timeout": 5}, "can stop a running fit"),
    ],
)
def test_each_bad_option_is_a_parameter_error_with_a_fix(options: dict, words: str) -> None:
    with pytest.raises(ParameterError, match=words) as err:
        Execution(**options).checked()
    assert "fix" in str(err.value).lower()


def test_checked_resolves_the_backend() -> None:
    assert Execution(n_jobs=1).checked().backend == "sequential"
    assert Execution(n_jobs=2).checked().backend == "processes"
    assert Execution(n_jobs=1, fit_timeout=5).checked().backend == "processes"
    # A scheduler picks Dask, and becomes the backend's option.
    checked = Execution(scheduler="tcp://127.0.0.1:1").checked()
    assert checked.backend == "dask"
    assert checked.options == {"scheduler": "tcp://127.0.0.1:1"}


@pytest.mark.parametrize("entry", ["search", "compare"])
def test_bad_options_fail_before_the_data_is_looked_at(entry: str) -> None:
    bad_X = "not an array"  # would fail data checks; the option must fail first
    with pytest.raises(ParameterError, match="retries"):
        if entry == "search":
            gridfold.GridSearchCV(SVC(), {"C": [1]}, retries=-1).fit(bad_X, y)
        else:
            gridfold.compare([SVC()], bad_X, y, retries=-1)


# ---------------------------------------------------------------------------
# Session: opens, runs, closes
# ---------------------------------------------------------------------------


def _study() -> Study:
    splits = tuple(StratifiedKFold(3).split(X, y))
    model = Model("tree", DecisionTreeClassifier(random_state=0), ({"max_depth": 1},), None)
    from sklearn.metrics import check_scoring

    model = Model(model.name, model.estimator, model.candidates, check_scoring(model.estimator))
    return Study(models=(model,), data=StudyData(X, y, splits))


def test_a_session_closes_the_store_it_opened_and_keeps_the_callers(tmp_path: Path) -> None:
    with Session(Execution(store=tmp_path / "r.db")) as session:
        opened = session.store
        assert len(session.run(_study()).results) == 3
    assert opened is not None
    with pytest.raises(gridfold.exceptions.StoreError):
        len(opened)  # closed
    mine = MemoryStore()
    with Session(Execution(store=mine)) as session:
        session.run(_study())
    assert len(mine) == 3  # still open: it is the caller's


def _blas_threads() -> list[int]:
    return sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_a_session_shuts_its_executor_down_when_a_study_raises() -> None:
    before = _blas_threads()
    with pytest.raises(ZeroDivisionError), Session(Execution(n_jobs=2, backend="threads")) as s:
        assert s.executor.name == "threads"
        raise ZeroDivisionError
    assert _blas_threads() == before  # the thread executor's BLAS cap was lifted
    with pytest.raises(RuntimeError, match="not open"):
        _ = s.executor


def test_the_entry_points_hold_no_executor_or_store_wiring() -> None:
    """Only the lifecycle opens executors and stores and runs studies."""
    wiring = {"get_executor", "open_store", "run_study", "progress_callback"}
    for module in ("search", "searchcv", "comparison", "runner"):
        tree = ast.parse((ROOT / "gridfold" / f"{module}.py").read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & wiring, (module, names & wiring)


# ---------------------------------------------------------------------------
# compare(): the searches' execution options, resume included
# ---------------------------------------------------------------------------


class Logged(ClassifierMixin, BaseEstimator):
    """A depth-2 tree that appends a line to ``log`` per fit (counts fits across processes)."""

    def __init__(self, log: str = "", depth: int = 2) -> None:
        self.log = log
        self.depth = depth

    def fit(self, X: Any, y: Any) -> Logged:
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{self.depth}\n")
        self.tree_ = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.tree_.predict(X)


def _fits(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.parametrize(("backend", "n_jobs"), [("sequential", 1), ("processes", 2)])
def test_compare_resumes_from_its_store(backend: str, n_jobs: int, tmp_path: Path) -> None:
    log, db = tmp_path / "fits.log", tmp_path / "r.db"
    models = {"a": Logged(str(log), 1), "b": Logged(str(log), 3)}
    kwargs: dict[str, Any] = dict(cv=5, n_jobs=n_jobs, backend=backend, store=db)
    first = gridfold.compare(models, X, y, **kwargs)
    assert _fits(log) == 10
    again = gridfold.compare(models, X, y, **kwargs)
    assert _fits(log) == 10  # nothing refitted
    cols = ["model", "split", "test_score"]
    assert again.scores[cols].equals(first.scores[cols])
    grown = gridfold.compare({**models, "c": Logged(str(log), 5)}, X, y, **kwargs)
    assert _fits(log) == 15  # only the new model's fits
    for name, est in {**models, "c": Logged("", 5)}.items():
        expected = cross_validate(est, X, y, cv=StratifiedKFold(5))["test_score"]
        got = grown.scores.loc[grown.scores["model"] == name, "test_score"].to_numpy()
        np.testing.assert_array_equal(got, expected)


COMPARE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import load_digits
    import gridfold

    class Slow(ClassifierMixin, BaseEstimator):
        def __init__(self, log="", c=0):
            self.log, self.c = log, c
        def fit(self, X, y):
            with open(self.log, "a") as f:
                f.write(f"{self.c}\\n")
            time.sleep(0.05)
            self.classes_ = np.unique(y)
            return self
        def predict(self, X):
            return np.full(len(X), self.classes_[self.c % len(self.classes_)])

    log, db, out = sys.argv[1:4]
    X, y = load_digits(return_X_y=True)
    models = {f"m{c}": Slow(log, c) for c in range(8)}
    res = gridfold.compare(models, X, y, cv=5, n_jobs=2, backend="processes", store=db)
    res.scores[["model", "split", "test_score"]].to_csv(out, index=False)
    """
)


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        try:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_a_killed_compare_reruns_only_what_was_not_stored(tmp_path: Path) -> None:
    script, log, db = tmp_path / "run.py", tmp_path / "fits.log", tmp_path / "r.db"
    script.write_text(COMPARE_SCRIPT)
    command = [sys.executable, str(script), str(log), str(db)]
    proc = subprocess.Popen([*command, str(tmp_path / "killed.csv")])
    deadline = time.monotonic() + 300
    while _stored(db) < 10:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored, attempted = _stored(db), _fits(log)
    assert stored < 40  # killed midway
    subprocess.run([*command, str(tmp_path / "resumed.csv")], check=True, timeout=300)
    assert _fits(log) - attempted == 40 - stored  # exactly the fits the store did not hold
    subprocess.run([*command, str(tmp_path / "again.csv")], check=True, timeout=300)
    assert _fits(log) - attempted == 40 - stored  # a complete store: no fit at all
    resumed = (tmp_path / "resumed.csv").read_text()
    assert resumed == (tmp_path / "again.csv").read_text()


# ---------------------------------------------------------------------------
# _run_search: scikit-learn's extension point, on one session
# ---------------------------------------------------------------------------


def _two_rounds(self: Any, evaluate_candidates: Any) -> None:
    # Like scikit-learn's test_custom_run_search, with another cv in the second round.
    evaluate_candidates([{"max_depth": 1}, {"max_depth": 2}])
    evaluate_candidates([{"min_samples_split": 5}], cv=KFold(5, shuffle=True, random_state=0))


class SkTwoRounds(BaseSearchCV):
    def __init__(self, estimator: Any, **kwargs: Any) -> None:
        super().__init__(estimator, **kwargs)

    _run_search = _two_rounds


class TwoRounds(gridfold.GridSearchCV):
    """A gridfold search whose subclass overrides _run_search, as scikit-learn documents."""

    def __init__(self, estimator: Any, **kwargs: Any) -> None:
        super().__init__(estimator, {}, **kwargs)

    _run_search = _two_rounds


@pytest.mark.parametrize(("backend", "n_jobs"), [("sequential", 1), ("processes", 2)])
def test_a_run_search_subclass_runs_on_one_session(
    backend: str, n_jobs: int, tmp_path: Path, cv_results_equal: Any
) -> None:
    est = DecisionTreeClassifier(random_state=0)
    expected = SkTwoRounds(est, return_train_score=True).fit(X, y)
    store = SQLiteStore(tmp_path / "r.db")
    got = TwoRounds(est, return_train_score=True, backend=backend, n_jobs=n_jobs, store=store)
    got.fit(X, y)
    cv_results_equal(got.cv_results_, expected.cv_results_)
    assert got.best_params_ == expected.best_params_ and not got._refit_during_search
    assert len(store) == 15  # both rounds kept
    store.close()
