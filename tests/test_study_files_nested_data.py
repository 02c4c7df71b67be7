"""Study files with ``[run] nested = true`` / ``[outer_cv]``, and with ``[[data]]`` tables.

The parsing and validation tests read study text; the CLI tests run the real
``gridfold`` command in subprocesses and check every number it prints against
scikit-learn computed here: ``cross_validate(GridSearchCV(...), cv=outer)``
for nested cross-validation, the searches' best candidates per data set and
``scipy.stats.friedmanchisquare`` for several data sets. A rerun on the same
store fits nothing (the store's row count does not change, and the command
says so), and ``gridfold results`` prints the same numbers from the store.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from gridfold.config import parse_config
from gridfold.config.cv import CVConfig
from gridfold.exceptions import ConfigError
from gridfold.nested import NestedResult
from gridfold.nested_study import NestedModel, NestedOutcome, nested_verdict, verdict_lines
from gridfold.store import SQLiteStore

# --------------------------------------------------------------------------
# Study files
# --------------------------------------------------------------------------

NESTED = textwrap.dedent(
    """
    [data]
    source = "sklearn:iris"
    [cv]
    splitter = "StratifiedKFold"
    n_splits = 3
    shuffle = true
    random_state = 0
    [outer_cv]
    splitter = "StratifiedKFold"
    n_splits = 3
    shuffle = true
    random_state = 1
    [run]
    scoring = "accuracy"
    nested = true
    [[model]]
    name = "svc"
    estimator = "sklearn.svm.SVC"
    grid = { C = [0.1, 1, 10] }
    [[model]]
    name = "knn"
    estimator = "sklearn.neighbors.KNeighborsClassifier"
    grid = { n_neighbors = [1, 5, 15] }
    """
)
INNER = StratifiedKFold(3, shuffle=True, random_state=0)
OUTER = StratifiedKFold(3, shuffle=True, random_state=1)
NESTED_MODELS: dict[str, tuple[Any, dict[str, list[Any]]]] = {
    "svc": (SVC(), {"C": [0.1, 1, 10]}),
    "knn": (KNeighborsClassifier(), {"n_neighbors": [1, 5, 15]}),
}

DATASETS = textwrap.dedent(
    """
    [[data]]
    name = "iris"
    source = "sklearn:iris"
    [[data]]
    source = "sklearn:wine"
    [[data]]
    name = "cancer"
    source = "sklearn:breast_cancer"
    [cv]
    splitter = "StratifiedKFold"
    n_splits = 3
    shuffle = true
    random_state = 0
    [run]
    scoring = "accuracy"
    [[model]]
    name = "knn"
    estimator = "sklearn.neighbors.KNeighborsClassifier"
    grid = { n_neighbors = [1, 15] }
    [[model]]
    name = "tree"
    estimator = "sklearn.tree.DecisionTreeClassifier"
    params = { random_state = 0, max_depth = 3 }
    [[model]]
    name = "nb"
    estimator = "sklearn.naive_bayes.GaussianNB"
    """
)
CV = StratifiedKFold(3, shuffle=True, random_state=0)
DATA = {"iris": load_iris, "wine": load_wine, "cancer": load_breast_cancer}


# --------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="s.toml")
    return str(info.value)


def test_nested_study_parses_outer_cv() -> None:
    cfg = parse_config(NESTED)
    assert cfg.run.nested
    assert cfg.outer_cv == CVConfig(
        "StratifiedKFold", {"n_splits": 3, "shuffle": True, "random_state": 1}
    )
    assert cfg.cv.options["random_state"] == 0
    assert not cfg.several_datasets


def test_nested_without_outer_cv_defaults_to_five_folds() -> None:
    text = NESTED[: NESTED.index("[outer_cv]")] + NESTED[NESTED.index("[run]") :]
    cfg = parse_config(text)
    assert cfg.outer_cv == CVConfig(None, {})  # nested_cv's outer_cv=5
    assert cfg.outer_cv.make(load_iris().target, True).get_n_splits() == 5


def test_a_plain_study_has_no_outer_cv() -> None:
    text = NESTED[: NESTED.index("[outer_cv]")] + NESTED[NESTED.index("[run]") :]
    cfg = parse_config(text.replace("nested = true\n", ""))
    assert cfg.outer_cv is None and not cfg.run.nested


def test_outer_cv_without_nested_is_an_error() -> None:
    message = _error(NESTED.replace("nested = true\n", ""))
    assert message.startswith("s.toml: line 9: [outer_cv] is only used by nested")
    assert "fix: add nested = true to [run], or remove the [outer_cv] table" in message


def test_nested_must_be_a_boolean() -> None:
    message = _error(NESTED.replace("nested = true", 'nested = "yes"'))
    assert "[run]: nested must be true or false; got 'yes'" in message


def test_a_bad_outer_cv_is_located_in_its_table() -> None:
    message = _error(
        NESTED.replace(
            'splitter = "StratifiedKFold"\nn_splits = 3\nshuffle = true\nrandom_state = 1',
            'splitter = "KFlod"',
        )
    )
    assert message.startswith("s.toml: line 10: [outer_cv]: unknown splitter 'KFlod'")
    assert "did you mean 'KFold'?" in message


def test_outer_cv_takes_the_splitter_s_own_arguments() -> None:
    message = _error(NESTED.replace("random_state = 1", "random_stat = 1"))
    assert "[outer_cv] (StratifiedKFold): unknown key 'random_stat'" in message


def test_several_datasets_parse_with_default_names() -> None:
    cfg = parse_config(DATASETS)
    assert [d.name for d in cfg.datasets] == ["iris", "wine", "cancer"]
    assert [d.source for d in cfg.datasets] == ["iris", "wine", "breast_cancer"]
    assert cfg.data == cfg.datasets[0]
    assert cfg.several_datasets and not cfg.run.nested


def test_data_and_several_data_tables_together_is_an_error() -> None:
    message = _error('[data]\nsource = "sklearn:iris"\n' + DATASETS)
    assert "a [data] table (line 1) and [[data]] tables (line 4) together" in message
    assert "fix: write each data set as [[data]] with a name" in message


def test_dataset_names_must_be_unique() -> None:
    message = _error(DATASETS.replace('name = "cancer"', 'name = "iris"'))
    assert message.startswith("s.toml: line 7: [[data]]: data set name 'iris' is used twice")


def test_an_unknown_key_in_a_data_table_is_located() -> None:
    message = _error(DATASETS.replace('name = "cancer"', 'nmae = "cancer"'))
    assert message.startswith("s.toml: line 8: [[data]] 3: unknown key 'nmae'")
    assert "did you mean 'name'?" in message


def test_a_bad_source_names_its_data_table() -> None:
    message = _error(DATASETS.replace("sklearn:wine", "sklearn:wien"))
    assert message.startswith("s.toml: line 6: [[data]] 2: unknown data source 'sklearn:wien'")


def test_nested_with_several_datasets_is_an_error() -> None:
    text = DATASETS.replace('scoring = "accuracy"', 'scoring = "accuracy"\nnested = true')
    message = _error(text)
    assert "[run] nested = true with 3 [[data]] tables" in message
    assert "fix: use one [data] table, or remove nested = true" in message


def test_nested_with_a_cluster_is_an_error() -> None:
    message = _error(NESTED + '[cluster]\nkind = "slurm"\n')
    assert "[run] nested = true with the [cluster] table" in message


# --------------------------------------------------------------------------
# The CLI, in real subprocesses
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def _gridfold(cwd: Path, *args: str) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "gridfold", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _rows(db: Path) -> int:
    with SQLiteStore(db) as store:
        return len(store)


def _in_parallel(commands: dict[str, tuple[Path, list[str]]]) -> dict[str, Run]:
    """Run ``gridfold`` commands at once (most of each is Python starting up); wait for all."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "gridfold", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (cwd, args) in commands.items()
    }
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        done[name] = Run(proc.returncode, out, err)
    return done


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both studies, side by side: run; run --json again on the same store; results.

    The store's row count is taken after each step.
    """
    roots = {"nested": tmp_path_factory.mktemp("nested"), "data": tmp_path_factory.mktemp("data")}
    (roots["nested"] / "study.toml").write_text(NESTED)
    (roots["data"] / "study.toml").write_text(DATASETS)
    run = ["run", "study.toml", "-j", "2"]
    found: dict[str, Any] = {}
    # The first nested run takes the executor's options too (the results must not change).
    extra = {"nested": ["--fit-timeout", "120", "--retries", "2"], "data": []}
    found.update(
        _in_parallel(
            {f"{k}.first": (r, [*run, "--no-progress", *extra[k]]) for k, r in roots.items()}
        )
    )
    with SQLiteStore(roots["nested"] / "study.gridfold.db") as store:
        found["nested.studies"] = {row.study for row in store.rows()}
    rows = {k: _rows(r / "study.gridfold.db") for k, r in roots.items()}
    found.update(_in_parallel({f"{k}.again": (r, [*run, "--json"]) for k, r in roots.items()}))
    rows_again = {k: _rows(r / "study.gridfold.db") for k, r in roots.items()}
    reads = {f"{k}.results": (r, ["results", "study.toml", "--json"]) for k, r in roots.items()}
    reads["nested.text"] = (roots["nested"], ["results", "study.toml"])
    found.update(_in_parallel(reads))
    for k, r in roots.items():
        found[f"{k}.rows"] = (rows[k], rows_again[k], _rows(r / "study.gridfold.db"))
    return found


@pytest.fixture(scope="module")
def nested_runs(cli_runs: dict[str, Any]) -> dict[str, Any]:
    """The nested study's runs: first, again, results, text; rows."""
    return {k.split(".")[1]: v for k, v in cli_runs.items() if k.startswith("nested.")}


