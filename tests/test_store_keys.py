"""Content keys of tasks: what changes a key, what does not, and that keys are stable."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import check_scoring, make_scorer
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection import KFold, ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from gridfold.store import keys as keys_module
from gridfold.store.keys import KEY_VERSION, candidate_repr, task_keys
from gridfold.tasks import Model, Study, StudyData, Task

TESTS = Path(__file__).resolve().parent
TREE_GRID = {"max_depth": [1, 2, 3], "criterion": ["gini", "entropy"]}


def data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n, 4, n_informative=3, n_redundant=0, random_state=0)


def study_of(
    est: Any,
    candidates: Any,
    X: Any = None,
    y: Any = None,
    *,
    n_splits: int = 3,
    scorer: Any = None,
    name: str = "m",
    **options: Any,
) -> Study:
    if X is None:
        X, y = data()
    splits = tuple(KFold(n_splits).split(X, y))
    scorer = check_scoring(est) if scorer is None else scorer
    model = Model(name, est, tuple(candidates), scorer)
    return Study((model,), StudyData(X, y, splits), **options)


def build_study(kind: str) -> Study:
    """The studies the subprocess test rebuilds in a fresh interpreter."""
    X, y = data()
    if kind == "tree":
        return study_of(DecisionTreeClassifier(random_state=0), ParameterGrid(TREE_GRID), X, y)
    if kind == "rich":  # DataFrame, pipeline with nested names, multimetric scorer, fit params
        frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(d=lambda f: f.d.round(1))
        pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
        scorer = _MultimetricScorer(
            scorers={"acc": check_scoring(pipe, "accuracy"), "f1": check_scoring(pipe, "f1")}
        )
        grid = ParameterGrid({"clf__C": [0.1, 1.0], "clf__class_weight": [None, {0: 1, 1: 2}]})
        splits = tuple(KFold(3, shuffle=True, random_state=1).split(frame, y))
        weights = {"clf__sample_weight": np.linspace(1, 2, len(y))}
        model = Model("pipe", pipe, tuple(grid), scorer)
        return Study((model,), StudyData(frame, y, splits, weights), return_train_score=True)
    if kind == "lambda":
        return study_of(SVC(), [{"C": 1.0, "kernel": lambda a, b: a @ b.T}])
    raise ValueError(kind)


def keys_in_subprocess(kinds: list[str], hash_seed: str) -> dict[str, dict[Task, str]]:
    """task_keys of build_study(kind) for each kind, computed in a fresh interpreter."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(TESTS)!r});"
        "from test_store_keys import build_study;"
        "from gridfold.store.keys import task_keys;"
        f"keys = {{kind: task_keys(build_study(kind)) for kind in {kinds!r}}};"
        "print(json.dumps({kind: [[t.model, t.candidate, t.split, k] for t, k in ks.items()]"
        " for kind, ks in keys.items()}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return {
        kind: {Task(m, c, s): key for m, c, s, key in rows}
        for kind, rows in json.loads(out.stdout.splitlines()[-1]).items()
    }


def keys_by_candidate(study: Study) -> dict[tuple[str, int], str]:
    """Keys of a one-model study by (candidate_repr, split): comparable across grids."""
    candidates = study.models[0].candidates
    return {
        (candidate_repr(candidates[t.candidate]), t.split): key
        for t, key in task_keys(study).items()
    }


# --------------------------------------------------------------------------
# Shape and stability
# --------------------------------------------------------------------------


def test_every_task_has_a_unique_hex_key() -> None:
    study = build_study("tree")
    keys = task_keys(study)
    assert list(keys) == list(study.tasks())
    assert len(set(keys.values())) == study.n_tasks == 18
    assert all(len(k) == 64 and int(k, 16) >= 0 for k in keys.values())


def test_keys_are_deterministic_in_one_process() -> None:
    assert task_keys(build_study("rich")) == task_keys(build_study("rich"))


