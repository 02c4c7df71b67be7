"""The Dask backend on a real cluster: ``dask scheduler`` and ``dask worker`` in subprocesses.

The executor contract and the fault table run on ``backend="dask"`` with
workers started by the executor (tests/test_executors.py, tests/test_faults.py).
Here the cluster is someone else's, started with Dask's own commands on
127.0.0.1: searches, ``compare`` and ``gridfold run`` reach it by address or
client; a worker SIGKILLed in the middle of a study costs nothing; a worker
that joins late gets work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

distributed = pytest.importorskip("distributed")

import gridfold  # noqa: E402
from gridfold.engine import run_study  # noqa: E402
from gridfold.executors import get_executor  # noqa: E402
from gridfold.store import SQLiteStore  # noqa: E402
from gridfold.tasks import Model, Study, StudyData  # noqa: E402
from gridfold.testing.executors import Majority  # noqa: E402

X, y = load_iris(return_X_y=True)


class Slow(Majority):
    """Predicts the majority class after ``seconds`` of sleep: a fit that takes a while."""

    def __init__(self, seconds: float = 0.0, tag: int = 0) -> None:
        self.seconds = seconds
        self.tag = tag

    def fit(self, X: Any, y: Any) -> Slow:
        time.sleep(self.seconds)
        return super().fit(X, y)


GRID = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
BIN = Path(sys.executable).parent


def _dask_command(name: str) -> list[str]:
    """The ``dask`` command of this environment (``dask scheduler``, ``dask worker``)."""
    return [str(BIN / "dask"), name] if (BIN / "dask").exists() else ["dask", name]


class Cluster:
    """A scheduler and its workers, each a real process of the ``dask`` command."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.log = open(folder / "cluster.log", "ab")  # noqa: SIM115
        self.scheduler = self._start(
            [
                *_dask_command("scheduler"),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(self.file),
            ]
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert time.monotonic() < deadline, (folder / "cluster.log").read_text()
            time.sleep(0.1)
        self.client = distributed.Client(scheduler_file=str(self.file), set_as_default=False)
        self.address = self.client.scheduler.address

    def _start(self, command: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # this test module
        return subprocess.Popen(command, stdout=self.log, stderr=self.log, env=env)

    def add_worker(self) -> None:
        """Start one more ``dask worker`` (a nanny and its worker process); wait for it."""
        before = len(self.client.scheduler_info(n_workers=-1)["workers"])
        self.workers.append(
            self._start(
                [
                    *_dask_command("worker"),
                    "--scheduler-file",
                    str(self.file),
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ]
            )
        )
        self.client.wait_for_workers(before + 1, timeout=120)

    def worker_pids(self) -> list[int]:
        return sorted(int(pid) for pid in self.client.run(os.getpid).values())

    def close(self) -> None:
        # The scheduler closes its workers' nannies with it: 2 s here, where a SIGTERM to
        # each nanny took 8 (it waits out its worker's shutdown).
        with contextlib.suppress(Exception):
            self.client.shutdown()
        self.client.close()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.add_worker()
        cluster.add_worker()
        yield cluster
    finally:
        cluster.close()


def _same_search(ours: Any, theirs: Any) -> None:
    for key in ("mean_test_score", "rank_test_score", "std_test_score"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_


def test_a_search_on_a_scheduler_address_equals_sklearn(cluster: Cluster) -> None:
    ours = gridfold.GridSearchCV(SVC(), GRID, cv=5, scheduler=cluster.address).fit(X, y)
    theirs = SkGridSearchCV(SVC(), GRID, cv=5).fit(X, y)
    _same_search(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_random_search_and_compare_take_a_client_and_leave_it_open(cluster: Cluster) -> None:
    from sklearn.model_selection import RandomizedSearchCV as SkRandomizedSearchCV

    kwargs: dict[str, Any] = dict(n_iter=4, cv=3, random_state=0)
    ours = gridfold.RandomizedSearchCV(SVC(), GRID, scheduler=cluster.client, **kwargs)
    _same_search(ours.fit(X, y), SkRandomizedSearchCV(SVC(), GRID, **kwargs).fit(X, y))
    result = gridfold.compare({"svc": SVC(), "slow": Slow()}, X, y, cv=3, scheduler=cluster.client)
    assert set(result.scores["model"]) == {"svc", "slow"}
    assert cluster.client.status == "running"  # the caller's client is the caller's to close


def _slow_study(n_candidates: int, seconds: float, scorer: Any = None) -> Study:
    splits = tuple(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    candidates = tuple({"seconds": seconds, "tag": i} for i in range(n_candidates))
    model = Model("slow", Slow(), candidates, scorer or check_scoring(Slow()))
    return Study(models=(model,), data=StudyData(X, y, splits))


def test_a_worker_killed_mid_study_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    study = _slow_study(8, 0.1)
    expected = sorted((r.task, r.test_scores) for r in run_study(study, get_executor(None, 1)))
    store = SQLiteStore(tmp_path / "r.db")
    killed: list[int] = []

    def kill_one_worker(result: Any) -> None:
        if len(store) == 3 and not killed:  # mid-study: 37 fits still to come
            killed.append(cluster.worker_pids()[0])
            os.kill(killed[0], signal.SIGKILL)

    with get_executor("dask", None, options={"scheduler": cluster.address}) as ex:
        results = run_study(study, ex, store=store, on_result=kill_one_worker)
    assert killed
    assert sorted((r.task, r.test_scores) for r in results) == expected
    rows = store.rows()
    assert len(rows) == study.n_tasks and all(r.fit_error is None for r in rows)
    store.close()
    cluster.client.wait_for_workers(2, timeout=120)  # its nanny restarts it


def test_a_worker_that_joins_late_gets_work(tmp_path: Path) -> None:
    late = Cluster(tmp_path)
    try:
        late.add_worker()
        first = set(late.worker_pids())
        study = _slow_study(10, 0.05, scorer=_score_and_pid)
        expected = sorted((r.task, r.test_scores["score"]) for r in _run(study, None))  # type: ignore[index]
        pids: set[float] = set()

        def grow(result: Any) -> None:
            pids.add(result.test_scores["pid"])
            if len(late.workers) == 1:
                late.add_worker()  # blocks the driver until it has joined

        results = _run(study, late.client, on_result=grow)
        assert sorted((r.task, r.test_scores["score"]) for r in results) == expected  # type: ignore[index]
        assert {int(p) for p in pids} - first, "the late worker ran nothing"
    finally:
        late.close()


def _run(study: Study, scheduler: Any, **kwargs: Any) -> list[Any]:
    backend, options = (None, {}) if scheduler is None else ("dask", {"scheduler": scheduler})
    with get_executor(backend, None, options=options) as ex:
        return run_study(study, ex, **kwargs)


def _score_and_pid(est: Any, X: Any, y: Any) -> dict[str, float]:
    return {"score": float(np.mean(est.predict(X) == y)), "pid": float(os.getpid())}


def test_gridfold_run_on_a_scheduler_prints_the_dashboard(cluster: Cluster, tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text(
        textwrap.dedent(
            f"""
            [data]
            source = "sklearn:iris"
            [cv]
            n_splits = 3
            [run]
            scheduler = "{cluster.address}"
            [[model]]
            estimator = "sklearn.svm.SVC"
            grid = {{ C = [0.1, 1.0, 10.0] }}
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "gridfold", "run", str(study), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "dask x 2" in run.stderr
    assert "Dask dashboard: http://127.0.0.1:" in run.stderr
    assert "SVC" in run.stdout  # the leaderboard


def test_a_script_without_a_main_guard_runs_on_dask_workers_started_here(tmp_path: Path) -> None:
    """Workers come from the ``dask worker`` command: the script is not imported again."""
    script = tmp_path / "search.py"
    script.write_text(
        textwrap.dedent(
            """
            from sklearn.datasets import load_iris
            from sklearn.svm import SVC
            import gridfold

            X, y = load_iris(return_X_y=True)
            search = gridfold.GridSearchCV(SVC(), {"C": [1, 10]}, cv=3, backend="dask", n_jobs=2)
            print("best", search.fit(X, y).best_params_)
            """
        )
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("best") == 1


def test_records_torn_by_a_death_in_mid_write_are_dropped() -> None:
    import pickle

    from gridfold.executors.dask import _split_records

    records = [pickle.dumps([i, "x" * i]) for i in range(3)]
    whole = b"".join(records)
    assert _split_records(whole) == records
    assert _split_records(whole[:-3]) == records[:2]  # the last one torn
    assert _split_records(b"") == []


def test_units_run_one_by_one_combine_into_the_batchs_outcome() -> None:
    """With no note to read, a batch's units rerun alone: what came back, and who died."""
    from concurrent.futures import Future

    from gridfold.executors.dask import _combine
    from gridfold.executors.pool import WorkerLost
    from gridfold.tasks import Task

    def part(value: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)
        return future

    b, c = Task(0, 1, 0), Task(0, 2, 0)  # the batch (a, b, c); a came back
    target: Future[Any] = Future()
    lost_b = WorkerLost([], b, (), "was killed by SIGKILL")
    lost_c = WorkerLost([], c, (), "was killed by SIGKILL")
    _combine([part(["ra"]), part(lost_b), part(lost_c)], target)
    error = target.exception()
    assert isinstance(error, WorkerLost)
    assert (error.done, error.lost, error.rest) == (["ra"], b, (c,))  # c dies alone again

    target = Future()
    _combine([part(["ra"]), part(["rb"])], target)
    assert target.result() == ["ra", "rb"]

    target = Future()
    _combine([part(["ra"]), part(ValueError("raised"))], target)
    assert isinstance(target.exception(), ValueError)


class Killer(Majority):
    """SIGKILLs the worker process that fits it when ``kill`` is set."""

    def __init__(self, kill: bool = False) -> None:
        self.kill = kill

    def fit(self, X: Any, y: Any) -> Killer:
        if self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(X, y)


def test_without_a_note_a_batchs_units_rerun_one_by_one_to_find_the_killer(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A note the driver cannot read yet (an NFS folder's late view): the batch's units run
    alone, and the batch's outcome names the unit that killed its worker and keeps the others.
    """
    import gridfold.executors.dask as dask_executor
    from gridfold.executors.pool import WorkerLost
    from gridfold.tasks import Task, TaskResult

    # Only the driver's reading of the note is taken away; the workers still write it.
    monkeypatch.setattr(dask_executor, "_read_note", lambda handle, host, pid: None)
    alone = dask_executor.DaskExecutor._one_by_one
    calls: list[int] = []

    def one_by_one(self: Any, handle: Any, units: Any, target: Any) -> None:
        calls.append(len(units))
        alone(self, handle, units, target)

    monkeypatch.setattr(dask_executor.DaskExecutor, "_one_by_one", one_by_one)
    splits = tuple(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    model = Model("k", Killer(), ({"kill": False}, {"kill": True}), check_scoring(Killer()))
    study = Study(models=(model,), data=StudyData(X, y, splits))
    batch = [Task(0, 0, 0), Task(0, 1, 0), Task(0, 0, 1), Task(0, 0, 2)]
    with get_executor("dask", None, options={"scheduler": cluster.address}) as ex:
        handle = ex.share(study)
        try:
            error = ex.submit(handle, batch).exception(timeout=240)
        finally:
            ex.release(handle)
    assert calls == [len(batch)]
    assert isinstance(error, WorkerLost)
    assert error.lost == Task(0, 1, 0) and error.rest == ()
    done = sorted(r.task for r in error.done if isinstance(r, TaskResult))
    assert done == [Task(0, 0, 0), Task(0, 0, 1), Task(0, 0, 2)]
    cluster.client.wait_for_workers(2, timeout=120)  # its nanny restarts it


@pytest.mark.parametrize("dropped", ["loser", "winner"])
def test_the_tail_refit_bet_on_dask_is_taken_or_cancelled(
    cluster: Cluster, tmp_path: Path, dropped: str
) -> None:
    """One fit left to run (the rest stored): a worker is idle, the leader known.

    Dropping a losing fit keeps the leader: the worker's refit is the search's.
    Dropping the winner's changes it: the bet is cancelled and the caller refits.
    """
    import sqlite3

    from gridfold.store.keys import candidate_repr

    store = tmp_path / "s.db"
    theirs = SkGridSearchCV(SVC(), GRID, cv=5).fit(X, y)
    kwargs: dict[str, Any] = dict(cv=5, scheduler=cluster.address, store=store)
    gridfold.GridSearchCV(SVC(), GRID, **kwargs).fit(X, y)
    best = theirs.best_index_
    drop = best if dropped == "winner" else (best + 1) % len(theirs.cv_results_["params"])
    with sqlite3.connect(store) as db:
        params = candidate_repr(theirs.cv_results_["params"][drop])
        db.execute("DELETE FROM results WHERE params = ? AND split = 0", (params,))
    ours = gridfold.GridSearchCV(SVC(), GRID, **kwargs).fit(X, y)
    assert ours._refit_during_search is (dropped == "loser")
    _same_search(ours, theirs)
    np.testing.assert_array_equal(
        ours.best_estimator_.dual_coef_, theirs.best_estimator_.dual_coef_
    )
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_halving_rungs_continue_on_dask(cluster: Cluster) -> None:
    """A seeded forest's rungs grow the last rung's forests, sent back from Dask workers."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection._search_successive_halving import (
        HalvingGridSearchCV as SkHalvingGridSearchCV,
    )

    grid = {"max_depth": [2, 4, None], "max_features": [0.3, 0.6, 1.0]}
    kwargs: dict[str, Any] = dict(
        cv=5, resource="n_estimators", min_resources=3, max_resources=27, factor=3
    )
    ours = gridfold.HalvingGridSearchCV(
        RandomForestClassifier(random_state=0), grid, scheduler=cluster.address, **kwargs
    ).fit(X, y)
    theirs = SkHalvingGridSearchCV(RandomForestClassifier(random_state=0), grid, **kwargs)
    _same_search(ours, theirs.fit(X, y))
    assert ours.n_candidates_ == [9, 3, 1]
    assert ours._continued_per_rung == [0, 3 * 5, 1 * 5]  # every survivor grew its forest
    np.testing.assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))
