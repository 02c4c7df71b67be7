"""Reports: the plot functions, ``to_frame``/``plot_*`` methods, ``gridfold report``, and the
HTML page in a real headless Chromium.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (installed by
``tests/browser/setup.sh``, which ``.ci/run`` runs) and selenium (the ``test`` extra). It
skips without them, unless ``GRIDFOLD_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then it fails.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.datasets import load_iris, load_wine
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold.config import parse_config
from gridfold.exceptions import ParameterError
from gridfold.report import (
    plot_critical_difference,
    plot_fold_scores,
    plot_param,
    plot_times,
    write_report,
)
from gridfold.report.params import varying_params
from gridfold.report.plots import CLIQUE_LABEL, _cliques
from gridfold.runner import StudyOutcome, run_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; fails unless ``data`` is a PNG."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _pair_lines(fig: Any) -> list[Any]:
    (ax,) = fig.axes
    return [line for line in ax.lines if line.get_label().startswith("split ")]


# --------------------------------------------------------------------------
# plot functions
# --------------------------------------------------------------------------


def test_fold_scores_joins_each_split_across_models() -> None:
    scores = pd.DataFrame(
        {"svc": [0.9, 0.8, 0.85, 0.95], "knn": [0.7, 0.75, np.nan, 0.8], "nb": [0.6] * 4}
    )
    fig = plot_fold_scores(scores, metric="accuracy")
    (ax,) = fig.axes
    lines = _pair_lines(fig)
    assert len(lines) == 4  # one per split
    np.testing.assert_array_equal(lines[1].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), [0.8, 0.75, 0.6])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["svc", "knn", "nb"]
    assert ax.get_ylabel() == "test accuracy"
    assert ax.get_legend() is not None
    assert len(ax.patches) == 3  # one box per model


def test_fold_scores_many_splits_has_no_legend_and_empty_input_fails() -> None:
    rng = np.random.default_rng(0)
    fig = plot_fold_scores(pd.DataFrame(rng.random((12, 2)), columns=["a", "b"]))
    assert len(_pair_lines(fig)) == 12
    assert fig.axes[0].get_legend() is None
    with pytest.raises(ParameterError, match="at least one split"):
        plot_fold_scores(pd.DataFrame())


def test_times_stacks_fit_score_and_saved() -> None:
    fit = {"svc": 2.0, "knn": 0.5}
    score = {"svc": 0.5, "knn": 0.25}
    fig = plot_times(fit, score)
    (ax,) = fig.axes
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_yticklabels()] == ["svc", "knn"]
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == [0.25, 0.5, 0.5, 2.0]
    assert {t.get_text().strip() for t in ax.texts} == {"2.5 s", "0.750 s"}
    fig = plot_times(fit, score, saved_seconds={"svc": 1.0})
    assert len(fig.axes[0].patches) == 6
    assert "saved by sharing" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_critical_difference_groups_models_closer_than_cd() -> None:
    ranks = pd.Series({"d": 3.9, "a": 1.2, "c": 2.9, "b": 2.0})
    fig = plot_critical_difference(ranks, 1.0, title="ranks")
    (ax,) = fig.axes
    bars = [line for line in ax.lines if line.get_label() == CLIQUE_LABEL]
    assert len(bars) == 2  # {a, b} and {b, c}; c and d differ by exactly cd
    spans = sorted((round(min(b.get_xdata()), 2), round(max(b.get_xdata()), 2)) for b in bars)
    assert spans == [(1.17, 2.03), (1.97, 2.93)]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "CD = 1.00" in texts
    for name in "abcd":
        assert re.search(rf"\b{name}\b", texts)
    assert ax.get_title(loc="left") == "ranks"


def test_cliques_are_maximal() -> None:
    assert _cliques(np.array([1.0, 1.1, 1.2, 3.0]), 0.5) == [(0, 2)]
    assert _cliques(np.array([1.0, 2.0, 3.0]), 0.5) == []
    assert _cliques(np.array([1.0, 1.4, 1.8, 2.2]), 0.5) == [(0, 1), (1, 2), (2, 3)]


def test_critical_difference_rejects_bad_input() -> None:
    with pytest.raises(ParameterError, match="at least 2 models"):
        plot_critical_difference({"a": 1.0}, 1.0)
    with pytest.raises(ParameterError, match="positive critical"):
        plot_critical_difference({"a": 1.0, "b": 2.0}, float("nan"))


# --------------------------------------------------------------------------
# score against hyperparameters, and the searches' methods
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def svc_search(iris: tuple[np.ndarray, np.ndarray]) -> gridfold.GridSearchCV:
    grid = {"C": [0.01, 0.1, 1, 10], "gamma": ["scale", 0.1], "kernel": ["rbf"]}
    return gridfold.GridSearchCV(SVC(), grid, cv=3, n_jobs=1).fit(*iris)


def test_varying_params_ignores_constant_ones(svc_search: gridfold.GridSearchCV) -> None:
    assert varying_params(svc_search.cv_results_["params"]) == ["C", "gamma"]
    assert varying_params([{"a": 1}, {"a": 1, "b": 2}]) == ["b"]  # unset counts as a value


def test_plot_param_one_numeric_param_is_a_line_on_a_log_axis(
    svc_search: gridfold.GridSearchCV,
) -> None:
    res = svc_search.cv_results_
    fig = plot_param(res, "C")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"  # 0.01 .. 10: three decades
    mean_line = next(line for line in ax.lines if line.get_label() == "mean test score")
    np.testing.assert_array_equal(mean_line.get_xdata(), [0.01, 0.1, 1, 10])
    frame = pd.DataFrame(res)
    best = frame.groupby(frame["param_C"].astype(float))["mean_test_score"].max()
    np.testing.assert_allclose(mean_line.get_ydata(), best.to_numpy())
    assert len(ax.collections) == 1  # the mean ± std band
    assert "best over gamma" in ax.get_title(loc="left")
    dots = [line for line in ax.lines if line.get_label().startswith("_")]
    assert len(dots) == 3  # one row of dots per split


def test_plot_param_categories_and_narrow_numbers(svc_search: gridfold.GridSearchCV) -> None:
    fig = plot_param(svc_search.cv_results_, "gamma")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["scale", "0.1"]
    narrow = {
        "params": [{"k": 1}, {"k": 5}, {"k": 9}],
        "mean_test_score": [0.5, 0.7, 0.6],
        "std_test_score": [0.1, 0.1, 0.1],
        "split0_test_score": [0.4, 0.6, 0.5],
        "split1_test_score": [0.6, 0.8, 0.7],
    }
    ax = plot_param(narrow).axes[0]
    assert ax.get_xscale() == "linear"  # 1 .. 9: under two decades


def test_plot_param_two_params_is_a_heatmap(svc_search: gridfold.GridSearchCV) -> None:
    res = svc_search.cv_results_
    fig = plot_param(res, metric="score", metric_label="accuracy", title="svc")
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    ax = fig.axes[0]
    (image,) = ax.images
    grid = np.asarray(image.get_array())
    assert grid.shape == (4, 2)  # C down, gamma across
    frame = pd.DataFrame(res)
    expected = frame.pivot_table(
        index=frame["param_C"].astype(float),
        columns=frame["param_gamma"].astype(str),
        values="mean_test_score",
    )[["scale", "0.1"]]
    np.testing.assert_allclose(grid, expected.to_numpy())
    assert len(ax.texts) == 8  # mean ± std in every cell
    assert ax.get_title(loc="left").startswith("svc: accuracy by C and gamma")


def test_plot_param_three_params_gives_a_panel_each() -> None:
    params = [{"a": a, "b": b, "c": c} for a in (1, 2) for b in ("x", "y") for c in (0.1, 100.0)]
    n = len(params)
    res = {
        "params": params,
        "mean_test_score": np.linspace(0, 1, n),
        "std_test_score": np.full(n, 0.1),
        "split0_test_score": np.linspace(0, 1, n),
    }
    fig = plot_param(res)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["a", "b", "c"]
    assert visible[2].get_xscale() == "log"


def test_plot_param_errors(svc_search: gridfold.GridSearchCV) -> None:
    res = svc_search.cv_results_
    with pytest.raises(ParameterError, match="'kernel' does not vary"):
        plot_param(res, "kernel")
    with pytest.raises(ParameterError, match="no metric 'f1'"):
        plot_param(res, "C", metric="f1")
    one = {k: v[:1] for k, v in res.items()}
    with pytest.raises(ParameterError, match="no hyperparameter varies"):
        plot_param(one)


def test_search_to_frame_is_cv_results(svc_search: gridfold.GridSearchCV) -> None:
    frame = svc_search.to_frame()
    res = svc_search.cv_results_
    assert frame.shape == (8, len(res))
    assert list(frame.columns) == list(res)
    np.testing.assert_array_equal(frame["mean_test_score"], res["mean_test_score"])
    np.testing.assert_array_equal(frame["split2_test_score"], res["split2_test_score"])
    assert frame["params"].tolist() == res["params"]


def test_search_plot_param_uses_the_refit_metric(iris: tuple[np.ndarray, np.ndarray]) -> None:
    search = gridfold.RandomizedSearchCV(
        KNeighborsClassifier(),
        {"n_neighbors": list(range(1, 30))},
        n_iter=5,
        random_state=0,
        scoring=["accuracy", "f1_macro"],
        refit="f1_macro",
        cv=3,
        n_jobs=1,
    ).fit(*iris)
    fig = search.plot_param("n_neighbors")
    ax = fig.axes[0]
    line = next(x for x in ax.lines if x.get_label() == "mean test f1_macro")
    order = np.argsort(search.cv_results_["param_n_neighbors"].astype(float))
    np.testing.assert_allclose(line.get_ydata(), search.cv_results_["mean_test_f1_macro"][order])
    assert search.to_frame().shape[0] == 5
    with pytest.raises(ParameterError, match="not fitted"):
        gridfold.GridSearchCV(SVC(), {"C": [1, 2]}).to_frame()


# --------------------------------------------------------------------------
# CompareResult and MultiCompareResult
# --------------------------------------------------------------------------

MODELS = {
    "nb": GaussianNB(),
    "tree": DecisionTreeClassifier(random_state=0),
    "knn": KNeighborsClassifier(),
}


@pytest.fixture(scope="module")
def compared(iris: tuple[np.ndarray, np.ndarray]) -> gridfold.CompareResult:
    return gridfold.compare(MODELS, *iris, cv=4, n_jobs=1)


def test_compare_to_frame_one_row_per_model_and_split(
    compared: gridfold.CompareResult, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    frame = compared.to_frame()
    assert frame.shape[0] == 3 * 4
    assert frame["model"].tolist() == [m for m in MODELS for _ in range(4)]
    assert frame["split"].tolist() == list(range(4)) * 3
    for name, estimator in MODELS.items():  # each row is that model's fit on that split
        expected = cross_validate(estimator, *iris, cv=4)["test_score"]
        np.testing.assert_array_equal(frame.loc[frame["model"] == name, "test_score"], expected)


def test_compare_plots(compared: gridfold.CompareResult) -> None:
    fig = compared.plot_scores()
    order = list(compared.summary().index)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == order
    lines = _pair_lines(fig)
    assert len(lines) == 4
    table = compared.scores.pivot(index="split", columns="model", values="test_score")
    np.testing.assert_array_equal(lines[0].get_ydata(), table.loc[0, order].to_numpy())
    times = compared.plot_times()
    assert [t.get_text() for t in times.axes[0].get_yticklabels()] == list(MODELS)


def test_multi_compare_plot_critical_difference() -> None:
    datasets = {"iris": load_iris(return_X_y=True), "wine": load_wine(return_X_y=True)}
    result = gridfold.compare(MODELS, datasets=datasets, cv=3, n_jobs=1)
    fig = result.plot_critical_difference()
    nemenyi = result.nemenyi()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"CD = {nemenyi.critical_difference:.2f}" in texts
    for name, rank in nemenyi.ranks.items():
        assert f"{name} ({rank:.2f})" in texts or f"({rank:.2f}) {name}" in texts


# --------------------------------------------------------------------------
# the HTML report
# --------------------------------------------------------------------------

STUDY = """
[data]
source = "sklearn:{source}"
[cv]
splitter = "StratifiedKFold"
n_splits = 3
[[model]]
name = "nb"
estimator = "sklearn.naive_bayes.GaussianNB"
[[model]]
name = "svc"
estimator = "sklearn.svm.SVC"
grid = {{ C = [0.01, 0.1, 1.0, 10.0] }}
[[model]]
name = "tree"
estimator = "sklearn.tree.DecisionTreeClassifier"
params = {{ random_state = 0 }}
[model.grid]
max_depth = [1, 3, "None"]
criterion = ["gini", "entropy"]
"""


def _outcome(source: str) -> StudyOutcome:
    cfg = parse_config(STUDY.format(source=source), file=f"{source}.toml")
    return run_config(cfg, n_jobs=1, progress=False)


def _images(page: str) -> list[bytes]:
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    return [base64.b64decode(s.split(",", 1)[1]) for s in sources]


@pytest.fixture(scope="module")
def iris_outcome() -> StudyOutcome:
    return _outcome("iris")


def test_write_report_one_study(tmp_path: Path, iris_outcome: StudyOutcome) -> None:
    report = write_report(iris_outcome, tmp_path / "out")
    page = report.html.read_text(encoding="utf-8")
    names = sorted(p.name for p in report.images)
    assert names == ["fold_scores.png", "param_svc.png", "param_tree.png", "times.png"]
    # self-contained: the page embeds exactly the PNG files' bytes, and loads nothing
    assert _images(page) == [p.read_bytes() for p in report.images]
    assert not re.search(r"<script|<link|src=\"http|url\(", page)
    for model in ("nb", "svc", "tree"):
        assert f"<td>{model}</td>" in page
    assert "p vs best (Holm)" in page and "P(equivalent)" in page
    assert "corrected t-test over 3 splits" in page  # the verdict's lines
    assert "what sharing saved is not shown" in page  # no plan passed: no count either
    assert "fits avoided" not in page
    assert "Across" not in page  # one data set: no critical-difference diagram


def _best_table_rows(page: str) -> dict[str, list[str]]:
    """The cells of the page's first table (each model's best candidate), by model."""
    table = page.split("<table>", 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if cells:
            rows[cells[1]] = cells
    return rows


def _pvalue_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def test_report_tests_equal_the_formulas_on_sklearn_s_best_candidates(
    tmp_path: Path, iris_outcome: StudyOutcome
) -> None:
    """Each model's best candidate as scikit-learn's search picks it, and against the best
    one the corrected t-test (Holm over the two others) and the Bayesian correlated t-test,
    computed here from their formulas with n_train and n_test the splits' sizes."""
    X, y = load_iris(return_X_y=True)
    cv = StratifiedKFold(3)
    searches = {
        "nb": GridSearchCV(GaussianNB(), {}, cv=cv),
        "svc": GridSearchCV(SVC(), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=cv),
        "tree": GridSearchCV(
            DecisionTreeClassifier(random_state=0),
            {"max_depth": [1, 3, None], "criterion": ["gini", "entropy"]},
            cv=cv,
        ),
    }
    splits, means, stds = {}, {}, {}
    for name, search in searches.items():
        search.fit(X, y)
        res, i = search.cv_results_, search.best_index_
        splits[name] = np.array([res[f"split{k}_test_score"][i] for k in range(3)])
        means[name], stds[name] = res["mean_test_score"][i], res["std_test_score"][i]
    sizes = np.array([(len(tr), len(te)) for tr, te in cv.split(X, y)], dtype=float)
    n_train, n_test = sizes.mean(axis=0)
    best = max(means, key=means.__getitem__)
    others = [m for m in searches if m != best]
    raw, probabilities = {}, {}
    for other in others:
        d = splits[best] - splits[other]
        scale = math.sqrt(np.var(d, ddof=1) * (1 / 3 + n_test / n_train))
        raw[other] = float(2 * scipy.stats.t.sf(abs(d.mean() / scale), 2))
        posterior = scipy.stats.t(2, loc=d.mean(), scale=scale)
        rope = 0.01
        probabilities[other] = (
            posterior.sf(rope),
            posterior.cdf(rope) - posterior.cdf(-rope),
            posterior.cdf(-rope),
        )
    low, high = sorted(others, key=raw.__getitem__)  # Holm, by hand, over the two tests
    holm = {low: min(1.0, 2 * raw[low])}
    holm[high] = min(1.0, max(holm[low], raw[high]))

    page = write_report(iris_outcome, tmp_path).html.read_text(encoding="utf-8")
    rows = _best_table_rows(page)
    assert set(rows) == set(searches)
    assert rows[best][4] == "(best)"
    for name in searches:
        assert rows[name][3] == f"{means[name]:.4f} ± {stds[name]:.4f}"
    for other in others:
        cells = rows[other]
        assert cells[4] == _pvalue_text(holm[other]), other
        diff = means[best] - means[other]
        said = "no significant difference" if holm[other] > 0.05 else f"{best} better"
        assert diff > 0 and cells[5] == said, other
        assert cells[6:9] == [f"{p:.3f}" for p in probabilities[other]], other


