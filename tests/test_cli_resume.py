"""Kill ``gridfold run`` for real (SIGKILL, SIGTERM, SIGINT), rerun it, compare.

The study is slow enough (a few seconds of SVC fits on digits) to be killed
midway; the store is read with sqlite3 directly, as another process would.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

STUDY = """\
[data]
source = "sklearn:digits"

[cv]
splitter = "StratifiedKFold"
n_splits = 5

[run]
scoring = "accuracy"
n_jobs = 2

[[model]]
name = "svc"
estimator = "sklearn.svm.SVC"
[model.grid]
C = [0.1, 1, 10, 100]
gamma = [0.0003, 0.001, 0.003]
"""
N_FITS = 4 * 3 * 5


def _gridfold(*args: str) -> list[str]:
    return [sys.executable, "-m", "gridfold", *args]


def _rows(db: Path) -> dict[str, float]:
    """key -> created, read by a separate connection (as a second process would)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as con:
        try:
            return dict(con.execute("SELECT key, created FROM results").fetchall())
        except sqlite3.OperationalError:  # schema not written yet
            return {}


def _scores(path: Path) -> dict[str, float]:
    return {
        json.dumps(r["params"], sort_keys=True): r["mean_test_accuracy"]
        for r in json.loads(path.read_text())
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """An uninterrupted run, without a store."""
    folder = tmp_path_factory.mktemp("reference")
    (folder / "study.toml").write_text(STUDY)
    subprocess.run(
        _gridfold("run", "study.toml", "--no-store", "--no-progress", "-q", "-o", "ref.json"),
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return _scores(folder / "ref.json")


def _start(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _gridfold("run", "study.toml", "--no-progress"),
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_rows(db: Path, proc: subprocess.Popen[str], n: int) -> None:
    deadline = time.monotonic() + 300
    while len(_rows(db)) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no results were stored"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)]
)
def test_interrupted_run_resumes_to_the_same_results(
    sig: signal.Signals, code: int, reference: dict[str, float], tmp_path: Path
) -> None:
    (tmp_path / "study.toml").write_text(STUDY)
    db = tmp_path / "study.gridfold.db"
    proc = _start(tmp_path)
    _wait_for_rows(db, proc, 20)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    if sig != signal.SIGKILL:
        assert "run the same command again to resume" in err
    before = _rows(db)
    assert 20 <= len(before) < N_FITS

    done = subprocess.run(
        _gridfold("run", "study.toml", "--no-progress", "-o", "out.json"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    after = _rows(db)
    assert len(after) == N_FITS
    # Fits finished before the kill were not run again (their rows were not rewritten).
    assert all(after[key] == created for key, created in before.items())
    assert _scores(tmp_path / "out.json") == reference

    status = subprocess.run(
        _gridfold("status", "study.toml"), cwd=tmp_path, capture_output=True, text=True
    )
    assert status.returncode == 0
    assert "svc" in status.stdout and f"{N_FITS}      0       0" in status.stdout
    # The resumed run ran only what was missing, and says what it took.
    assert f"work, {N_FITS - len(before)} fits run)" in status.stdout
    results = subprocess.run(
        _gridfold("results", "study.toml", "-o", "again.json"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert results.returncode == 0, results.stderr
    assert _scores(tmp_path / "again.json") == reference
    assert _rows(db) == after  # printing results fits nothing


def test_results_needs_a_complete_store_and_prints_without_fitting(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY)
    missing = subprocess.run(
        _gridfold("results", "study.toml"), cwd=tmp_path, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("gridfold: error: no results store")
    assert "Traceback" not in missing.stderr