@pytest.fixture(scope="module")
def nested_reference() -> dict[str, dict[str, Any]]:
    """scikit-learn's nested CV of each model: outer test scores and chosen params."""
    X, y = load_iris(return_X_y=True)
    found = {}
    for name, (estimator, grid) in NESTED_MODELS.items():
        out = cross_validate(
            GridSearchCV(estimator, grid, cv=INNER), X, y, cv=OUTER, return_estimator=True
        )
        found[name] = {
            "scores": out["test_score"],
            "params": [search.best_params_ for search in out["estimator"]],
        }
    return found


def _corrected_pvalue(a: np.ndarray, b: np.ndarray, n_train: float, n_test: float) -> float:
    """Nadeau and Bengio's corrected resampled t-test, two-sided, from its formula."""
    diff = a - b
    j = len(diff)
    t = diff.mean() / math.sqrt(np.var(diff, ddof=1) * (1 / j + n_test / n_train))
    return float(2 * scipy.stats.t.sf(abs(t), j - 1))


def test_nested_run_prints_sklearn_s_outer_scores_and_choices(
    nested_runs: dict[str, Any], nested_reference: dict[str, dict[str, Any]]
) -> None:
    run = nested_runs["first"]
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    for name, ref in nested_reference.items():
        scores = ref["scores"]
        assert f"{np.mean(scores):.4f} ± {np.std(scores):.4f}" in run.stdout
        table = run.stdout[run.stdout.index(f"{name}: per outer fold") :]
        for fold, (score, params) in enumerate(zip(scores, ref["params"], strict=True)):
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            assert re.search(rf"│\s+{fold} │\s+{score:.4f} │\s+[\d.]+ │ {shown}\s", table)
    assert re.search(r"\n\d+ fits run in ", run.stdout)


