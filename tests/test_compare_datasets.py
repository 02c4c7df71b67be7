"""compare(datasets=...): every model on every data set, one pool, Friedman/Nemenyi across."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_validate
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold import CompareResult, MultiCompareResult, ParameterError, stats
from gridfold.comparison import compare

MODELS = {
    "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
    "knn": KNeighborsClassifier(5),
    "nb": GaussianNB(),
}
NAMES = ["iris", "wine", "breast_cancer", "digits"]
SCORING = ["accuracy", "f1_macro"]


@pytest.fixture(scope="module")
def data(datasets: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: datasets[name] for name in NAMES}


@pytest.fixture(scope="module")
def result(data: dict) -> MultiCompareResult:
    return compare(MODELS, datasets=data, cv=5, scoring=SCORING, n_jobs=2, backend="threads")


def split_scores(result: CompareResult, model: str, column: str) -> np.ndarray:
    rows = result.scores[result.scores["model"] == model].sort_values("split")
    return rows[column].to_numpy()


def hand_built_means(data: dict, metric: str) -> pd.DataFrame:
    """Mean cross_validate test score per data set x model, cv=5 resolved per data set."""
    table = {
        name: {
            model: np.mean(cross_validate(est, X, y, cv=5, scoring=SCORING)[f"test_{metric}"])
            for model, est in MODELS.items()
        }
        for name, (X, y) in data.items()
    }
    return pd.DataFrame.from_dict(table, orient="index")


# --------------------------------------------------------------------------
# Exactness: every model x data set equals scikit-learn's cross_validate.
# --------------------------------------------------------------------------


def test_result_holds_one_compare_result_per_dataset(result: MultiCompareResult) -> None:
    assert isinstance(result, MultiCompareResult)
    assert list(result.results) == NAMES
    assert all(isinstance(r, CompareResult) for r in result.results.values())
    assert result.metrics == SCORING


@pytest.mark.parametrize("name", NAMES)
def test_every_model_scores_equal_cross_validate(
    result: MultiCompareResult, data: dict, name: str
) -> None:
    X, y = data[name]
    one = result.results[name]
    assert one.n_splits == 5
    for model, est in MODELS.items():
        expected = cross_validate(est, X, y, cv=5, scoring=SCORING)
        for metric in SCORING:
            got = split_scores(one, model, f"test_{metric}")
            assert np.array_equal(got, expected[f"test_{metric}"]), (name, model, metric)


def test_cv_is_resolved_per_dataset_with_its_own_y(result: MultiCompareResult, data: dict) -> None:
    for name, (X, y) in data.items():
        splitter = check_cv(5, y, classifier=True)
        sizes = tuple((len(tr), len(te)) for tr, te in splitter.split(X, y))
        assert result.results[name].split_sizes == sizes


def test_a_splitter_object_is_used_on_every_dataset(data: dict) -> None:
    cv = KFold(3, shuffle=True, random_state=1)
    two = {k: data[k] for k in ("iris", "wine")}
    got = compare({"nb": GaussianNB()}, datasets=two, cv=cv)
    for name, (X, y) in two.items():
        expected = cross_validate(GaussianNB(), X, y, cv=cv)["test_score"]
        assert np.array_equal(split_scores(got.results[name], "nb", "test_score"), expected)


def test_all_datasets_run_on_one_executor(data: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import gridfold.lifecycle as lifecycle

    calls: list[Any] = []
    real = lifecycle.get_executor

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "get_executor", counting)
    compare(MODELS, datasets=data, cv=StratifiedKFold(3), n_jobs=2, backend="threads")
    assert len(calls) == 1


def test_store_keeps_each_dataset_under_its_own_label(data: dict) -> None:
    from gridfold.store.memory import MemoryStore

    two = {k: data[k] for k in ("iris", "wine")}
    store = MemoryStore()
    first = compare(MODELS, datasets=two, cv=3, store=store)
    assert len(store) == 2 * len(MODELS) * 3
    assert {row.study for row in store.rows()} == {"compare[iris]", "compare[wine]"}
    again = compare(MODELS, datasets=two, cv=3, store=store)  # every fit from the store
    assert len(store) == 2 * len(MODELS) * 3
    for name in two:
        pd.testing.assert_frame_equal(
            again.results[name].scores.drop(columns=["fit_time", "score_time"]),
            first.results[name].scores.drop(columns=["fit_time", "score_time"]),
        )


def test_single_dataset_call_still_returns_compare_result(data: dict) -> None:
    X, y = data["iris"]
    got = compare(MODELS, X, y, cv=3)
    assert isinstance(got, CompareResult)
    assert np.array_equal(
        split_scores(got, "knn", "test_score"),
        cross_validate(MODELS["knn"], X, y, cv=3)["test_score"],
    )


# --------------------------------------------------------------------------
# Tables and the tests across data sets.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [None, "f1_macro"])
def test_scores_table_is_the_mean_test_score(
    result: MultiCompareResult, data: dict, metric: str | None
) -> None:
    expected = hand_built_means(data, metric or "accuracy")
    table = result.scores_table(metric)
    assert list(table.index) == NAMES
    assert list(table.columns) == list(MODELS)
    assert np.array_equal(table.to_numpy(), expected.to_numpy())


def test_summary_has_one_row_per_dataset_and_model(result: MultiCompareResult) -> None:
    summary = result.summary()
    assert summary.index.names == ["dataset", "model"]
    assert len(summary) == len(NAMES) * len(MODELS)
    for name in NAMES:
        pd.testing.assert_frame_equal(summary.loc[name], result.results[name].summary())


def test_friedman_equals_stats_and_scipy(result: MultiCompareResult, data: dict) -> None:
    table = hand_built_means(data, "accuracy")
    got = result.friedman()
    expected = stats.friedman(table)
    assert got.statistic == expected.statistic
    assert got.pvalue == expected.pvalue
    assert got.iman_davenport == expected.iman_davenport
    pd.testing.assert_series_equal(got.ranks, expected.ranks)
    chi2, pvalue = scipy.stats.friedmanchisquare(*table.to_numpy().T)
    assert got.statistic == pytest.approx(chi2, rel=1e-12)
    assert got.pvalue == pytest.approx(pvalue, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_nemenyi_equals_stats(result: MultiCompareResult, data: dict, alpha: float) -> None:
    expected = stats.nemenyi(hand_built_means(data, "accuracy"), alpha=alpha)
    got = result.nemenyi(alpha=alpha)
    assert got.critical_difference == expected.critical_difference
    pd.testing.assert_series_equal(got.ranks, expected.ranks)
    pd.testing.assert_frame_equal(got.pvalues, expected.pvalues)


def test_friedman_on_another_metric(result: MultiCompareResult, data: dict) -> None:
    expected = stats.friedman(hand_built_means(data, "f1_macro"))
    assert result.friedman("f1_macro").statistic == expected.statistic


def test_multi_compare_result_is_public() -> None:
    assert gridfold.MultiCompareResult is MultiCompareResult
    assert "MultiCompareResult" in gridfold.__all__


# --------------------------------------------------------------------------
# Bad input: one clear ParameterError each.
# --------------------------------------------------------------------------


def test_unknown_metric(result: MultiCompareResult) -> None:
    with pytest.raises(ParameterError, match="Unknown metric 'auc'"):
        result.scores_table("auc")


def test_datasets_and_X_exclude_each_other(data: dict) -> None:
    X, y = data["iris"]
    with pytest.raises(ParameterError, match="both datasets= and X, y"):
        compare(MODELS, X, y, datasets=data)


def test_datasets_and_groups_exclude_each_other(data: dict) -> None:
    with pytest.raises(ParameterError, match="both datasets= and groups"):
        compare(MODELS, datasets=data, groups=np.zeros(150))


def test_empty_datasets() -> None:
    with pytest.raises(ParameterError, match="non-empty dict"):
        compare(MODELS, datasets={})


@pytest.mark.parametrize(
    "value, described",
    [((1, 2, 3), "a tuple of length 3"), (np.zeros((4, 2)), "a ndarray")],
    ids=["triple", "array"],
)
def test_a_dataset_that_is_not_a_pair(data: dict, value: Any, described: str) -> None:
    bad = {"iris": data["iris"], "bad": value}
    with pytest.raises(
        ParameterError, match=rf"datasets\['bad'\] must be an \(X, y\) pair.*{described}"
    ):
        compare(MODELS, datasets=bad)


def test_no_data_at_all() -> None:
    with pytest.raises(ParameterError, match="got no data"):
        compare(MODELS)  # type: ignore[call-overload]


def test_options_are_still_validated_with_datasets(data: dict) -> None:
    with pytest.raises(ParameterError, match="n_jobs"):
        compare(MODELS, datasets=data, n_jobs=0)
    with pytest.raises(ParameterError, match="retries"):
        compare(MODELS, datasets=data, retries=-1)
    with pytest.raises(ParameterError, match="no estimators"):
        compare({}, datasets=data)
