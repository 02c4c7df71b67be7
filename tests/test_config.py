"""Study files: parsing, validation and located error messages (in-process, fast)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import ParameterGrid, ParameterSampler, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from gridfold.config import load_config, parse_config, sklearn_datasets
from gridfold.exceptions import ConfigError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

IRIS = '[data]\nsource = "sklearn:iris"\n'


def _error(text: str, tmp_path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        cfg = parse_config(text, file="study.toml", base_dir=tmp_path)
        cfg.data.load()
    return str(info.value)


def _line(message: str) -> int:
    match = re.match(r"study\.toml: line (\d+): ", message)
    assert match, message
    return int(match.group(1))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_parse(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.models
    for model in cfg.models:
        assert model.candidates()


def test_full_study() -> None:
    cfg = parse_config(
        IRIS
        + """
[cv]
splitter = "StratifiedKFold"
n_splits = 3
shuffle = true
random_state = 0

[run]
scoring = ["accuracy", "f1_macro"]
refit = "f1_macro"
n_jobs = 2
backend = "threads"
error_score = -1

[[model]]
name = "svc"
estimator = "sklearn.svm.SVC"
params = { kernel = "rbf", class_weight = "None" }
[[model.grid]]
C = [1, 10]
[[model.grid]]
C = [0.5]
gamma = [0.1]

[[model]]
name = "pipe"
steps = [ { name = "scale", estimator = "StandardScaler" },
          { name = "clf", estimator = "sklearn.linear_model.LogisticRegression" } ]
params = { clf__max_iter = 500 }