def test_each_models_fits_are_stored_under_its_name(nested_runs: dict[str, Any]) -> None:
    names = [f"nested:{name}" for name in NESTED_MODELS]
    assert nested_runs["studies"] == {*names, *(f"{n}-refit" for n in names)}


def test_nested_json_equals_cross_validate_of_grid_search_cv(
    nested_runs: dict[str, Any], nested_reference: dict[str, dict[str, Any]]
) -> None:
    doc = json.loads(nested_runs["again"].stdout)
    assert doc["mode"] == "nested" and doc["n_outer_folds"] == 3
    models = {m["name"]: m for m in doc["models"]}
    for name, ref in nested_reference.items():
        got = models[name]
        assert [f["test_scores"]["accuracy"] for f in got["folds"]] == list(ref["scores"])
        assert [f["params"] for f in got["folds"]] == ref["params"]
        assert got["mean"] == np.mean(ref["scores"])
        assert got["std"] == np.std(ref["scores"])


def test_nested_verdict_is_the_corrected_t_test_over_outer_folds(
    nested_runs: dict[str, Any], nested_reference: dict[str, dict[str, Any]]
) -> None:
    X, y = load_iris(return_X_y=True)
    sizes = np.array([(len(tr), len(te)) for tr, te in OUTER.split(X, y)], dtype=float)
    n_train, n_test = sizes.mean(axis=0)
    svc, knn = nested_reference["svc"]["scores"], nested_reference["knn"]["scores"]
    best, other = ("svc", "knn") if svc.mean() >= knn.mean() else ("knn", "svc")
    a, b = nested_reference[best]["scores"], nested_reference[other]["scores"]
    p = _corrected_pvalue(a, b, n_train, n_test)
    verdict = json.loads(nested_runs["again"].stdout)["verdict"]
    assert verdict["best"] == best
    assert (verdict["n_train"], verdict["n_test"]) == (n_train, n_test)
    [test] = verdict["tests"]
    assert test["b"] == other
    assert test["mean_difference"] == pytest.approx(np.mean(a - b), abs=1e-12)
    assert test["pvalue"] == pytest.approx(p, rel=1e-9)
    assert test["pvalue_holm"] == pytest.approx(p, rel=1e-9)  # one test: Holm changes nothing
    line = f"{best} vs {other}: no significant difference (p = {p:.2g}, corrected t-test over 3"
    assert line in nested_runs["first"].stdout


