"""``gridfold run`` on a real SLURM, through dask-jobqueue's ``SLURMCluster``.

``.ci/run`` brings SLURM up with ``tests/slurm/cluster.sh start`` (and down
after) and sets ``GRIDFOLD_REQUIRE_SLURM=1``, so there a missing SLURM fails
these tests; elsewhere they are skipped unless ``cluster.sh status`` says SLURM
is up (start it by hand, as root, to run them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from gridfold.store import SQLiteStore

pytest.importorskip("dask_jobqueue")

SCRIPT = Path(__file__).resolve().parent / "slurm" / "cluster.sh"


def _slurm_is_up() -> bool:
    if shutil.which("srun") is None:
        return False
    return subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def slurm() -> None:
    if _slurm_is_up():
        return
    if os.environ.get("GRIDFOLD_REQUIRE_SLURM") == "1":
        pytest.fail("SLURM is not up; .ci/run starts it with tests/slurm/cluster.sh start")
    pytest.skip("SLURM is not running here (as root: bash tests/slurm/cluster.sh start)")


def _study(folder: Path, cluster: str) -> Path:
    study = folder / "study.toml"
    study.write_text(
        textwrap.dedent(
            """
            [data]
            source = "sklearn:iris"
            [cv]
            n_splits = 3
            shuffle = true
            random_state = 0
            [[model]]
            estimator = "sklearn.svm.SVC"
            grid = { C = [0.1, 1.0, 10.0], gamma = ["scale", 0.1] }
            """
        )
        + cluster
    )
    return study


def _jobs() -> dict[int, tuple[str, str]]:
    """Every job slurmctld still remembers (finished ones for MinJobAge): id -> (name, state)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True)
    jobs = {}
    for line in out.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "JobId" in fields:
            jobs[int(fields["JobId"])] = (fields.get("JobName", ""), fields.get("JobState", ""))
    return jobs


def _dask_jobs_after(before: dict[int, tuple[str, str]]) -> dict[int, str]:
    """The Dask worker jobs submitted since ``before``, once none is pending or running.

    Cancelling is asynchronous (scancel returns before the job ends), so wait
    for the jobs to leave PENDING and RUNNING, up to a minute.
    """
    deadline = time.monotonic() + 60
    while True:
        new = {
            job: state
            for job, (name, state) in _jobs().items()
            if job not in before and name == "dask-worker"
        }
        if not any(state in ("PENDING", "RUNNING") for state in new.values()):
            return new
        assert time.monotonic() < deadline, f"jobs still live after the run: {new}"
        time.sleep(0.5)


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridfold", "run", *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
    )


def _expected_scores() -> list[float]:
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(SVC(), grid, cv=cv).fit(X, y)
    return sorted(float(s) for s in search.cv_results_["mean_test_score"])


def _stored_means(db: Path) -> list[float]:
    with SQLiteStore(db) as store:
        rows = store.rows()
    by_candidate: dict[str, list[float]] = {}
    for row in rows:
        assert row.fit_error is None
        by_candidate.setdefault(row.params, []).append(float(row.test_scores))  # type: ignore[arg-type]
    return sorted(sum(v) / len(v) for v in by_candidate.values())


def test_a_cluster_table_runs_the_study_on_slurm_jobs(tmp_path: Path) -> None:
    cluster = textwrap.dedent(
        f"""
        [cluster]
        kind = "slurm"
        jobs = 2
        cores = 1
        memory = "1GB"
        walltime = "00:10:00"
        queue = "debug"
        interface = "lo"
        log_directory = "{tmp_path}"
        """
    )
    before = _jobs()
    run = _run(tmp_path, str(_study(tmp_path, cluster)), "--store", str(tmp_path / "r.db"))
    assert run.returncode == 0, run.stderr
    assert "dask x" in run.stderr and "Dask dashboard: http" in run.stderr
    assert "SVC" in run.stdout  # the leaderboard
    assert _stored_means(tmp_path / "r.db") == pytest.approx(_expected_scores(), rel=1e-12)
    # Two jobs were asked for (the study may end before the second starts: it joins late),
    # and none outlives the run.
    assert len(_dask_jobs_after(before)) == 2
    assert list(tmp_path.glob("dask-worker-*.err")), "no batch job ran"


def test_cluster_and_jobs_flags_override_the_table(tmp_path: Path) -> None:
    cluster = textwrap.dedent(
        f"""
        [cluster]
        queue = "debug"
        interface = "lo"
        memory = "1GB"
        log_directory = "{tmp_path}"
        """
    )
    study = _study(tmp_path, cluster)
    before = _jobs()
    run = _run(tmp_path, str(study), "--cluster", "slurm", "--jobs", "3", "--no-store")
    assert run.returncode == 0, run.stderr
    assert len(_dask_jobs_after(before)) == 3  # --jobs 3, not the table's default of 1
