"""Study files with ``search = "halving"`` models.

Parsing and validation read study text; the run tests use the real
``gridfold`` command in a subprocess, or :func:`gridfold.runner.run_config`,
and check the halving model's ``cv_results`` against scikit-learn's
``HalvingGridSearchCV`` on the same splits, the leaderboard's rung column,
the best candidate (scikit-learn's ``best_index_``, not the best score of
any rung), and that a rerun on the same store fits nothing.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_cv_results_equal
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection._search_successive_halving import (
    HalvingGridSearchCV as SkHalvingGridSearchCV,
)
from sklearn.svm import SVC

from gridfold.config import parse_config
from gridfold.exceptions import ConfigError, ParameterError
from gridfold.leaderboard import best_per_model, leaderboard
from gridfold.runner import prepare, run_config
from gridfold.verdict import verdict

STUDY = textwrap.dedent(
    """
    [data]
    source = "sklearn:breast_cancer"
    [cv]
    splitter = "StratifiedKFold"
    n_splits = 5
    shuffle = true
    random_state = 0
    [run]
    scoring = "accuracy"
    n_jobs = 2
    [[model]]
    name = "forest"
    estimator = "sklearn.ensemble.RandomForestClassifier"
    params = { random_state = 0 }
    search = "halving"
    resource = "n_estimators"
    min_resources = 10
    max_resources = 90
    [model.grid]
    max_depth = [3, 6, 12]
    max_features = [0.2, 0.5, 1.0]
    [[model]]
    name = "svc"
    estimator = "sklearn.svm.SVC"
    search = "halving"
    [model.grid]
    C = [0.1, 1, 10]
    gamma = ["scale", 0.001]
    [[model]]
    name = "knn"
    estimator = "sklearn.neighbors.KNeighborsClassifier"
    [model.grid]
    n_neighbors = [3, 9]
    """
)


def _sklearn_search(name: str, splits: list[Any]) -> Any:
    """scikit-learn's halving search of model ``name`` of STUDY, on the study's splits."""
    if name == "forest":
        estimator: Any = RandomForestClassifier(random_state=0)
        grid: dict[str, list[Any]] = {"max_depth": [3, 6, 12], "max_features": [0.2, 0.5, 1.0]}
        options: dict[str, Any] = dict(resource="n_estimators", min_resources=10, max_resources=90)
    else:
        estimator, grid, options = SVC(), {"C": [0.1, 1, 10], "gamma": ["scale", 0.001]}, {}
    return SkHalvingGridSearchCV(
        estimator,
        grid,
        cv=splits,
        scoring="accuracy",
        refit=False,
        random_state=0,
        return_train_score=False,  # the study's default
        **options,
    )


@pytest.fixture(scope="module")
def outcome() -> Any:
    return run_config(parse_config(STUDY, file="study.toml"), progress=False)


def test_each_halving_model_is_sklearns_halving_search(outcome: Any) -> None:
    cfg = parse_config(STUDY, file="study.toml")
    prepared = prepare(cfg)
    data = prepared.study.data
    assert [m.name for m in outcome.models] == ["forest", "svc", "knn"]  # the file's order
    for name in ("forest", "svc"):
        expected = _sklearn_search(name, list(data.splits)).fit(data.X, data.y)
        model = next(m for m in outcome.models if m.name == name)
        assert_cv_results_equal(model.cv_results, expected.cv_results_)
        assert model.halving.rungs == tuple(expected.cv_results_["iter"])
        assert model.halving.n_rungs == expected.n_iterations_
        assert model.halving.best_row == expected.best_index_
        assert model.n_fits == len(expected.cv_results_["params"]) * 5
    forest = outcome.models[0]
    assert forest.halving.n_rungs == 3 and forest.halving.paired
    # svc on n_samples: the last rung uses 567 of 569 rows, so its test parts are subsamples.
    assert not outcome.models[1].halving.paired


def test_the_leaderboard_shows_each_candidate_once_at_its_last_rung(outcome: Any) -> None:
    frame = leaderboard(outcome)
    forest = frame[frame["model"] == "forest"]
    assert len(forest) == 9 and len(frame) == 9 + 6 + 2
    rungs = forest["rung"].value_counts().to_dict()
    assert rungs == {"1/3": 6, "2/3": 2, "3/3": 1}
    assert set(frame[frame["model"] == "knn"]["rung"]) == {""}
    # Each shown row is that candidate's last one.
    res = outcome.models[0].cv_results
    for row in forest.itertuples():
        later = [
            j
            for j in range(row.candidate + 1, len(res["params"]))
            if {k: v for k, v in res["params"][j].items() if k != "n_estimators"}
            == {k: v for k, v in res["params"][row.candidate].items() if k != "n_estimators"}
        ]
        assert later == []


def test_a_halving_models_best_is_sklearns_best_index(outcome: Any) -> None:
    best = best_per_model(outcome).set_index("model")
    for model in outcome.models[:2]:
        assert best.loc[model.name, "candidate"] == model.halving.best_row
        last = np.flatnonzero(np.asarray(model.cv_results["iter"]) == model.halving.n_rungs - 1)
        assert model.halving.best_row in last
    # A candidate dropped at the first rung with a better score than the last rung's best
    # (it was scored with fewer trees) does not become the model's best.
    forest = outcome.models[0]
    dropped = forest.halving.last_rows[0]
    assert forest.halving.rungs[dropped] == 0
    scores = np.array(forest.cv_results["mean_test_score"], copy=True)
    scores[dropped] = 0.999
    changed = dataclasses.replace(
        forest, cv_results={**forest.cv_results, "mean_test_score": scores}
    )
    altered = dataclasses.replace(outcome, models=(changed, *outcome.models[1:]))
    top = leaderboard(altered)
    assert top.iloc[0]["model"] == "forest" and top.iloc[0]["candidate"] == dropped
    best = best_per_model(altered).set_index("model")
    assert best.loc["forest", "candidate"] == forest.halving.best_row


def test_the_verdict_leaves_out_a_model_scored_on_subsamples(outcome: Any) -> None:
    result = verdict(outcome)
    tested = {test.b for test in result.tests} | {test.a for test in result.tests}
    assert "svc" not in tested
    assert any(
        note.startswith("svc: its best candidate was scored on subsamples") for note in result.notes
    )


def _gridfold(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridfold", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _rows(db: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(db) as con:
        return sorted(con.execute("SELECT key, created FROM results").fetchall())


def test_gridfold_run_shows_the_rungs_and_a_rerun_fits_nothing(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY)
    first = _gridfold(tmp_path, "run", "study.toml", "-o", "out.json")
    assert first.returncode == 0, first.stderr
    assert "forest: rung 1/3: 9 candidates x 5 splits" in first.stderr
    assert "forest: rung 3/3: 1 candidate x 5 splits" in first.stderr
    assert "svc: rung 2/2: 2 candidates x 5 splits" in first.stderr
    assert "┃ rung ┃" in first.stdout and "3/3" in first.stdout
    records = json.loads((tmp_path / "out.json").read_text())
    assert {r["rung"] for r in records if r["model"] == "forest"} == {"1/3", "2/3", "3/3"}
    stored = _rows(tmp_path / "study.gridfold.db")
    assert len(stored) == 2 * 5 + (9 + 3 + 1) * 5 + (6 + 2) * 5

    again = _gridfold(tmp_path, "run", "study.toml", "--no-progress", "-o", "again.json")
    assert again.returncode == 0, again.stderr
    assert _rows(tmp_path / "study.gridfold.db") == stored  # nothing fitted, nothing rewritten
    assert json.loads((tmp_path / "again.json").read_text()) == records

    check = _gridfold(tmp_path, "check", "study.toml")
    assert check.returncode == 0, check.stderr
    assert "model 'forest': sklearn.ensemble.RandomForestClassifier" in check.stdout
    assert "halving from 9 candidate(s) (factor 3, resource 'n_estimators')" in check.stdout


@pytest.mark.parametrize("command", ["results", "status", "plan", "report"])
def test_commands_that_only_read_the_store_refuse_a_halving_model(
    command: str, tmp_path: Path
) -> None:
    (tmp_path / "study.toml").write_text(STUDY)
    run = _gridfold(tmp_path, command, "study.toml")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert f"model 'forest' has search = \"halving\", which `gridfold {command}`" in lines[0]
    assert "fix: run `gridfold run` again" in lines[0]


HEAD = '[data]\nsource = "sklearn:iris"\n[[model]]\nname = "m"\n'
BAD = {
    "no_grid": (
        'estimator = "SVC"\nsearch = "halving"\n',
        'search = "halving" needs a grid table',
    ),
    "distributions": (
        'estimator = "SVC"\nsearch = "halving"\ndistributions = { C = [1, 2] }\n',
        'search = "halving" needs a grid table',
    ),
    "factor": (
        'estimator = "SVC"\nsearch = "halving"\nfactor = 1\ngrid = { C = [1, 2] }\n',
        "factor must be above 1; got 1",
    ),
    "resource": (
        'estimator = "SVC"\nsearch = "halving"\nresource = "n_estimator"\ngrid = { C = [1] }\n',
        "resource = 'n_estimator' is not a parameter of SVC",
    ),
    "resource_in_grid": (
        'estimator = "RandomForestClassifier"\nsearch = "halving"\nresource = "n_estimators"\n'
        "grid = { n_estimators = [1, 2] }\n",
        "'n_estimators' is the resource and a parameter of the grid",
    ),
    "min_resources": (
        'estimator = "SVC"\nsearch = "halving"\nmin_resources = "all"\ngrid = { C = [1] }\n',
        'min_resources must be a positive integer or "exhaust" or "smallest"; got "all"',
    ),
    "halving_key_without_halving": (
        'estimator = "SVC"\nfactor = 2\ngrid = { C = [1] }\n',
        "['factor'] only apply to search = \"halving\"",
    ),
    "n_iter": (
        'estimator = "SVC"\nsearch = "halving"\nn_iter = 3\ngrid = { C = [1] }\n',
        'n_iter does not apply to search = "halving"',
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_halving_tables_say_what_and_the_fix(case: str) -> None:
    text, says = BAD[case]
    with pytest.raises(ConfigError) as error:
        parse_config(HEAD + text, file="s.toml")
    message = str(error.value)
    assert message.startswith("s.toml: line ") and says in message, message
    assert "fix" in message.lower()


@pytest.mark.parametrize("scoring", ['["accuracy", "f1_macro"]', '["accuracy"]'])
def test_a_list_of_scorers_with_a_halving_model_is_an_error(scoring: str) -> None:
    text = HEAD.replace("[[model]]", f"[run]\nscoring = {scoring}\n[[model]]")
    cfg = parse_config(text + 'estimator = "SVC"\nsearch = "halving"\ngrid = { C = [1] }\n')
    with pytest.raises(ParameterError, match='search = "halving" ranks candidates by one metric'):
        prepare(cfg)


@pytest.mark.parametrize("mode", ["nested", "datasets"])
def test_nested_and_several_data_sets_refuse_a_halving_model(mode: str, tmp_path: Path) -> None:
    if mode == "nested":
        text = STUDY.replace('scoring = "accuracy"', 'scoring = "accuracy"\nnested = true')
        says = 'search = "halving" in a study with [run] nested = true'
    else:
        text = STUDY.replace(
            '[data]\nsource = "sklearn:breast_cancer"',
            '[[data]]\nsource = "sklearn:breast_cancer"\n[[data]]\nsource = "sklearn:wine"',
        )
        says = 'search = "halving" in a study with 2 [[data]] tables'
    with pytest.raises(ConfigError, match=re.escape(says)):  # the library reads the file too
        parse_config(text, file="study.toml")
    (tmp_path / "study.toml").write_text(text)
    run = _gridfold(tmp_path, "run", "study.toml")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert says in run.stderr and "fix:" in run.stderr