def _nested_model(name: str, scores: list[float] | None) -> NestedModel:
    if scores is None:
        return NestedModel(name, "grid", 2, None, "every fit failed (ValueError: boom)")
    n = len(scores)
    frame = pd.DataFrame(
        {
            "fold": range(n),
            "test_score": scores,
            "best_score": np.nan,
            "fit_time": 0.1,
            "score_time": 0.01,
            "fit_error": None,
        }
    )
    result = NestedResult(frame, ["score"], "score", ({},) * n, (None,) * n)
    return NestedModel(name, "grid", 2, result)


def test_nested_verdict_tests_the_best_against_each_scored_model_holm_over_those() -> None:
    """Holm over the models tested only; n_train and n_test the outer splits' mean sizes."""
    scores = {
        "b": [0.85, 0.90, 0.86, 0.87, 0.90],
        "a": [0.90, 0.92, 0.88, 0.91, 0.93],  # the best, by mean
        "c": [0.89, 0.91, 0.88, 0.90, 0.91],
        "d": [0.99, math.nan, 0.99, 0.99, 0.99],  # a failed outer fold: no test
    }
    models = [_nested_model(n, v) for n, v in scores.items()] + [_nested_model("e", None)]
    sizes = ((120, 30), (121, 29), (119, 31), (120, 30), (121, 29))
    outcome = NestedOutcome(
        config=parse_config(NESTED),
        models=tuple(models),
        metric_labels={"score": "accuracy"},
        refit_metric="score",
        dataset="d",
        outer_splitter="outer",
        inner_splitter="inner",
        split_sizes=sizes,
        n_fits_run=0,
        n_workers=1,
        backend="sequential",
        wall_time=0.0,
    )
    found = nested_verdict(outcome)
    n_train, n_test = 120.2, 29.8
    assert found.best == "a"
    assert (found.n_train, found.n_test) == pytest.approx((n_train, n_test), abs=1e-12)
    a = np.array(scores["a"])
    p = {m: _corrected_pvalue(a, np.array(scores[m]), n_train, n_test) for m in ("b", "c")}
    low, high = sorted(p, key=p.__getitem__)
    holm = {low: min(1.0, 2 * p[low])}
    holm[high] = min(1.0, max(holm[low], p[high]))
    assert [t.b for t in found.tests] == ["c", "b"]  # nearest to the best first
    for test in found.tests:
        assert test.a == "a" and test.n_splits == 5
        assert test.pvalue == pytest.approx(p[test.b], rel=1e-9)
        assert test.pvalue_holm == pytest.approx(holm[test.b], rel=1e-9)
    assert any(n.startswith("d: not tested: an outer fold failed") for n in found.notes)
    assert any(n.startswith("e: not tested: every outer fold failed") for n in found.notes)
    lines = verdict_lines(found)
    assert lines[0].startswith("Verdict: a against each other model on the 5 outer folds")
    assert "Holm-adjusted over 2 tests" in lines[0]