def test_keys_are_the_same_in_another_process() -> None:
    kinds = ["tree", "rich", "lambda"]
    expected = {kind: task_keys(build_study(kind)) for kind in kinds}
    assert all(expected.values())
    for seed in ("1", "2"):  # and do not depend on str hashing
        assert keys_in_subprocess(kinds, seed) == expected


def test_labels_are_not_part_of_the_key() -> None:
    est = DecisionTreeClassifier(random_state=0)
    a = study_of(est, ParameterGrid(TREE_GRID), name="a", verbose=0)
    b = study_of(est, ParameterGrid(TREE_GRID), name="another", verbose=3)
    assert task_keys(a) == task_keys(b)


def test_same_fit_from_another_base_estimator_shares_keys() -> None:
    # What counts is the estimator that is fitted: SVC(C=1) + {C: 10} is SVC(C=10).
    a = study_of(SVC(C=1.0), [{"C": 10.0}])
    b = study_of(SVC(C=5.0), [{"C": 10.0}])
    c = study_of(SVC(C=10.0), [{}])
    assert task_keys(a) == task_keys(b) == task_keys(c)


def test_shortcut_gives_the_same_keys_as_clone_and_set_params() -> None:
    # _EstimatorIdentity skips clone + set_params for plain estimators; check it against them.
    cases: list[tuple[Any, dict[str, Any]]] = [
        (DecisionTreeClassifier(random_state=0), {"max_depth": 3, "criterion": "entropy"}),
        (SVC(class_weight={0: 1.0, 1: 2.0}), {"C": np.float64(2.0), "gamma": 0.1}),
        (LogisticRegression(), {"C": 1.0, "class_weight": "balanced"}),
        (FunctionTransformer(np.log1p), {"func": np.expm1, "kw_args": None}),
        (DummyClassifier(), {}),
    ]
    for est, candidate in cases:
        fast = keys_module._EstimatorIdentity(est)
        assert fast.plain_set_params
        slow = keys_module._EstimatorIdentity(est)
        slow.plain_set_params = False
        assert fast.of(candidate) == slow.of(candidate), type(est).__name__


# --------------------------------------------------------------------------
# What changes a key
# --------------------------------------------------------------------------


def all_keys_differ(a: Study, b: Study) -> bool:
    ka, kb = task_keys(a), task_keys(b)
    return len(ka) == len(kb) > 0 and not set(ka.values()) & set(kb.values())


def test_a_parameter_value_changes_only_its_candidates_keys() -> None:
    est = DecisionTreeClassifier(random_state=0)
    a = study_of(est, [{"max_depth": 1}, {"max_depth": 2}])
    b = study_of(est, [{"max_depth": 1}, {"max_depth": 3}])
    ka, kb = task_keys(a), task_keys(b)
    for t in a.tasks():
        assert (ka[t] == kb[t]) == (t.candidate == 0)


@pytest.mark.parametrize(
    "other",
    [
        {"max_depth": 1.0},  # a float, not an int
        {"max_depth": True},
        {"max_depth": np.int64(1)},
        {"max_depth": 1, "criterion": "entropy"},
    ],
    ids=["float", "bool", "numpy", "more"],
)
def test_parameter_types_count(other: dict[str, Any]) -> None:
    est = DecisionTreeClassifier(random_state=0)
    assert all_keys_differ(study_of(est, [{"max_depth": 1}]), study_of(est, [other]))


def test_base_estimator_settings_and_class_count() -> None:
    grid = [{"max_depth": 2}]
    base = study_of(DecisionTreeClassifier(random_state=0), grid)
    assert all_keys_differ(base, study_of(DecisionTreeClassifier(random_state=1), grid))
    assert all_keys_differ(base, study_of(DecisionTreeClassifier(), grid))
    from sklearn.tree import ExtraTreeClassifier

    assert all_keys_differ(base, study_of(ExtraTreeClassifier(random_state=0), grid))