[[model]]
name = "rf"
estimator = "sklearn.ensemble.RandomForestClassifier"
n_iter = 3
random_state = 0
[model.distributions]
n_estimators = { randint = [10, 20] }
max_depth = ["None", 3]
min_samples_split = { uniform = { loc = 0.1, scale = 0.2 } }
"""
    )
    svc, pipe, rf = cfg.models
    assert isinstance(svc.estimator, SVC) and svc.estimator.class_weight is None
    assert svc.search == "grid"
    assert svc.candidates() == list(ParameterGrid([{"C": [1, 10]}, {"C": [0.5], "gamma": [0.1]}]))
    assert isinstance(pipe.estimator, Pipeline) and pipe.search == "none"
    assert pipe.estimator.get_params()["clf__max_iter"] == 500
    assert pipe.candidates() == [{}]
    assert rf.search == "random" and len(rf.candidates()) == 3
    expected = list(ParameterSampler(list(rf.space), 3, random_state=0))
    assert [c["max_depth"] for c in rf.candidates()] == [c["max_depth"] for c in expected]
    assert cfg.run.metrics == ("accuracy", "f1_macro")
    assert cfg.run.refit_metric == "f1_macro"
    assert cfg.run.error_score == -1.0 and cfg.run.n_jobs == 2
    cv = cfg.cv.make(np.array([0, 1] * 10), classifier=True)
    assert isinstance(cv, StratifiedKFold) and cv.n_splits == 3 and cv.shuffle


def test_defaults() -> None:
    cfg = parse_config(IRIS + '[[model]]\nestimator = "sklearn.svm.SVC"\n')
    assert cfg.models[0].name == "SVC"
    assert cfg.run.metrics == ("score",) and math.isnan(float(cfg.run.error_score))
    assert cfg.cv.make(np.array([0, 1] * 10), classifier=True).n_splits == 5
    assert [d.startswith("load") for d in sklearn_datasets()] == [False] * len(sklearn_datasets())
    assert "iris" in sklearn_datasets()


def test_toml_syntax_error_has_line() -> None:
    message = _error(IRIS + '[[model]]\nestimator = "sklearn.svm.SVC"\ngrid = { C = [1, 2 }\n')
    assert _line(message) == 5
    assert "invalid TOML" in message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (IRIS + '[[model]]\nestimator = "sklearn.svm.SVD"\n', 4, 'did you mean "sklearn.svm.SVR"'),
        (IRIS + '[[model]]\nestimator = "sklearnx.svm.SVC"\n', 4, "cannot import module"),
        (IRIS + '[[model]]\nestimator = "SVCC"\n', 4, "unknown estimator 'SVCC'"),
        (IRIS + '[cv]\nn_split = 3\n[[model]]\nestimator = "SVC"\n', 4, "did you mean 'n_splits'"),
        (IRIS + '[[model]]\nestimator = "SVC"\ngird = { C = [1] }\n', 5, "unknown key 'gird'"),
        (IRIS + '[[model]]\nestimator = "SVC"\nparams = { CC = 1 }\n', 5, "'CC'"),
        (IRIS + '[[model]]\nestimator = "SVC"\n[model.grid]\nC = []\n', 6, "empty list"),
        (IRIS + '[[model]]\nestimator = "SVC"\n[model.grid]\nC = 1\n', 6, "must be a list"),
        (
            IRIS
            + '[[model]]\nestimator = "SVC"\n[model.distributions]\nC = { logunifrom = [1, 2] }\n',
            6,
            "unknown distribution 'logunifrom'",
        ),
        (
            IRIS + '[[model]]\nestimator = "SVC"\n[model.distributions]\nC = [1]\nn_iter = 3\n',
            7,
            "move n_iter",
        ),
        (IRIS + '[run]\nscoring = "acuracy"\n[[model]]\nestimator = "SVC"\n', 4, "'accuracy'"),
        (
            IRIS + '[run]\nscoring = ["accuracy"]\nrefit = "f1"\n[[model]]\nestimator = "SVC"\n',
            5,
            "refit",
        ),
        (IRIS + '[run]\nbackend = "gpu"\n[[model]]\nestimator = "SVC"\n', 4, "unknown backend"),
        (IRIS + '[run]\nn_jobs = 0\n[[model]]\nestimator = "SVC"\n', 4, "n_jobs = 0"),
        (IRIS + '[cv]\nsplitter = "KFolds"\n[[model]]\nestimator = "SVC"\n', 4, "'KFold'"),
        (
            IRIS + '[cv]\nsplitter = "KFold"\nn_repeats = 2\n[[model]]\nestimator = "SVC"\n',
            5,
            "unknown key 'n_repeats'",
        ),
        ('[data]\nsource = "sklearn:irs"\n[[model]]\nestimator = "SVC"\n', 2, "sklearn:iris"),
        (
            IRIS + '[[model]]\nname = "a"\nestimator = "SVC"\n[[model]]\nname = "a"\n'
            'estimator = "SVR"\n',
            6,
            "used twice",
        ),
    ],
)
def test_semantic_errors_are_located(text: str, line: int, fragment: str) -> None:
    message = _error(text)
    assert _line(message) == line, message
    assert fragment in message
    assert "fix" in message.lower()


def test_missing_tables() -> None:
    assert "no [data]" in _error('[[model]]\nestimator = "SVC"\n')
    assert "no [[model]]" in _error(IRIS)
    assert "unknown key 'modle'" in _error(IRIS + '[[modle]]\nestimator = "SVC"\n')


def test_csv_data(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,g,label\n1,2,0,x\n3,4,0,y\n5,6,1,x\n7,8,1,y\n")
    text = '[data]\npath = "d.csv"\ntarget = "label"\ngroups = "g"\n[[model]]\nestimator = "SVC"\n'
    data = parse_config(text, base_dir=tmp_path).data.load()
    assert list(data.X.columns) == ["a", "b"]
    assert data.y.tolist() == ["x", "y", "x", "y"]
    assert data.groups.tolist() == [0, 0, 1, 1]


def test_csv_missing_target_lists_columns(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n")
    message = _error(
        '[data]\npath = "d.csv"\ntarget = "lable"\n[[model]]\nestimator = "SVC"\n', tmp_path
    )
    assert _line(message) == 3
    assert "['a', 'b', 'label']" in message and "did you mean 'label'" in message


def test_missing_data_file(tmp_path: Path) -> None:
    message = _error(
        '[data]\npath = "nope.csv"\ntarget = "y"\n[[model]]\nestimator = "SVC"\n', tmp_path
    )
    assert _line(message) == 2 and "does not exist" in message


def test_parquet_data(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame({"a": [1.0, 2.0], "t": [0, 1]}).to_parquet(tmp_path / "d.parquet")
    text = '[data]\npath = "d.parquet"\ntarget = "t"\n[[model]]\nestimator = "SVC"\n'
    data = parse_config(text, base_dir=tmp_path).data.load()
    assert data.y.tolist() == [0, 1]


def test_missing_study_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such study file"):
        load_config(tmp_path / "missing.toml")