def test_nested_rerun_fits_nothing_and_results_read_the_store(
    nested_runs: dict[str, Any],
) -> None:
    rows, rows_again, rows_after_results = nested_runs["rows"]
    # svc and knn: 3 candidates x 3 inner splits x 3 outer folds, and 3 outer refits each.
    assert rows == 2 * (27 + 3)
    assert rows_again == rows_after_results == rows
    again, results = json.loads(nested_runs["again"].stdout), nested_runs["results"]
    assert again["n_fits_run"] == 0
    assert results.returncode == 0, results.stderr
    from_store = json.loads(results.stdout)
    assert from_store["models"] == again["models"]
    assert from_store["verdict"] == again["verdict"]
    text, first = nested_runs["text"], nested_runs["first"]
    assert text.returncode == 0, text.stderr
    # The same report, less the line of what ran (nothing did).
    ran = re.compile(r"^\d+ fits run .*\n", re.MULTILINE)
    assert ran.search(first.stdout) and not ran.search(text.stdout)
    assert text.stdout == ran.sub("", first.stdout)


@pytest.fixture(scope="module")
def datasets_runs(cli_runs: dict[str, Any]) -> dict[str, Any]:
    """The study of several data sets' runs: first, again, results; rows."""
    return {k.split(".")[1]: v for k, v in cli_runs.items() if k.startswith("data.")}


@pytest.fixture(scope="module")
def datasets_reference() -> dict[str, dict[str, float]]:
    """Each model's best mean test accuracy per data set, by scikit-learn."""
    table: dict[str, dict[str, float]] = {}
    for name, load in DATA.items():
        X, y = load(return_X_y=True)
        knn = GridSearchCV(KNeighborsClassifier(), {"n_neighbors": [1, 15]}, cv=CV).fit(X, y)
        tree = cross_validate(DecisionTreeClassifier(random_state=0, max_depth=3), X, y, cv=CV)
        nb = cross_validate(GaussianNB(), X, y, cv=CV)
        table[name] = {
            "knn": knn.best_score_,
            "tree": np.mean(tree["test_score"]),
            "nb": np.mean(nb["test_score"]),
        }
    return table


def test_datasets_run_prints_each_data_set_s_best_per_model(
    datasets_runs: dict[str, Any], datasets_reference: dict[str, dict[str, float]]
) -> None:
    run = datasets_runs["first"]
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    for name, means in datasets_reference.items():
        section = run.stdout[run.stdout.index(f"Data set {name!r}") :]
        section = section[: section.index("└")]
        for model, mean in means.items():
            assert re.search(rf"│ {model}\s+│.*│\s+{mean:.4f} ± ", section), (name, model)


def test_datasets_friedman_equals_scipy(
    datasets_runs: dict[str, Any], datasets_reference: dict[str, dict[str, float]]
) -> None:
    models = ["knn", "tree", "nb"]
    rows = [[datasets_reference[d][m] for m in models] for d in DATA]
    chi2, p = scipy.stats.friedmanchisquare(*np.array(rows).T)
    doc = json.loads(datasets_runs["again"].stdout)
    assert doc["mode"] == "datasets"
    for d in DATA:
        for m in models:
            assert doc["scores"][d][m] == pytest.approx(datasets_reference[d][m], rel=1e-12)
    assert doc["friedman"]["statistic"] == pytest.approx(chi2, rel=1e-9)
    assert doc["friedman"]["pvalue"] == pytest.approx(p, rel=1e-9)
    ranks = scipy.stats.rankdata(-np.array(rows), axis=1).mean(axis=0)
    assert doc["friedman"]["ranks"] == pytest.approx(dict(zip(models, ranks, strict=True)))
    k, n = len(models), len(DATA)
    q = scipy.stats.studentized_range.ppf(0.95, k, np.inf) / math.sqrt(2)
    cd = q * math.sqrt(k * (k + 1) / (6 * n))
    assert doc["nemenyi"]["critical_difference"] == pytest.approx(cd, rel=1e-9)
    text = datasets_runs["first"].stdout
    assert f"chi-square = {chi2:.4f}, p = {p:.4g};" in text
    assert f"Nemenyi critical difference (alpha 0.05): {cd:.4f}" in text


