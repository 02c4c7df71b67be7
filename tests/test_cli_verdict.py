"""The verdict in the terminal: each model's best first, then the corrected t-tests.

The CLI runs in real subprocesses on a small iris study; every number it
prints is checked against scikit-learn's own searches (best candidate, mean,
std, per-split scores) and :func:`gridfold.stats.corrected_ttest` /
:func:`gridfold.stats.holm` computed here from those scores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from gridfold import stats
from gridfold.config import parse_config
from gridfold.runner import run_config
from gridfold.verdict import verdict

# Fails on the one split whose training part lacks iris' largest flower (sepal
# length 7.9 occurs once): a model whose best candidate failed on one split.
FRAGILE_ESTIMATOR = textwrap.dedent(
    """
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier


    class Fragile(KNeighborsClassifier):
        def fit(self, X, y):
            if np.max(np.asarray(X)[:, 0]) < 7.9:
                raise ValueError("fragile: the largest flower is not in this training set")
            return super().fit(X, y)
    """
)

HEADER = textwrap.dedent(
    """
    [data]
    source = "sklearn:iris"
    [cv]
    splitter = "StratifiedKFold"
    n_splits = 5
    shuffle = true
    random_state = 0
    """
)
MODELS = textwrap.dedent(
    """
    [[model]]
    name = "svc"
    estimator = "sklearn.svm.SVC"
    grid = { C = [0.1, 1, 10] }
    [[model]]
    name = "knn"
    estimator = "sklearn.neighbors.KNeighborsClassifier"
    grid = { n_neighbors = [1, 5, 15] }
    [[model]]
    name = "tree"
    estimator = "sklearn.tree.DecisionTreeClassifier"
    params = { random_state = 0 }
    grid = { max_depth = [1, 3] }
    [[model]]
    name = "baseline"
    estimator = "sklearn.dummy.DummyClassifier"
    """
)
FRAGILE_MODEL = '[[model]]\nname = "fragile"\nestimator = "fragile_estimator.Fragile"\n'
STUDY = HEADER + MODELS + FRAGILE_MODEL

# The same models as scikit-learn searches (the fragile one is only ever a note).
REFERENCE: dict[str, tuple[Any, dict[str, list[Any]]]] = {
    "svc": (SVC(), {"C": [0.1, 1, 10]}),
    "knn": (KNeighborsClassifier(), {"n_neighbors": [1, 5, 15]}),
    "tree": (DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3]}),
    "baseline": (DummyClassifier(), {}),
}
CV = StratifiedKFold(5, shuffle=True, random_state=0)
N_SPLITS = 5


@dataclass(frozen=True)
class Best:
    """scikit-learn's best candidate of one model."""

    name: str
    params: dict[str, Any]
    mean: float
    std: float
    splits: np.ndarray


@pytest.fixture(scope="module")
def reference() -> list[Best]:
    """Each model's best candidate by scikit-learn, best model first (ties: study order)."""
    X, y = load_iris(return_X_y=True)
    found = []
    for name, (estimator, grid) in REFERENCE.items():
        search = GridSearchCV(estimator, grid, cv=CV).fit(X, y)
        i, res = search.best_index_, search.cv_results_
        splits = np.array([res[f"split{k}_test_score"][i] for k in range(N_SPLITS)])
        found.append(
            Best(
                name,
                search.best_params_,
                res["mean_test_score"][i],
                res["std_test_score"][i],
                splits,
            )
        )
    return sorted(found, key=lambda b: -b.mean)  # sorted() is stable


@dataclass(frozen=True)
class Expected:
    b: str
    mean_difference: float
    statistic: float
    pvalue: float
    pvalue_holm: float
    verdict: str