def test_write_report_several_datasets_has_a_critical_difference_diagram(
    tmp_path: Path, iris_outcome: StudyOutcome
) -> None:
    outcomes = {"iris": iris_outcome, "wine": _outcome("wine")}
    report = write_report(outcomes, tmp_path)
    page = report.html.read_text(encoding="utf-8")
    assert "<h2>Across 2 data sets</h2>" in page
    assert "Friedman: chi-square" in page
    names = {p.name for p in report.images}
    assert {"critical_difference.png", "iris-fold_scores.png", "wine-times.png"} <= names
    assert len(_images(page)) == len(report.images) == 9


def test_write_report_keeps_the_plots_of_models_whose_names_share_a_file_name(
    tmp_path: Path,
) -> None:
    models = "".join(
        f'[[model]]\nname = "{name}"\nestimator = "sklearn.neighbors.KNeighborsClassifier"\n'
        "grid = { n_neighbors = [1, 5] }\n"
        for name in ("knn a", "knn_a")
    )
    text = '[data]\nsource = "sklearn:iris"\n[cv]\nn_splits = 3\n' + models
    outcome = run_config(parse_config(text, file="s.toml"), n_jobs=1, progress=False)
    report = write_report(outcome, tmp_path)
    names = [p.name for p in report.images]
    assert "param_knn_a.png" in names and "param_knn_a-2.png" in names
    assert len(set(names)) == len(names) == 4
    page = report.html.read_text(encoding="utf-8")
    assert _images(page) == [p.read_bytes() for p in report.images]