def test_nested_parameters_count() -> None:
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    keys = task_keys(study_of(pipe, [{"clf__C": 0.1}, {"clf__C": 1.0}, {"scale": "passthrough"}]))
    assert len(set(keys.values())) == 9
    other = Pipeline([("scale", StandardScaler(with_mean=False)), ("clf", LogisticRegression())])
    assert all_keys_differ(study_of(pipe, [{"clf__C": 0.1}]), study_of(other, [{"clf__C": 0.1}]))


def test_estimator_state_beyond_parameters_counts() -> None:
    # Output config and fitted state of a frozen step are not parameters, but change results.
    def pipe(first: Any) -> Pipeline:
        return Pipeline([("first", first), ("clf", LogisticRegression())])

    X, y = data()
    grid = [{"clf__C": 0.5}]
    plain = study_of(pipe(StandardScaler()), grid)
    pandas_out = study_of(pipe(StandardScaler().set_output(transform="pandas")), grid)
    assert all_keys_differ(plain, pandas_out)
    from sklearn.frozen import FrozenEstimator

    frozen_a = study_of(pipe(FrozenEstimator(StandardScaler().fit(X))), grid)
    frozen_b = study_of(pipe(FrozenEstimator(StandardScaler().fit(X[:30]))), grid)
    frozen_a2 = study_of(pipe(FrozenEstimator(StandardScaler().fit(X))), grid)
    assert all_keys_differ(frozen_a, frozen_b)
    assert task_keys(frozen_a) == task_keys(frozen_a2)


def test_split_indices_count() -> None:
    X, y = data()
    est, grid = DecisionTreeClassifier(random_state=0), [{"max_depth": 2}]
    a = study_of(est, grid, X, y)
    shuffled = tuple(KFold(3, shuffle=True, random_state=0).split(X, y))
    b = dataclasses.replace(a, data=dataclasses.replace(a.data, splits=shuffled))
    assert all_keys_differ(a, b)
    # One split changed: only its tasks' keys change; the same split elsewhere keeps its key.
    splits = a.data.splits
    train, test = splits[1]
    changed = (splits[0], (train[:-1], np.append(test, train[-1])), splits[2])
    c = dataclasses.replace(a, data=dataclasses.replace(a.data, splits=changed))
    ka, kc = task_keys(a), task_keys(c)
    assert [ka[t] == kc[t] for t in a.tasks()] == [True, False, True]
    reordered = (splits[2], splits[0], splits[1])
    d = dataclasses.replace(a, data=dataclasses.replace(a.data, splits=reordered))
    assert task_keys(d)[Task(0, 0, 0)] == ka[Task(0, 0, 2)]


def test_train_and_test_indices_are_not_interchangeable() -> None:
    X, y = data()
    a = study_of(DecisionTreeClassifier(), [{}], X, y)
    swapped = tuple((test, train) for train, test in a.data.splits)
    b = dataclasses.replace(a, data=dataclasses.replace(a.data, splits=swapped))
    assert all_keys_differ(a, b)


@pytest.mark.parametrize("part", ["X", "y", "fit_params", "score_params"])
def test_data_counts(part: str) -> None:
    X, y = data()
    a = study_of(DecisionTreeClassifier(random_state=0), [{"max_depth": 2}], X, y)
    if part == "X":
        X2 = X.copy()
        X2[5, 1] = np.nextafter(X2[5, 1], np.inf)  # one ulp
        changed = dataclasses.replace(a.data, X=X2)
    elif part == "y":
        changed = dataclasses.replace(a.data, y=np.where(np.arange(len(y)) == 0, 1 - y, y))
    elif part == "fit_params":
        changed = dataclasses.replace(a.data, fit_params={"sample_weight": np.ones(len(y))})
    else:
        changed = dataclasses.replace(a.data, score_params={"sample_weight": np.ones(len(y))})
    assert all_keys_differ(a, dataclasses.replace(a, data=changed))