@pytest.fixture(scope="module")
def expected_tests(reference: list[Best]) -> list[Expected]:
    """The corrected t-test of the best against each other model, Holm-adjusted."""
    best, others = reference[0], reference[1:]
    # Stratified 5-fold on 150 rows: every split trains on 120 and tests on 30.
    results = [
        stats.corrected_ttest(best.splits, other.splits, n_train=120, n_test=30) for other in others
    ]
    adjusted = stats.holm([r.pvalue for r in results])
    out = []
    for other, r, p in zip(others, results, adjusted, strict=True):
        better = best.name if r.mean_difference > 0 else other.name
        word = f"{better} better" if p <= 0.05 else "no significant difference"
        out.append(Expected(other.name, r.mean_difference, r.statistic, r.pvalue, p, word))
    return out


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridfold", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(procs: dict[str, subprocess.Popen[str]]) -> dict[str, Run]:
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        done[name] = Run(proc.returncode, out, err)
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """``run`` (table, with a store; and --json without one), then ``results`` twice."""
    root = tmp_path_factory.mktemp("verdict")
    (root / "fragile_estimator.py").write_text(FRAGILE_ESTIMATOR)
    (root / "study.toml").write_text(STUDY)
    first = _wait(
        {
            "run": _start(root, "run", "study.toml", "-j", "1", "--no-progress", "-n", "3"),
            "run_json": _start(root, "run", "study.toml", "-j", "1", "--no-store", "-q", "--json"),
        }
    )
    assert first["run"].returncode == 0, first["run"].stderr
    second = _wait(
        {
            "results": _start(root, "results", "study.toml"),
            "results_json": _start(root, "results", "study.toml", "--json"),
        }
    )
    yield first | second


def _best_table(stdout: str) -> list[list[str]]:
    """The cells of the rows of the best-of-each-model table."""
    start = stdout.index("Best candidate of each model")
    end = stdout.index("Leaderboard:", start)
    rows = [line for line in stdout[start:end].splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in row.strip("│").split("│")] for row in rows]


def _verdict_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Verdict: "))
    return lines[start:]


def _pvalue_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _fragile_split() -> int:
    X, y = load_iris(return_X_y=True)
    return next(k for k, (train, _) in enumerate(CV.split(X, y)) if X[train, 0].max() < 7.9)


def test_each_models_best_comes_first_one_row_per_model(
    runs: dict[str, Run], reference: list[Best]
) -> None:
    out = runs["run"].stdout
    assert out.index("Best candidate of each model: 5 models") < out.index("Leaderboard: 3 of")
    rows = _best_table(out)
    # One row per model, best model first; the fragile one (NaN mean) last.
    assert [row[1] for row in rows] == [b.name for b in reference] + ["fragile"]
    for row, best in zip(rows, reference, strict=False):
        assert row[3] == f"{best.mean:.4f} ± {best.std:.4f}"
        shown = ", ".join(f"{k}={v!r}" for k, v in best.params.items()) or "-"
        assert row[2] == shown
    assert rows[-1][3] == "failed"


def test_verdict_lines_are_the_holm_adjusted_corrected_ttest(
    runs: dict[str, Run], reference: list[Best], expected_tests: list[Expected]
) -> None:
    lines = _verdict_lines(runs["run"].stdout)
    best = reference[0].name
    assert lines[0] == (
        f"Verdict: {best}'s best candidate against each other model's best, by test score "
        f"(p Holm-adjusted over {len(expected_tests)} tests, alpha 0.05):"
    )
    tests = [
        f"{best} vs {e.b}: {e.verdict} ({_pvalue_text(e.pvalue_holm)}, corrected t-test over 5 "
        "splits)"
        for e in expected_tests
    ]
    assert lines[1 : 1 + len(tests)] == tests
    # The study has a clear loser: the baseline is significantly worse.
    assert f"{best} vs baseline: {best} better (p < 0.001" in runs["run"].stdout
    assert "vs fragile" not in runs["run"].stdout


def test_a_model_whose_best_failed_on_a_split_gets_a_note_not_a_test(
    runs: dict[str, Run],
) -> None:
    out = runs["run"].stdout
    note = (
        f"note: fragile: not tested: its best candidate (-) failed on split {_fragile_split()} "
        "of 5 (scored error_score=nan, not a measurement)"
    )
    assert _verdict_lines(out)[-1] == note
    assert "model 'fragile': 1 of 5 fits failed" in out  # the failure summary, as before