# --------------------------------------------------------------------------
# gridfold report, in real subprocesses
# --------------------------------------------------------------------------


def _gridfold(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridfold", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def ran_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The iris example copied to a temporary folder and run there (its store beside it)."""
    folder = tmp_path_factory.mktemp("study")
    study = folder / "iris_svc_grid.toml"
    shutil.copy(EXAMPLES / "iris_svc_grid.toml", study)
    done = _gridfold("run", study, "-q", "--n-jobs", "1", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "iris_svc_grid.gridfold.db").exists()
    return study


@pytest.fixture(scope="module")
def cli_report(ran_study: Path) -> Path:
    out = ran_study.parent / "tmp"
    done = _gridfold("report", ran_study, "-o", out, cwd=ran_study.parent)
    assert done.returncode == 0, done.stderr
    assert str(out / "report.html") in done.stdout
    assert done.stderr == ""
    return out / "report.html"


def test_cli_report_writes_html_and_valid_pngs(cli_report: Path) -> None:
    folder = cli_report.parent
    pngs = sorted(folder.glob("*.png"))
    assert [p.name for p in pngs] == ["fold_scores.png", "param_svc.png", "times.png"]
    for png in pngs:
        data = png.read_bytes()
        width, height = _png_size(data)
        assert width > 100 and height > 100 and len(data) > 1000
    page = cli_report.read_text(encoding="utf-8")
    assert sorted(_images(page)) == sorted(p.read_bytes() for p in pngs)
    assert "<td>svc</td>" in page


SHARING = """
[data]
source = "sklearn:iris"
[cv]
splitter = "StratifiedKFold"
n_splits = 3
shuffle = true
random_state = 0
[[model]]
name = "knn"
estimator = "sklearn.neighbors.KNeighborsClassifier"
[model.grid]
n_neighbors = [1, 3, 5, 9]
weights = ["uniform", "distance"]
[[model]]
name = "tree"
estimator = "sklearn.tree.DecisionTreeClassifier"
params = { random_state = 0 }
grid = { max_depth = [1, 3] }
"""


def _sharing_rows(page: str) -> dict[str, list[str]]:
    """The "fits avoided" table: model -> [candidate fits, fits run, fits avoided, shared work]."""
    table = page.split("<th>fits avoided</th>", 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        rows[cells[0]] = cells[1:]
    return rows


def test_cli_report_counts_the_fits_sharing_avoided(tmp_path: Path) -> None:
    study = tmp_path / "sharing.toml"
    study.write_text(SHARING)
    done = _gridfold("run", study, "-q", "--n-jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _gridfold("report", study, "-o", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    rows = _sharing_rows(page)
    # An independent count: kNN's n_neighbors path shares one fit per split and per value of
    # every other parameter (iris' 100-row training sets keep every k below half of them, so
    # `algorithm="auto"` resolves alike); the tree has no path family, so nothing is shared.
    n_splits = 3
    knn = [{"n_neighbors": k, "weights": w} for k in (1, 3, 5, 9) for w in ("uniform", "distance")]
    groups = {(s, c["weights"]) for s in range(n_splits) for c in knn}
    assert rows["knn"][:3] == [str(len(knn) * n_splits), str(len(groups)), "18"]
    assert len(knn) * n_splits - len(groups) == 18
    assert "6 path fits (knn_n_neighbors)" in rows["knn"][3]
    assert rows["tree"] == ["6", "6", "0", "none"]
    assert "18 whole fits avoided in all" in page
    assert "for 1 worker, as the study&#x27;s last recorded run" in page
    assert "--no-share" in page  # says the count is the default plan's, not one run's


def test_report_sharing_plan_without_a_recorded_run_assumes_one_worker(tmp_path: Path) -> None:
    from gridfold.report.sharing import last_run_workers, plan_sharing
    from gridfold.runner import prepare

    prepared = prepare(parse_config(SHARING, file="sharing.toml"))
    assert last_run_workers([]) is None
    plan = plan_sharing(prepared.study, None)
    assert (plan.n_workers, plan.workers_recorded, plan.avoided) == (1, False, 18)
    assert [(m.name, m.candidate_fits, m.fits_run) for m in plan.models] == [
        ("knn", 24, 6),
        ("tree", 6, 6),
    ]
    outcome = _outcome("iris")
    page = write_report(outcome, tmp_path, sharing=plan_sharing(_study("iris"), None))
    text = page.html.read_text(encoding="utf-8")
    assert "1 worker (no run of the study is recorded in the store)" in text
    assert "0 whole fits avoided in all" in text  # no path family among nb, svc, tree
    assert all(cells[2] == "0" for cells in _sharing_rows(text).values())
    # More workers than units: the planner cuts path units, each cut costs one more fit.
    wide = plan_sharing(prepared.study, 16)
    assert wide.models[0].fits_run > 6 and wide.models[0].avoided < 18


def _study(source: str) -> Any:
    from gridfold.runner import prepare

    return prepare(parse_config(STUDY.format(source=source), file=f"{source}.toml")).study


def test_cli_report_default_folder_is_next_to_the_study(ran_study: Path) -> None:
    done = _gridfold("report", ran_study.name, cwd=ran_study.parent)
    assert done.returncode == 0, done.stderr
    assert (ran_study.parent / "iris_svc_grid-report" / "report.html").is_file()


def _assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gridfold: error: "), done.stderr
    for word in words:
        assert word in lines[0]


def test_cli_report_to_a_path_that_is_a_file(tmp_path: Path, ran_study: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    done = _gridfold("report", ran_study, "-o", taken, cwd=ran_study.parent)
    _assert_one_line_error(done, "cannot write the report", "-o DIR")
    assert taken.read_text() == "not a folder"


def test_cli_report_without_a_store(tmp_path: Path) -> None:
    study = tmp_path / "iris_svc_grid.toml"
    shutil.copy(EXAMPLES / "iris_svc_grid.toml", study)
    done = _gridfold("report", study, cwd=tmp_path)
    _assert_one_line_error(done, "no results store", "gridfold run")
    assert not (tmp_path / "iris_svc_grid-report").exists()


def test_cli_report_with_another_studys_store(tmp_path: Path, ran_study: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(
        '[data]\nsource = "sklearn:wine"\n[[model]]\nname = "nb"\n'
        'estimator = "sklearn.naive_bayes.GaussianNB"\n'
    )
    store = ran_study.parent / "iris_svc_grid.gridfold.db"
    done = _gridfold("report", other, "--store", store, cwd=tmp_path)
    _assert_one_line_error(done, "holds none of the fits", "results of other studies")


def test_cli_report_with_an_unfinished_store(tmp_path: Path, ran_study: Path) -> None:
    grown = tmp_path / "grown.toml"
    text = (EXAMPLES / "iris_svc_grid.toml").read_text()
    grown.write_text(text.replace("C = [0.1, 1, 10, 100]", "C = [0.1, 1, 10, 100, 1000]"))
    store = ran_study.parent / "iris_svc_grid.gridfold.db"
    done = _gridfold("report", grown, "--store", store, cwd=tmp_path)
    _assert_one_line_error(done, "20 of 100 fits", "not in the store yet")


# --------------------------------------------------------------------------
# the page in a real headless Chromium
# --------------------------------------------------------------------------


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not installed (as root: bash tests/browser/setup.sh)"
    return None


@pytest.fixture
def chromium() -> Iterator[Any]:
    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("GRIDFOLD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{missing}; .ci/run installs it with tests/browser/setup.sh")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the Debian driver, so that selenium does not try to download one
    service = Service(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_in_headless_chromium(chromium: Any, cli_report: Path, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    driver.get(cli_report.resolve().as_uri())
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    sizes = driver.execute_script(
        "return Array.from(document.images).map(function (img) {"
        "  var box = img.getBoundingClientRect();"
        "  return [img.complete, img.naturalWidth, box.width, box.height]; })"
    )
    assert len(sizes) == 3
    for complete, natural_width, width, height in sizes:
        assert complete and natural_width > 0 and width > 0 and height > 0
    title = driver.execute_script("return document.querySelector('h1').textContent")
    assert "iris_svc_grid.toml" in title
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, height + 50)
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot))
    width, shot_height = _png_size(shot.read_bytes())
    assert width > 0 and shot_height > 0


def test_the_digits_example_report_in_headless_chromium(chromium: Any, tmp_path: Path) -> None:
    """The issue's own example: its report loads cleanly, every plot shows, one row per model.

    With GRIDFOLD_SCREENSHOTS set to a folder, the screenshot is copied there.
    """
    from selenium.webdriver.support.ui import WebDriverWait

    study = tmp_path / "digits_compare.toml"
    shutil.copy(EXAMPLES / "digits_compare.toml", study)
    done = _gridfold("run", study, "-q", "--n-jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _gridfold("report", study, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = tmp_path / "digits_compare-report" / "report.html"
    driver = chromium
    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    sizes = driver.execute_script(
        "return Array.from(document.images).map(function (img) {"
        "  var box = img.getBoundingClientRect();"
        "  return [img.naturalWidth, box.width, box.height]; })"
    )
    # per-split scores, one plot per tuned model (logreg, svc, knn, forest), time per model
    assert len(sizes) == 6 and all(w > 0 and bw > 0 and bh > 0 for w, bw, bh in sizes)
    text = driver.execute_script("return document.body.innerText")
    for model in ("svc", "knn", "forest", "logreg", "naive_bayes"):
        assert model in text
    driver.set_window_size(1280, driver.execute_script("return document.body.scrollHeight") + 50)
    shot = tmp_path / "digits_report.png"
    assert driver.save_screenshot(str(shot))
    if os.environ.get("GRIDFOLD_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["GRIDFOLD_SCREENSHOTS"]) / shot.name)


SEVERAL = """
[[data]]
name = "iris"
source = "sklearn:iris"
[[data]]
name = "wine"
source = "sklearn:wine"
[cv]
n_splits = 3
[[model]]
name = "nb"
estimator = "sklearn.naive_bayes.GaussianNB"
[[model]]
name = "tree"
estimator = "sklearn.tree.DecisionTreeClassifier"
params = { random_state = 0 }
grid = { max_depth = [1, 3] }
[[model]]
name = "knn"
estimator = "sklearn.neighbors.KNeighborsClassifier"
"""


def test_cli_report_of_several_datasets(tmp_path: Path) -> None:
    study = tmp_path / "several.toml"
    study.write_text(SEVERAL)
    done = _gridfold("run", study, "-q", "--n-jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _gridfold("report", study, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "several-report"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<h2>Across 2 data sets</h2>" in page
    assert "<h2>iris</h2>" in page and "<h2>wine</h2>" in page
    assert (folder / "critical_difference.png").is_file()
    assert (folder / "wine-param_tree.png").is_file()


def test_cli_report_refuses_a_nested_study(tmp_path: Path) -> None:
    study = tmp_path / "nested.toml"
    study.write_text(
        '[data]\nsource = "sklearn:iris"\n[run]\nnested = true\n[[model]]\nname = "svc"\n'
        'estimator = "sklearn.svm.SVC"\ngrid = { C = [1, 10] }\n'
    )
    _assert_one_line_error(_gridfold("report", study, cwd=tmp_path), "gridfold report", "nested")
