"""The ``gridfold`` command, end to end in real subprocesses, and the runner's exactness.

The CLI cases start all their subprocesses at once (a module fixture) so the
interpreter start-up costs are paid in parallel.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gridfold.cli import main
from gridfold.config import parse_config
from gridfold.leaderboard import leaderboard, to_records
from gridfold.runner import StudyOutcome, run_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
IRIS_EXAMPLE = EXAMPLES / "iris_svc_grid.toml"

IRIS = '[data]\nsource = "sklearn:iris"\n'

# name -> (study text or None for the iris example, extra arguments)
ERROR_CASES: dict[str, tuple[str | None, list[str]]] = {
    "syntax": (IRIS + '[[model]]\nestimator = "sklearn.svm.SVC"\ngrid = { C = [1, 2 }\n', []),
    "unknown_estimator": (IRIS + '[[model]]\nname = "a"\nestimator = "sklearn.svm.SVD"\n', []),
    "unknown_key": (IRIS + '[cv]\nn_split = 3\n[[model]]\nestimator = "SVC"\n', []),
    "unknown_parameter": (IRIS + '[[model]]\nestimator = "SVC"\n[model.grid]\nCc = [1, 2]\n', []),
    "empty_grid": (IRIS + '[[model]]\nestimator = "SVC"\n[model.grid]\nC = []\n', []),
    "continuous_target": (
        '[data]\npath = "float_target.csv"\ntarget = "y"\n[[model]]\nestimator = "SVC"\n',
        [],
    ),
    "missing_target": (
        '[data]\npath = "float_target.csv"\ntarget = "label"\n[[model]]\nestimator = "SVC"\n',
        [],
    ),
    "missing_study": ("", []),  # the file is not written
    "n_jobs_zero": (None, ["--n-jobs", "0"]),
    "unknown_backend": (None, ["--backend", "gpu"]),
    "bad_split": (IRIS + '[cv]\nsplitter = "GroupKFold"\n[[model]]\nestimator = "SVC"\n', []),
    "scheduler_not_dask": (None, ["--scheduler", "tcp://127.0.0.1:9", "--backend", "processes"]),
    "jobs_without_cluster": (None, ["--jobs", "2"]),
    "unreachable_scheduler": (None, ["--scheduler", "tcp://127.0.0.1:9"]),
    "cluster_kind": (IRIS + '[cluster]\nkind = "pbs"\n[[model]]\nestimator = "SVC"\n', []),
}
EXPECTED_FRAGMENT = {
    "syntax": "line 5: invalid TOML",
    "unknown_estimator": "line 5: model 'a': module 'sklearn.svm' has no 'SVD'",
    "unknown_key": "line 4: [cv]: unknown key 'n_split'",
    "unknown_parameter": "line 6: model 'SVC': Unknown parameter(s) ['Cc']",
    "empty_grid": "line 6: model 1: grid value of 'C' is an empty list",
    "continuous_target": "is a classifier but y is continuous",
    "missing_target": "line 3: [data]: column 'label' (target) is not in float_target.csv",
    "missing_study": "no such study file",
    "n_jobs_zero": "--n-jobs 0 is invalid",
    "unknown_backend": "--backend 'gpu' is unknown",
    "bad_split": "GroupKFold cannot split this data",
    "scheduler_not_dask": "--scheduler runs on Dask, but --backend is 'processes'",
    "jobs_without_cluster": "--jobs needs a cluster to start",
    "unreachable_scheduler": "Could not reach the Dask scheduler at 'tcp://127.0.0.1:9'",
    "cluster_kind": "line 4: [cluster]: kind = 'pbs' is not a cluster gridfold can start",
}

MIXED = IRIS + textwrap.dedent(
    """
    [cv]
    n_splits = 3
    [[model]]
    name = "good"
    estimator = "sklearn.svm.SVC"
    [[model]]
    name = "broken"
    estimator = "sklearn.svm.SVC"
    params = { kernel = "nope" }
    """
)


# Importable by the CLI (python -m puts the working folder on sys.path) and its workers.
SEGV_ESTIMATOR = textwrap.dedent(
    """
    import faulthandler

    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin


    class Segv(ClassifierMixin, BaseEstimator):
        def __init__(self, crash=False):
            self.crash = crash

        def fit(self, X, y):
            if self.crash:
                faulthandler._sigsegv()
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.full(len(X), self.classes_[0])
    """
)
CRASH_STUDY = IRIS + textwrap.dedent(
    """
    [cv]
    n_splits = 3
    [run]
    error_score = "raise"
    [[model]]
    estimator = "segv_estimator.Segv"
    grid = { crash = [false, true] }
    """
)


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gridfold", *args]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Start every CLI case in parallel; wait for all."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=30), "y": rng.normal(size=30)}).to_csv(
        root / "float_target.csv", index=False
    )
    commands: dict[str, list[str]] = {}
    for name, (text, extra) in ERROR_CASES.items():
        study = IRIS_EXAMPLE if text is None else root / f"{name}.toml"
        if text:
            study.write_text(text)
        commands[name] = _command("run", str(study), "--n-jobs", "1", *extra)
    (root / "mixed.toml").write_text(MIXED)
    commands["mixed"] = _command("run", str(root / "mixed.toml"), "--n-jobs", "1", "--no-progress")
    commands["csv"] = _command(
        "run", str(IRIS_EXAMPLE), "--n-jobs", "1", "--top", "3", "--output", str(root / "out.csv")
    )
    commands["json"] = _command(
        "run",
        str(IRIS_EXAMPLE),
        "-j",
        "2",
        "--backend",
        "processes",
        "-q",
        "-o",
        str(root / "out.json"),
    )
    # A fit that kills its worker, with error_score = "raise": the executor fails (exit 3).
    (root / "segv_estimator.py").write_text(SEGV_ESTIMATOR)
    (root / "crash.toml").write_text(CRASH_STUDY)
    commands["crash"] = _command(
        "run", "crash.toml", "-j", "2", "-b", "processes", "--retries", "0", "-q"
    )
    procs = {
        name: subprocess.Popen(
            cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, cmd in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        results[name] = Run(proc.returncode, out, err, root)
    yield results


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_bad_input_is_one_line_exit_2(runs: dict[str, Run], case: str) -> None:
    run = runs[case]
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("gridfold: error: ")
    assert EXPECTED_FRAGMENT[case] in lines[0]
    assert run.stdout == ""


def test_a_failed_executor_is_exit_3_and_keeps_what_was_stored(runs: dict[str, Run]) -> None:
    run = runs["crash"]
    assert run.returncode == 3, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("gridfold: executor failed: ") and "SIGSEGV" in lines[0]
    assert "Traceback" not in run.stderr and "run the same command again" in lines[0]
    with sqlite3.connect(run.workdir / "crash.gridfold.db") as con:
        kinds = [k for (k,) in con.execute("SELECT error_kind FROM results")]
    assert "crash" in kinds  # the crash itself was stored before the study stopped


def test_run_prints_leaderboard_and_exports_csv(runs: dict[str, Run]) -> None:
    run = runs["csv"]
    assert run.returncode == 0, run.stderr
    assert "Leaderboard: 3 of 16 candidates, ranked by mean test accuracy" in run.stdout
    assert "80 fits (16 candidates x 5 splits)" in run.stdout
    assert "fits" in run.stderr and "80/80" in run.stderr  # the progress bar
    frame = pd.read_csv(run.workdir / "out.csv")
    assert len(frame) == 16
    assert list(frame.columns[:7]) == [
        "rank",
        "model",
        "candidate",
        "params",
        "mean_test_accuracy",
        "std_test_accuracy",
        "mean_fit_time",
    ]
    assert frame["mean_test_accuracy"].is_monotonic_decreasing
    assert frame["rank"].iloc[0] == 1
    splits = frame[[f"split{k}_test_accuracy" for k in range(5)]].to_numpy()
    np.testing.assert_allclose(splits.mean(axis=1), frame["mean_test_accuracy"])
    # The top rows of the table are the top rows of the file.
    best = frame.iloc[0]
    assert f"{best['mean_test_accuracy']:.4f}" in run.stdout
    assert best["params"] in run.stdout


def test_run_with_processes_exports_json(runs: dict[str, Run]) -> None:
    run = runs["json"]
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # --quiet: no progress bar, no header
    assert "Leaderboard" in run.stdout and "fits (" not in run.stdout
    records = json.loads((run.workdir / "out.json").read_text())
    csv = pd.read_csv(run.workdir / "out.csv")
    assert len(records) == 16
    assert [r["rank"] for r in records] == csv["rank"].tolist()
    top = records[0]
    assert set(top["params"]) == {"C", "gamma"}
    assert len(top["split_test_scores"]["accuracy"]) == 5
    assert top["mean_test_accuracy"] == pytest.approx(np.mean(top["split_test_scores"]["accuracy"]))
    # processes x 2 gives the very scores the sequential run gave
    assert [r["mean_test_accuracy"] for r in records] == csv["mean_test_accuracy"].tolist()


def test_failed_model_does_not_stop_the_others(runs: dict[str, Run]) -> None:
    run = runs["mixed"]
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "3 of 6 fits failed" in run.stdout
    assert "model 'broken': 3 of 3 fits failed (all of them)" in run.stdout
    assert "3 x " in run.stdout and "kernel" in run.stdout
    assert "good" in run.stdout and "failed" in run.stdout


def test_check_help_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # In-process: argparse and printing only, no need to pay another interpreter start.
    assert main(["check", str(IRIS_EXAMPLE)]) == 0
    assert "16 candidates x 5 splits = 80 fits" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--n-jobs", "--backend", "--output", "--top", "--no-progress", "--quiet"):
        assert option in help_text
    assert "study file format" in help_text and "examples/" in help_text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("gridfold 0.1.0")
    with pytest.raises(SystemExit) as info:
        main(["run", str(IRIS_EXAMPLE), "-o", str(tmp_path / "out.txt")])
    assert info.value.code == 2
    assert "must end in .csv or .json" in capsys.readouterr().err


# --------------------------------------------------------------------------- runner


def _run(text: str) -> StudyOutcome:
    return run_config(parse_config(text, file="study.toml"), n_jobs=1, progress=False)


def test_runner_matches_sklearn_grid_search() -> None:
    outcome = _run(
        IRIS
        + textwrap.dedent(
            """
            [cv]
            splitter = "StratifiedKFold"
            n_splits = 4
            shuffle = true
            random_state = 3
            [run]
            scoring = "accuracy"
            [[model]]
            name = "svc"
            estimator = "sklearn.svm.SVC"
            [model.grid]
            C = [0.1, 1, 10]
            gamma = ["scale", 0.1]
            [[model]]
            name = "logreg"
            grid = { clf__C = [0.1, 1.0] }
            [[model.steps]]
            name = "scale"
            estimator = "StandardScaler"
            [[model.steps]]
            name = "clf"
            estimator = "LogisticRegression"
            params = { max_iter = 500 }
            """
        )
    )
    X, y = load_iris(return_X_y=True)
    cv = StratifiedKFold(4, shuffle=True, random_state=3)
    expected = [
        GridSearchCV(
            SVC(), {"C": [0.1, 1, 10], "gamma": ["scale", 0.1]}, cv=cv, scoring="accuracy"
        ),
        GridSearchCV(
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]),
            {"clf__C": [0.1, 1.0]},
            cv=cv,
            scoring="accuracy",
        ),
    ]
    for model, search in zip(outcome.models, expected, strict=True):
        sk = search.fit(X, y).cv_results_
        ours = model.cv_results
        assert ours["mean_test_score"].tolist() == sk["mean_test_score"].tolist()
        assert ours["std_test_score"].tolist() == sk["std_test_score"].tolist()
        assert ours["rank_test_score"].tolist() == sk["rank_test_score"].tolist()
        for k in range(4):
            assert ours[f"split{k}_test_score"].tolist() == sk[f"split{k}_test_score"].tolist()
        assert set(ours) == set(sk)
    assert outcome.models[0].cv_results["params"] == expected[0].cv_results_["params"]


def test_runner_matches_sklearn_random_search_multimetric() -> None:
    outcome = _run(
        IRIS
        + textwrap.dedent(
            """
            [cv]
            splitter = "RepeatedStratifiedKFold"
            n_splits = 3
            n_repeats = 2
            random_state = 0
            [run]
            scoring = ["accuracy", "f1_macro"]
            refit = "f1_macro"
            return_train_score = true
            [[model]]
            name = "svc"
            estimator = "sklearn.svm.SVC"
            n_iter = 5
            random_state = 1
            [model.distributions]
            C = { loguniform = [0.01, 100] }
            kernel = ["rbf", "linear"]
            """
        )
    )
    from scipy.stats import loguniform
    from sklearn.model_selection import RepeatedStratifiedKFold

    X, y = load_iris(return_X_y=True)
    search = RandomizedSearchCV(
        SVC(),
        {"C": loguniform(0.01, 100), "kernel": ["rbf", "linear"]},
        n_iter=5,
        random_state=1,
        cv=RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0),
        scoring=["accuracy", "f1_macro"],
        refit="f1_macro",
        return_train_score=True,
    ).fit(X, y)
    ours = outcome.models[0].cv_results
    assert ours["params"] == search.cv_results_["params"]
    for key in ("mean_test_accuracy", "rank_test_f1_macro", "mean_train_f1_macro"):
        assert ours[key].tolist() == search.cv_results_[key].tolist()
    board = leaderboard(outcome)
    assert board["mean_test_f1_macro"].is_monotonic_decreasing
    assert board["rank"].tolist() == ours["rank_test_f1_macro"][board["candidate"]].tolist()
    records = to_records(outcome)
    assert len(records[0]["split_test_scores"]["f1_macro"]) == 6


# ----------------------------------------------------------------------------
# gridfold plan, and status showing the prediction next to the run.
# ----------------------------------------------------------------------------

PLAN_STUDY = IRIS + textwrap.dedent(
    """
    [cv]
    n_splits = 3
    [[model]]
    name = "svc"
    estimator = "sklearn.svm.SVC"
    grid = { C = [0.1, 1.0, 10.0, 100.0] }
    [[model]]
    name = "forest"
    estimator = "sklearn.ensemble.RandomForestClassifier"
    params = { random_state = 0 }
    grid = { n_estimators = [5, 10] }
    """
)


def _gridfold(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(*args), cwd=cwd, capture_output=True, text=True, timeout=300)


def _number(text: str, before: str) -> float:
    line = next(line for line in text.splitlines() if before in line)
    return float(line.split(before)[1].split()[0])


def test_plan_prints_fits_units_work_wall_time_and_its_lower_bound(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(PLAN_STUDY)
    done = _gridfold(tmp_path, "plan", "s.toml", "--workers", "3", "--probe", "0", "--no-store")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # 6 candidates x 3 splits; the forest's two candidates share one fit per split.
    assert "18 fits (6 candidates x 3 splits) in 15 units of work" in out
    assert "not calibrated (--probe 0)" in out
    work = _number(out, "predicted total work: ")
    wall = _number(out, "predicted wall time on 3 workers: ")
    bound = _number(out, "lower bound: ")
    assert "starting the worker processes" in out
    assert 0 < bound <= wall and work > 0
    assert not (tmp_path / "s.gridfold.db").exists()  # --no-store


def test_status_shows_the_plan_next_to_the_run(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(PLAN_STUDY)
    plan = _gridfold(tmp_path, "plan", "s.toml", "-w", "1", "--probe", "1")
    assert plan.returncode == 0, plan.stderr
    assert "calibrated by fitting" in plan.stdout
    run = _gridfold(tmp_path, "run", "s.toml", "-j", "1", "-q")
    assert run.returncode == 0, run.stderr
    status = _gridfold(tmp_path, "status", "s.toml")
    assert status.returncode == 0, status.stderr
    assert "plan: predicted " in status.stdout and "on 1 workers" in status.stdout
    assert "last run: took " in status.stdout
    assert "work, 18 fits run)" in status.stdout
    assert "run / plan: " in status.stdout


def test_plan_of_a_resumed_study_counts_only_the_fits_left(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(PLAN_STUDY)
    run = _gridfold(tmp_path, "run", "s.toml", "-j", "1", "-q")
    assert run.returncode == 0, run.stderr
    done = _gridfold(tmp_path, "plan", "s.toml", "--workers", "2", "--probe", "0")
    assert done.returncode == 0, done.stderr
    assert "18 stored, 0 left to run" in done.stdout
    assert "nothing left to run" in done.stdout
    # Drop the forest's fits (6 of 18): the plan is of those alone.
    with sqlite3.connect(tmp_path / "s.gridfold.db") as db:
        assert db.execute("DELETE FROM results WHERE model = 'forest'").rowcount == 6
    done = _gridfold(tmp_path, "plan", "s.toml", "--workers", "2", "--probe", "0")
    assert done.returncode == 0, done.stderr
    assert "12 stored, 6 left to run" in done.stdout
    # The forest's two candidates share one fit per split: 3 units.
    assert "in 3 units of work" in done.stdout


def test_plan_rejects_a_bad_worker_count(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(PLAN_STUDY)
    done = _gridfold(tmp_path, "plan", "s.toml", "--workers", "0")
    assert done.returncode == 2 and "expected a positive integer" in done.stderr