@pytest.mark.parametrize("command", ["run_json", "results_json"])
def test_json_carries_the_same_numbers(
    runs: dict[str, Run],
    reference: list[Best],
    expected_tests: list[Expected],
    command: str,
) -> None:
    run = runs[command]
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)  # stdout is the document alone
    models = document["models"]
    assert [m["name"] for m in models] == [b.name for b in reference] + ["fragile"]
    for m, best in zip(models, reference, strict=False):
        assert m["params"] == best.params
        assert m["mean"] == pytest.approx(best.mean, rel=1e-12)
        assert m["std"] == pytest.approx(best.std, rel=1e-12)
        assert m["split_test_scores"] == best.splits.tolist()
        assert m["n_failed_splits"] == 0
    fragile = models[-1]
    assert fragile["mean"] is None and fragile["n_failed_splits"] == 1
    found = document["verdict"]
    assert found["best"] == reference[0].name
    assert (found["n_splits"], found["n_train"], found["n_test"]) == (5, 120.0, 30.0)
    assert len(found["tests"]) == len(expected_tests)
    for test, e in zip(found["tests"], expected_tests, strict=True):
        assert (test["a"], test["b"], test["verdict"]) == (reference[0].name, e.b, e.verdict)
        for key in ("mean_difference", "statistic", "pvalue", "pvalue_holm"):
            assert test[key] == pytest.approx(getattr(e, key), rel=1e-12, abs=1e-15), key
    assert [n.split(":")[0] for n in found["notes"]] == ["fragile"]
    # The candidates are those of -o FILE.json: every one, with per-split scores.
    assert len(document["candidates"]) == 3 + 3 + 2 + 1 + 1


def test_results_prints_what_run_printed(runs: dict[str, Run]) -> None:
    run, results = runs["run"].stdout, runs["results"]
    assert results.returncode == 0, results.stderr
    assert _best_table(results.stdout) == _best_table(run)
    assert _verdict_lines(results.stdout) == _verdict_lines(run)
    assert " s with " not in results.stdout  # nothing ran: no timing line


# ----------------------------------------------------------------------------
# In-process: the branches a terminal run rarely shows.
# ----------------------------------------------------------------------------


def test_the_cap_on_contenders_names_the_rest(reference: list[Best]) -> None:
    outcome = run_config(parse_config(HEADER + MODELS, file="s.toml"), n_jobs=1, progress=False)
    found = verdict(outcome, max_contenders=2)
    names = [b.name for b in reference]
    assert [t.b for t in found.tests] == names[1:3]
    assert found.notes == (
        f"1 more model not tested ({names[3]}): the verdict covers the 2 closest to the best",
    )
    # Holm over the two tested: the adjustment's family is what was tested.
    adjusted = stats.holm([t.pvalue for t in found.tests])
    assert [t.pvalue_holm for t in found.tests] == adjusted.tolist()


def test_no_test_against_a_best_model_that_failed_on_a_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # error_score = 1: the fragile kNN's failed split scores a perfect 1.0,
    # which makes it the best model; a test on that made-up score would lie.
    (tmp_path / "fragile_estimator.py").write_text(FRAGILE_ESTIMATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    tree_and_baseline = MODELS[MODELS.index('[[model]]\nname = "tree"') :]
    text = HEADER + "[run]\nerror_score = 1.0\n" + FRAGILE_MODEL + tree_and_baseline
    outcome = run_config(parse_config(text, file="s.toml"), n_jobs=1, progress=False)
    found = verdict(outcome)
    assert found.best == "fragile" and found.tests == ()
    assert found.notes[0].startswith("fragile: no model is tested against it: its best candidate")
    assert found.lines() == [f"note: {found.notes[0]}"]


def test_one_model_has_no_verdict() -> None:
    text = HEADER + '[[model]]\nname = "svc"\nestimator = "sklearn.svm.SVC"\n'
    found = verdict(run_config(parse_config(text, file="s.toml"), n_jobs=1, progress=False))
    assert found.best == "svc" and found.tests == () and found.lines() == []