def test_datasets_rerun_fits_nothing_and_results_read_the_store(
    datasets_runs: dict[str, Any],
) -> None:
    rows, rows_again, rows_after_results = datasets_runs["rows"]
    assert rows == 3 * 3 * (2 + 1 + 1)  # data sets x splits x candidates
    assert rows_again == rows_after_results == rows
    again = json.loads(datasets_runs["again"].stdout)
    assert again["n_fits_run"] == 0
    assert re.search(r"\n36 fits run in ", datasets_runs["first"].stdout)
    from_store = json.loads(datasets_runs["results"].stdout)
    for key in ("datasets", "scores", "friedman", "nemenyi"):
        assert from_store[key] == again[key], key


BAD_CASES = {
    "data_and_datasets": ('[data]\nsource = "sklearn:iris"\n' + DATASETS, ["run", "study.toml"]),
    "outer_cv_not_nested": (NESTED.replace("nested = true\n", ""), ["run", "study.toml"]),
    "nested_datasets": (
        DATASETS.replace('scoring = "accuracy"', 'scoring = "accuracy"\nnested = true'),
        ["run", "study.toml"],
    ),
    "results_without_store": (NESTED, ["results", "study.toml"]),
    "status_of_nested": (NESTED, ["status", "study.toml"]),
    "output_with_datasets": (DATASETS, ["run", "study.toml", "-o", "out.csv"]),
    "jobs_with_nested": (NESTED, ["run", "study.toml", "--jobs", "2"]),
    # iris's outer training parts hold 33 or 34 rows of a class: too few for 40 inner folds
    "inner_cv_too_fine": (
        NESTED.replace("n_splits = 3", "n_splits = 40", 1),
        ["run", "study.toml", "-q"],
    ),
    "check_nested": (NESTED, ["check", "study.toml"]),
    "check_datasets": (DATASETS, ["check", "study.toml"]),
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every bad case, and gridfold check, at once (none fits anything)."""
    commands = {}
    for case, (text, args) in BAD_CASES.items():
        root = tmp_path_factory.mktemp(case)
        (root / "study.toml").write_text(text)
        commands[case] = (root, args)
    return _in_parallel(commands)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("data_and_datasets", "a [data] table (line 1) and [[data]] tables (line 4) together"),
        ("outer_cv_not_nested", "[outer_cv] is only used by nested cross-validation"),
        ("nested_datasets", "[run] nested = true with 3 [[data]] tables"),
        ("results_without_store", "no results store at"),
        ("status_of_nested", "`gridfold status` handles a study of one [data] table"),
        ("output_with_datasets", "-o/--output is not supported for a study with [[data]]"),
        ("jobs_with_nested", "--jobs is not supported for a study with [run] nested"),
        ("inner_cv_too_fine", "model 'svc': n_splits=40 cannot be greater than the number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(bad_runs: dict[str, Run], case: str, says: str) -> None:
    run = bad_runs[case]
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("gridfold: error: ")
    assert says in lines[0]
    assert "fix" in lines[0].lower()


def test_results_of_a_store_without_the_nested_fits_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(NESTED)
    with SQLiteStore(tmp_path / "study.gridfold.db"):
        pass  # an empty store: results must fit nothing, and say what to run
    run = _gridfold(tmp_path, "results", "study.toml")
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("gridfold: error: 27 of 27 fits of the nested cross-validation")
    assert "fix: run `gridfold run study.toml`" in run.stderr
    assert _rows(tmp_path / "study.gridfold.db") == 0


def test_check_counts_the_fits_of_a_nested_study(bad_runs: dict[str, Run]) -> None:
    run = bad_runs["check_nested"]
    assert run.returncode == 0, run.stderr
    assert "outer cv: StratifiedKFold(n_splits=3, random_state=1, shuffle=True) -> 3 splits" in (
        run.stdout
    )
    assert "3 outer x (3 x 3 inner + 1 refit) = 30 fits" in run.stdout
    assert run.stdout.rstrip().endswith("60 fits (nested cross-validation)")  # as stored


def test_check_lists_every_data_set(bad_runs: dict[str, Run]) -> None:
    run = bad_runs["check_datasets"]
    assert run.returncode == 0, run.stderr
    for name in DATA:
        assert f"data set {name!r}: sklearn:" in run.stdout
    assert run.stdout.rstrip().endswith("36 fits over 3 data sets")