def test_scorer_counts() -> None:
    est = DecisionTreeClassifier(random_state=0)
    grid = [{"max_depth": 2}]
    accuracy = study_of(est, grid, scorer=check_scoring(est, "accuracy"))
    assert task_keys(accuracy) == task_keys(
        study_of(est, grid, scorer=check_scoring(est, "accuracy"))
    )
    # The estimator's own score() is accuracy too, but a different scorer: not shared.
    for scoring in ("balanced_accuracy", "neg_log_loss", ["accuracy", "f1"], None):
        scorer = check_scoring(est, scoring)
        assert all_keys_differ(accuracy, study_of(est, grid, scorer=scorer)), scoring


@pytest.mark.parametrize(
    "options",
    [{"error_score": 0}, {"error_score": "raise"}, {"return_train_score": True}],
    ids=["error_score", "raise", "return_train_score"],
)
def test_study_options_count(options: dict[str, Any]) -> None:
    est, grid = DecisionTreeClassifier(random_state=0), [{"max_depth": 2}]
    assert all_keys_differ(study_of(est, grid), study_of(est, grid, **options))


def test_key_version_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    study = build_study("tree")
    before = task_keys(study)
    monkeypatch.setattr(keys_module, "KEY_VERSION", KEY_VERSION + 1)
    after = task_keys(study)
    assert not set(before.values()) & set(after.values())


def test_versions_of_the_estimators_packages_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pipeline step whose code comes from another package (pandas here, xgboost in life).
    pipe = Pipeline([("f", FunctionTransformer(pd.isna)), ("clf", DecisionTreeClassifier())])
    assert keys_module._code_modules(pipe) >= {"pandas", "sklearn"}
    study = study_of(pipe, [{"clf__max_depth": 2}, {}])
    before = task_keys(study)
    real = keys_module._module_version
    monkeypatch.setattr(
        keys_module, "_module_version", lambda top: "0.0" if top == "pandas" else real(top)
    )
    after = task_keys(study)
    assert not set(before.values()) & set(after.values())
    # Estimators made of scikit-learn code only do not depend on pandas' version.
    tree = build_study("tree")
    monkeypatch.setattr(keys_module, "_module_version", real)
    tree_before = task_keys(tree)
    monkeypatch.setattr(keys_module, "_module_version", lambda top: "0.0")
    assert task_keys(tree) == tree_before


def test_versions_of_other_packages_are_found() -> None:
    # python-dateutil installs the module `dateutil`: found through packages_distributions.
    assert keys_module._module_version("dateutil") == importlib.metadata.version("python-dateutil")
    assert keys_module._module_version("joblib") == importlib.metadata.version("joblib")
    assert keys_module._module_version("test_store_keys") == "unknown"


# --------------------------------------------------------------------------
# What does not change a key
# --------------------------------------------------------------------------


def test_growing_the_grid_keeps_every_old_key() -> None:
    est = DecisionTreeClassifier(random_state=0)
    small = keys_by_candidate(study_of(est, ParameterGrid(TREE_GRID)))
    grown_grid = {"max_depth": [1, 2, 3, 5], "criterion": ["gini", "log_loss", "entropy"]}
    grown = keys_by_candidate(study_of(est, ParameterGrid(grown_grid)))
    assert len(grown) == 36
    assert all(grown[c] == key for c, key in small.items())


def test_memmap_and_ndarray_of_the_same_data_share_keys(tmp_path: Path) -> None:
    X, y = data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    y_map = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert isinstance(X_map, np.memmap)
    est, grid = DecisionTreeClassifier(random_state=0), [{"max_depth": 2}]
    assert task_keys(study_of(est, grid, X, y)) == task_keys(study_of(est, grid, X_map, y_map))


def test_fit_params_in_a_bunch_or_a_dict_share_keys() -> None:
    from sklearn.utils import Bunch

    X, y = data()
    a = study_of(DecisionTreeClassifier(), [{}], X, y)
    weights = np.linspace(1, 2, len(y))
    b = dataclasses.replace(
        a, data=dataclasses.replace(a.data, fit_params={"sample_weight": weights})
    )
    c = dataclasses.replace(
        a, data=dataclasses.replace(a.data, fit_params=Bunch(sample_weight=weights.copy()))
    )
    assert task_keys(b) == task_keys(c)


# --------------------------------------------------------------------------
# What cannot be hashed
# --------------------------------------------------------------------------


class Unpicklable:
    """Neither joblib nor cloudpickle can pickle it; clone (deepcopy) keeps it."""

    def __reduce__(self) -> Any:
        raise TypeError("Unpicklable cannot be pickled")

    def __deepcopy__(self, memo: Any) -> Unpicklable:
        return self


def test_a_lambda_in_the_grid_falls_back_to_cloudpickle() -> None:
    est = FunctionTransformer()
    study = study_of(
        Pipeline([("f", est), ("clf", DecisionTreeClassifier(random_state=0))]),
        [{"f__func": lambda X: X}, {"f__func": lambda X: X * 2}, {"f__func": None}],
    )
    keys = task_keys(study)
    assert len(keys) == study.n_tasks and len(set(keys.values())) == study.n_tasks


def test_a_model_that_cannot_be_hashed_has_no_keys() -> None:
    X, y = data()
    good = Model(
        "tree",
        DecisionTreeClassifier(),
        ({"max_depth": 2},),
        check_scoring(DecisionTreeClassifier()),
    )
    bad_param = Model(
        "bad-param",
        FunctionTransformer(kw_args={"u": Unpicklable()}),
        ({},),
        make_scorer(lambda y, p: 0.0),
    )
    bad_scorer = Model("bad-scorer", DecisionTreeClassifier(), ({},), Unpicklable())
    bad_set_params = Model("bad-name", DecisionTreeClassifier(), ({"no_such": 1},), None)
    splits = tuple(KFold(2).split(X, y))
    study = Study((bad_param, good, bad_scorer, bad_set_params), StudyData(X, y, splits))
    keys = task_keys(study)
    assert list(keys) == [Task(1, 0, 0), Task(1, 0, 1)]


def test_data_that_cannot_be_hashed_gives_no_keys() -> None:
    X, y = data()
    study = study_of(DecisionTreeClassifier(), [{}], X, y)
    unhashable = dataclasses.replace(study.data, fit_params={"extra": Unpicklable()})
    assert task_keys(dataclasses.replace(study, data=unhashable)) == {}


# --------------------------------------------------------------------------
# candidate_repr and speed
# --------------------------------------------------------------------------


def test_candidate_repr() -> None:
    assert candidate_repr({"kernel": "rbf", "C": 10}) == '{"C": 10, "kernel": "rbf"}'
    assert candidate_repr({}) == "{}"
    text = candidate_repr(
        {
            "z": np.float64(0.5),
            "n": np.int64(3),
            "f": np.log1p,
            "g": candidate_repr,
            "est": SVC(C=2),
            "w": {0: 1, 1: 2.5},
            "t": (1, None, float("nan")),
            "o": Unpicklable(),
        }
    )
    assert json.loads(text.replace("NaN", "null")) == {
        "est": "SVC(C=2)",
        "f": "<ufunc 'log1p'>",
        "g": "gridfold.store.keys.candidate_repr",
        "n": 3,
        "o": "<test_store_keys.Unpicklable object>",
        "t": [1, None, None],
        "w": {"0": 1, "1": 2.5},
        "z": 0.5,
    }
    assert candidate_repr({"f": lambda x: x}) == candidate_repr({"f": lambda x: x})


def test_keys_of_2000_tasks_are_fast() -> None:
    X, y = data(500)
    grid = {"max_depth": list(range(1, 21)), "min_samples_leaf": list(range(1, 21))}
    study = study_of(DecisionTreeClassifier(random_state=0), ParameterGrid(grid), X, y, n_splits=5)
    task_keys(study)  # versions are looked up once per process
    start = time.perf_counter()
    keys = task_keys(study)
    elapsed = time.perf_counter() - start
    assert len(set(keys.values())) == 2000
    assert elapsed < 1.0  # about 0.015 s on an idle 2-core machine; generous for loaded CI
