"""gridfold.stats against published worked examples and independent reference packages.

References, each checked to 1e-9 unless a published number is printed with
fewer digits (then to its last printed digit):

- Demšar (2006), JMLR 7: Table 5(a) (q_alpha), Table 6 (AUC of four C4.5
  variants on 14 data sets) and its worked example in Section 3.2.4
  (average ranks, chi2_F = 9.28, F_F = 3.69, CD = 1.25 at 0.05, 1.12 at 0.10).
- scipy: ``friedmanchisquare``, ``ttest_rel`` (the corrected t-test with
  n_test = 0), ``f``/``t`` distributions.
- mlxtend: ``paired_ttest_5x2cv`` and ``combined_ftest_5x2cv``, run on the
  same estimators and data (FiveByTwo draws the same halves).
- baycomp: ``two_on_single`` and ``CorrelatedTTest.compute_statistics``.
- scikit-posthocs: ``posthoc_nemenyi_friedman``.
- statsmodels: ``multipletests(method="holm")``.
"""

from __future__ import annotations

import re
from typing import Any

import baycomp
import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
from baycomp.single import CorrelatedTTest
from mlxtend.evaluate import combined_ftest_5x2cv as mlxtend_ftest
from mlxtend.evaluate import paired_ttest_5x2cv as mlxtend_ttest
from scipy import stats as scipy_stats
from sklearn.datasets import load_iris
from sklearn.model_selection import KFold
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier
from statsmodels.stats.multitest import multipletests

import gridfold
from gridfold import CompareResult, FiveByTwo, ParameterError
from gridfold.stats import (
    BayesianTTestResult,
    FTestResult,
    TTestResult,
    bayesian_ttest,
    combined_ftest_5x2cv,
    corrected_ttest,
    friedman,
    holm,
    nemenyi,
    paired_ttest_5x2cv,
)

TOL = 1e-9

# Demšar (2006), Table 6: AUC of C4.5 with m = 0 and with m and/or cf tuned, on 14
# UCI data sets (rows in the paper's order: adult (sample), breast cancer, breast
# cancer wisconsin, cmc, ionosphere, iris, liver disorders, lung cancer,
# lymphography, mushroom, primary tumor, rheum, voting, wine).
DEMSAR_MODELS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
DEMSAR_AUC = [
    [0.763, 0.768, 0.771, 0.798],
    [0.599, 0.591, 0.590, 0.569],
    [0.954, 0.971, 0.968, 0.967],
    [0.628, 0.661, 0.654, 0.657],
    [0.882, 0.888, 0.886, 0.898],
    [0.936, 0.931, 0.916, 0.931],
    [0.661, 0.668, 0.609, 0.685],
    [0.583, 0.583, 0.563, 0.625],
    [0.775, 0.838, 0.866, 0.875],
    [1.000, 1.000, 1.000, 1.000],
    [0.940, 0.962, 0.965, 0.962],
    [0.619, 0.666, 0.614, 0.669],
    [0.972, 0.981, 0.975, 0.975],
    [0.957, 0.978, 0.946, 0.970],
]
# The paper's average ranks (3.143, 2.000, 2.893, 1.964) were computed from the
# unrounded AUCs: they need voting's C4.5+cf ranked above its C4.5+m+cf, which the
# table prints as 0.975 both (voting is the only printed tie with C4.5+cf in it, so
# the only row that can move its rank sum by the 0.5 the paper shows).
DEMSAR_VOTING_ROW = 12
DEMSAR_PAPER_RANKS = [3.143, 2.000, 2.893, 1.964]


def demsar_table(as_printed: bool = False) -> pd.DataFrame:
    table = pd.DataFrame(DEMSAR_AUC, columns=DEMSAR_MODELS)
    if not as_printed:
        table.loc[DEMSAR_VOTING_ROW, "C4.5+cf"] = 0.9751
    return table


def paired_scores(n: int, seed: int, shift: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.85, 0.03, n)
    return a, a - rng.normal(shift, 0.02, n)


# --------------------------------------------------------------------------
# corrected_ttest
# --------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corrected_ttest_without_correction_is_scipy_ttest_rel(seed: int, alternative: Any) -> None:
    a, b = paired_scores(10, seed)
    got = corrected_ttest(a, b, n_train=90, n_test=0, alternative=alternative)
    expected = scipy_stats.ttest_rel(a, b, alternative=alternative)
    assert got.statistic == pytest.approx(expected.statistic, rel=TOL)
    assert got.pvalue == pytest.approx(expected.pvalue, rel=TOL)
    assert got.df == expected.df == 9
    assert got.mean_difference == pytest.approx(np.mean(a - b), rel=TOL)


@pytest.mark.parametrize(("n_folds", "runs"), [(5, 1), (10, 1), (5, 10), (3, 4)])
def test_corrected_ttest_statistic_equals_baycomp_nadeau_bengio_variance(
    n_folds: int, runs: int
) -> None:
    # baycomp's CorrelatedTTest scales the variance by 1/J + 1/(n_folds - 1), which is
    # 1/J + n_test/n_train for k-fold splits; its differences are y - x.
    a, b = paired_scores(n_folds * runs, seed=n_folds + runs)
    n_test = 30
    got = corrected_ttest(a, b, n_train=n_test * (n_folds - 1), n_test=n_test)
    mean, var, df = CorrelatedTTest.compute_statistics(b, a, runs=runs)
    assert got.statistic == pytest.approx(mean / np.sqrt(var), rel=TOL)
    assert got.df == df == n_folds * runs - 1
    t = mean / np.sqrt(var)
    assert got.pvalue == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), rel=TOL)


def test_corrected_ttest_is_more_conservative_than_the_plain_paired_test() -> None:
    a, b = paired_scores(10, seed=3)
    plain = corrected_ttest(a, b, n_train=90, n_test=0)
    corrected = corrected_ttest(a, b, n_train=90, n_test=10)
    assert abs(corrected.statistic) < abs(plain.statistic)
    assert corrected.pvalue > plain.pvalue
    # the variance grows by (1/J + n_test/n_train) / (1/J): t shrinks by its square root
    assert corrected.statistic == pytest.approx(
        plain.statistic / np.sqrt((1 / 10 + 10 / 90) / (1 / 10)), rel=TOL
    )


def test_corrected_ttest_one_sided_alternatives_point_the_same_way_as_scipy() -> None:
    a, b = paired_scores(10, seed=4, shift=0.03)  # A clearly better
    greater = corrected_ttest(a, b, n_train=90, n_test=10, alternative="greater")
    less = corrected_ttest(a, b, n_train=90, n_test=10, alternative="less")
    both = corrected_ttest(a, b, n_train=90, n_test=10)
    assert greater.pvalue < 0.5 < less.pvalue
    assert greater.pvalue + less.pvalue == pytest.approx(1.0, abs=1e-12)
    assert both.pvalue == pytest.approx(2 * greater.pvalue, rel=TOL)


def test_corrected_ttest_with_zero_variance() -> None:
    a = np.array([0.5, 0.25, 0.75, 0.625])  # exact in binary: (a + 0.25) - a == 0.25
    same = corrected_ttest(a, a, n_train=3, n_test=1)
    assert np.isnan(same.statistic) and np.isnan(same.pvalue)
    assert same.mean_difference == 0.0 and same.df == 3
    with np.errstate(invalid="ignore"):  # scipy gives NaN too
        assert np.isnan(scipy_stats.ttest_rel(a, a).statistic)

    better = corrected_ttest(a + 0.25, a, n_train=3, n_test=1)
    assert better.statistic == np.inf and better.pvalue == 0.0
    worse = corrected_ttest(a, a + 0.25, n_train=3, n_test=1)
    assert worse.statistic == -np.inf and worse.pvalue == 0.0
    assert corrected_ttest(a + 0.25, a, n_train=3, n_test=1, alternative="greater").pvalue == 0
    assert corrected_ttest(a + 0.25, a, n_train=3, n_test=1, alternative="less").pvalue == 1


# --------------------------------------------------------------------------
# bayesian_ttest
# --------------------------------------------------------------------------


@pytest.mark.parametrize("rope", [0.0, 0.005, 0.01, 0.05])
@pytest.mark.parametrize(("n_folds", "runs"), [(5, 1), (10, 1), (5, 10)])
def test_bayesian_ttest_equals_baycomp_two_on_single(n_folds: int, runs: int, rope: float) -> None:
    a, b = paired_scores(n_folds * runs, seed=n_folds * runs)
    got = bayesian_ttest(a, b, n_train=30 * (n_folds - 1), n_test=30, rope=rope)
    expected = baycomp.two_on_single(a, b, rope=rope, runs=runs)
    if rope == 0:  # baycomp returns (p_left, p_right) without a rope
        p_left, p_right = expected
        p_rope = 0.0
    else:
        p_left, p_rope, p_right = expected
    # baycomp's x is A and its differences are y - x: "left" is A better.
    assert got.p_a_better == pytest.approx(p_left, rel=TOL, abs=1e-15)
    assert got.p_equivalent == pytest.approx(p_rope, rel=TOL, abs=1e-15)
    assert got.p_b_better == pytest.approx(p_right, rel=TOL, abs=1e-15)
    assert got.p_a_better + got.p_equivalent + got.p_b_better == pytest.approx(1.0, abs=1e-12)
    assert got.mean_difference == pytest.approx(np.mean(a - b), rel=TOL)


def test_bayesian_ttest_posterior_is_the_corrected_t() -> None:
    # P(A better) with rope 0 is the one-sided p-value of corrected_ttest, mirrored.
    a, b = paired_scores(10, seed=7)
    bayes = bayesian_ttest(a, b, n_train=90, n_test=10, rope=0)
    t = corrected_ttest(a, b, n_train=90, n_test=10, alternative="less")
    assert bayes.p_a_better == pytest.approx(t.pvalue, rel=TOL)
    assert bayes.p_equivalent == 0.0


@pytest.mark.parametrize(
    ("shift", "expected"),
    [(0.5, (1.0, 0.0, 0.0)), (0.125, (0.0, 1.0, 0.0)), (0.25, (0.0, 1.0, 0.0)), (-0.5, (0, 0, 1))],
)
def test_bayesian_ttest_with_zero_variance_puts_all_mass_at_the_mean(
    shift: float, expected: tuple[float, float, float]
) -> None:
    b = np.array([0.5, 0.25, 0.75, 0.5])  # exact in binary: (b + shift) - b == shift
    got = bayesian_ttest(b + shift, b, n_train=3, n_test=1, rope=0.25)
    assert (got.p_a_better, got.p_equivalent, got.p_b_better) == expected
    assert got.mean_difference == shift
    # baycomp agrees where it has a rope (its rope region is closed too)
    assert baycomp.two_on_single(b + shift, b, rope=0.25) == pytest.approx(expected)


# --------------------------------------------------------------------------
# 5x2cv tests and the FiveByTwo splitter
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


def five_by_two_models() -> dict[str, Any]:
    # Fits that do not depend on the order of the rows: FiveByTwo yields each half
    # sorted, mlxtend in shuffled order.
    return {"tree": DecisionTreeClassifier(max_depth=2, random_state=0), "nb": GaussianNB()}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_5x2cv_tests_equal_mlxtend_on_the_same_halves(seed: int, iris: tuple) -> None:
    result = gridfold.compare(five_by_two_models(), *iris, cv=FiveByTwo(random_state=seed))
    tree = result.scores.query("model == 'tree'").sort_values("split")["test_score"]
    nb = result.scores.query("model == 'nb'").sort_values("split")["test_score"]

    t = paired_ttest_5x2cv(tree, nb)
    t_ref, p_ref = mlxtend_ttest(*five_by_two_models().values(), *iris, random_seed=seed)
    assert (t.statistic, t.pvalue, t.df) == (
        pytest.approx(t_ref, rel=TOL),
        pytest.approx(p_ref, rel=TOL),
        5,
    )

    f = combined_ftest_5x2cv(tree, nb)
    f_ref, fp_ref = mlxtend_ftest(*five_by_two_models().values(), *iris, random_seed=seed)
    assert f.statistic == pytest.approx(f_ref, rel=TOL)
    assert f.pvalue == pytest.approx(fp_ref, rel=TOL)
    assert (f.df_numerator, f.df_denominator) == (10, 5)

    # and through CompareResult.test, with differences tree - nb
    assert result.test("tree", "nb", method="5x2cv_t") == t
    assert result.test("tree", "nb", method="5x2cv_f") == f


def test_5x2cv_formulas_on_hand_made_differences() -> None:
    # Dietterich's t: p_1^(1) / sqrt(sum s_i^2 / 5); Alpaydin's F: sum p^2 / (2 sum s_i^2).
    diff = np.array([0.04, 0.02, 0.01, 0.03, 0.05, 0.01, 0.0, 0.02, 0.03, 0.03])
    b = np.full(10, 0.5)
    s2 = [(0.04 - 0.03) ** 2 * 2, (0.01 - 0.02) ** 2 * 2, (0.05 - 0.03) ** 2 * 2, 0.01**2 * 2, 0.0]
    t = paired_ttest_5x2cv(b + diff, b)
    assert t.statistic == pytest.approx(0.04 / np.sqrt(sum(s2) / 5), rel=1e-6)
    assert t.pvalue == pytest.approx(2 * scipy_stats.t.sf(t.statistic, 5), rel=TOL)
    f = combined_ftest_5x2cv(b + diff, b)
    assert f.statistic == pytest.approx(np.sum(diff**2) / (2 * sum(s2)), rel=1e-6)
    assert f.pvalue == pytest.approx(scipy_stats.f.sf(f.statistic, 10, 5), rel=TOL)
    assert f.mean_difference == t.mean_difference == pytest.approx(np.mean(diff), rel=1e-6)


def test_5x2cv_tests_with_zero_variance() -> None:
    b = np.full(10, 0.5)
    same_within = b + np.repeat([0.25, 0.125, 0.25, 0.5, 0.25], 2)  # p1 == p2 in each repetition
    t = paired_ttest_5x2cv(same_within, b)
    f = combined_ftest_5x2cv(same_within, b)
    assert (t.statistic, t.pvalue) == (np.inf, 0.0)
    assert (f.statistic, f.pvalue) == (np.inf, 0.0)
    t0, f0 = paired_ttest_5x2cv(b, b), combined_ftest_5x2cv(b, b)
    assert np.isnan([t0.statistic, t0.pvalue, f0.statistic, f0.pvalue]).all()


@pytest.mark.parametrize("n_samples", [150, 151])
def test_five_by_two_cuts_each_repetition_into_two_halves(n_samples: int) -> None:
    X = np.zeros((n_samples, 1))
    splits = list(FiveByTwo(random_state=0).split(X))
    assert len(splits) == FiveByTwo().get_n_splits() == 10
    for repetition in range(5):
        (train1, test1), (train2, test2) = splits[2 * repetition : 2 * repetition + 2]
        np.testing.assert_array_equal(train1, test2)
        np.testing.assert_array_equal(test1, train2)
        assert sorted(np.concatenate([train1, test1])) == list(range(n_samples))
        assert len(test1) == (n_samples + 1) // 2 and len(train1) == n_samples // 2
    halves = {tuple(test) for _, test in splits[::2]}
    assert len(halves) == 5  # every repetition reshuffles
    again = list(FiveByTwo(random_state=0).split(X))
    assert all(
        (a == c).all() and (b == d).all() for (a, b), (c, d) in zip(splits, again, strict=True)
    )
    assert repr(FiveByTwo(random_state=0)) == "FiveByTwo(random_state=0)"


def test_five_by_two_in_compare_numbers_repeats_and_folds(iris: tuple) -> None:
    result = gridfold.compare(five_by_two_models(), *iris, cv=FiveByTwo(random_state=0))
    rows = result.scores.query("model == 'tree'").sort_values("split")
    assert list(rows["repeat"]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert list(rows["fold"]) == [0, 1] * 5
    assert result.n_splits == 10 and result.split_sizes == ((75, 75),) * 10


# --------------------------------------------------------------------------
# friedman, nemenyi: Demšar (2006)
# --------------------------------------------------------------------------


def test_friedman_reproduces_demsar_section_3_2_4() -> None:
    table = demsar_table()
    result = friedman(table)
    assert list(result.ranks.index) == DEMSAR_MODELS
    np.testing.assert_allclose(result.ranks, DEMSAR_PAPER_RANKS, atol=5e-4)
    # statistic and p-value: scipy's, with its correction for ties
    expected = scipy_stats.friedmanchisquare(*table.to_numpy().T)
    assert result.statistic == pytest.approx(expected.statistic, rel=TOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=TOL)
    # Demšar writes chi2_F without the tie correction, which scipy divides by
    # 1 - sum(t^3 - t) / (N k (k^2 - 1)); his example has a four-way tie (mushroom)
    # and three two-way ties (iris, lung cancer, primary tumor).
    n, k = table.shape
    ties = 4**3 - 4 + 3 * (2**3 - 2)
    chi2_demsar = result.statistic * (1 - ties / (n * k * (k**2 - 1)))
    assert round(chi2_demsar, 2) == 9.28
    f_demsar = (n - 1) * chi2_demsar / (n * (k - 1) - chi2_demsar)
    assert round(f_demsar, 2) == 3.69
    # Iman-Davenport from the (tie-corrected) statistic, the same formula
    assert result.iman_davenport == pytest.approx(
        (n - 1) * result.statistic / (n * (k - 1) - result.statistic), rel=TOL
    )
    assert result.iman_davenport_pvalue == pytest.approx(
        scipy_stats.f.sf(result.iman_davenport, 3, 39), rel=TOL
    )
    # Demšar: the critical value of F(3, 39) at 0.05 is 2.85, so the null is rejected
    assert round(scipy_stats.f.ppf(0.95, 3, 39), 2) == 2.85
    assert result.iman_davenport_pvalue < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_friedman_equals_scipy_on_tables_without_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.uniform(0.6, 0.9, (12, 5)), columns=list("abcde"))
    result = friedman(table)
    expected = scipy_stats.friedmanchisquare(*table.to_numpy().T)
    assert result.statistic == pytest.approx(expected.statistic, rel=TOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=TOL)
    # without ties the statistic is Demšar's formula on the average ranks
    r, n, k = result.ranks.to_numpy(), 12, 5
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4)
    assert result.statistic == pytest.approx(chi2, rel=TOL)
    np.testing.assert_allclose(
        result.ranks, scipy_stats.rankdata(-table.to_numpy(), axis=1).mean(axis=0), rtol=TOL
    )
    assert result.ranks.idxmin() == table.rank(axis=1, ascending=False).mean().idxmin()


def test_friedman_degenerate_tables() -> None:
    # every data set ties every model: no evidence, NaN as scipy
    tied = friedman(pd.DataFrame(np.ones((4, 3)), columns=list("abc")))
    assert np.isnan([tied.statistic, tied.pvalue, tied.iman_davenport]).all()
    assert list(tied.ranks) == [2.0, 2.0, 2.0]
    # the same order on every data set: chi2 = N (k - 1), F infinite
    same = friedman(pd.DataFrame([[3, 2, 1], [0.9, 0.5, 0.1], [5, 4, 3]], columns=list("abc")))
    assert same.statistic == pytest.approx(3 * 2, rel=TOL)
    assert list(same.ranks) == [1.0, 2.0, 3.0]
    assert same.iman_davenport > 1e10 and same.iman_davenport_pvalue < 1e-10


# Demšar (2006), Table 5(a): critical values q_alpha of the two-tailed Nemenyi test
# (studentized range / sqrt(2)), k = 2..10, printed with 3 decimals.
DEMSAR_Q_005 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
DEMSAR_Q_010 = [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]


@pytest.mark.parametrize(
    ("alpha", "k", "expected"),
    [(0.05, k, q) for k, q in zip(range(2, 11), DEMSAR_Q_005, strict=True)]
    + [(0.10, k, q) for k, q in zip(range(2, 11), DEMSAR_Q_010, strict=True)],
)
def test_nemenyi_q_alpha_reproduces_demsar_table_5a(alpha: float, k: int, expected: float) -> None:
    table = pd.DataFrame(np.arange(3 * k, dtype=float).reshape(3, k))
    result = nemenyi(table, alpha=alpha)
    # the paper's entries come from 3-digit q tables: their last digit may be off by one
    assert result.q_alpha == pytest.approx(expected, abs=1e-3)
    assert result.critical_difference == pytest.approx(
        result.q_alpha * np.sqrt(k * (k + 1) / (6 * 3)), rel=TOL
    )


def test_nemenyi_reproduces_demsar_critical_differences() -> None:
    table = demsar_table()
    at_005, at_010 = nemenyi(table, alpha=0.05), nemenyi(table, alpha=0.10)
    assert round(at_005.critical_difference, 2) == 1.25  # 2.569 sqrt(4 * 5 / (6 * 14))
    assert round(at_010.critical_difference, 2) == 1.12  # 2.291 sqrt(4 * 5 / (6 * 14))
    np.testing.assert_allclose(at_005.ranks, DEMSAR_PAPER_RANKS, atol=5e-4)
    # Demšar: at 0.05 no pair differs; at 0.10 C4.5+m and C4.5+m+cf beat C4.5
    gap = at_005.ranks["C4.5"] - at_005.ranks
    assert (gap < at_005.critical_difference).all()
    assert set(gap[gap >= at_010.critical_difference].index) == {"C4.5+m", "C4.5+m+cf"}
    p = at_005.pvalues
    assert (p.to_numpy() >= 0.05).all()
    assert p.loc["C4.5", "C4.5+m"] < 0.10 and p.loc["C4.5", "C4.5+m+cf"] < 0.10


@pytest.mark.parametrize("as_printed", [True, False])
def test_nemenyi_pvalues_equal_scikit_posthocs_on_demsar_table(as_printed: bool) -> None:
    table = demsar_table(as_printed)
    got = nemenyi(table).pvalues
    expected = scikit_posthocs.posthoc_nemenyi_friedman(table.to_numpy())
    assert list(got.index) == list(got.columns) == DEMSAR_MODELS
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=TOL, atol=1e-15)


@pytest.mark.parametrize(("n", "k", "seed"), [(10, 3, 0), (20, 6, 1), (8, 9, 2)])
def test_nemenyi_pvalues_equal_scikit_posthocs_on_random_tables(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, k)) + np.linspace(0, 1, k)
    got = nemenyi(pd.DataFrame(values))
    expected = scikit_posthocs.posthoc_nemenyi_friedman(values)
    np.testing.assert_allclose(got.pvalues.to_numpy(), expected.to_numpy(), rtol=TOL, atol=1e-15)
    assert np.all(np.diag(got.pvalues) == 1) and (got.pvalues == got.pvalues.T).all().all()


# --------------------------------------------------------------------------
# holm
# --------------------------------------------------------------------------


def test_holm_by_hand() -> None:
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_array_equal(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    assert holm([]).shape == (0,)


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.3, 3 + seed * 4)
    p[::3] = p[0]  # ties
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=TOL)


def test_holm_leaves_nan_out_of_the_family() -> None:
    got = holm([0.01, np.nan, 0.04])
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: corrected_ttest([1, 2, 3], [1, 2], n_train=2, n_test=1),
            "has 3 scores and scores_b 2",
        ),
        (lambda: corrected_ttest([0.9], [0.8], n_train=2, n_test=1), "at least 2 splits; got 1"),
        (lambda: corrected_ttest([[0.9]], [[0.8]], n_train=2, n_test=1), "must be 1-D"),
        (lambda: corrected_ttest(["a", "b"], [1, 2], n_train=2, n_test=1), "must be numbers"),
        (
            lambda: corrected_ttest([0.9, np.nan], [0.8, 0.7], n_train=2, n_test=1),
            re.escape("splits [1] have NaN"),
        ),
        (lambda: corrected_ttest([1, 2], [1, 3], n_train=0, n_test=1), "n_train must be > 0"),
        (lambda: corrected_ttest([1, 2], [1, 3], n_train=4, n_test=-1), "n_test >= 0"),
        (
            lambda: corrected_ttest([1, 2], [1, 3], n_train=4, n_test=1, alternative="bigger"),
            "alternative must be one of",
        ),
        (lambda: bayesian_ttest([1, 2], [1, 3], n_train=4, n_test=1, rope=-0.1), "rope must be"),
        (lambda: paired_ttest_5x2cv(np.ones(5), np.ones(5)), "exactly 10 scores per model"),
        (lambda: combined_ftest_5x2cv(np.ones(12), np.ones(12)), "got 12"),
        (lambda: friedman(pd.DataFrame(np.ones((4, 2)))), "for 2 models, use a Wilcoxon"),
        (lambda: friedman(pd.DataFrame(np.ones((1, 3)))), "at least 2 rows"),
        (lambda: friedman(pd.DataFrame([[1, 2, np.nan], [1, 2, 3]])), r"data sets \[0\]"),
        (lambda: nemenyi(pd.DataFrame(np.ones((4, 3))), alpha=1.5), "strictly between 0 and 1"),
        (lambda: holm([0.5, 1.2]), re.escape("[0, 1] (or be NaN); got [1.2]")),
    ],
)
def test_bad_input_raises_parameter_error_with_the_fix(call: Any, match: str) -> None:
    with pytest.raises(ParameterError, match=match) as info:
        call()
    assert "Fix:" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_results_are_frozen() -> None:
    result = corrected_ttest([0.9, 0.8, 0.7], [0.8, 0.8, 0.6], n_train=2, n_test=1)
    with pytest.raises(AttributeError):
        result.pvalue = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------------
# CompareResult.test and .pairwise on a real compare() run
# --------------------------------------------------------------------------

MODELS = {
    "tree": DecisionTreeClassifier(max_depth=2, random_state=0),
    "nb": GaussianNB(),
    "stump": DecisionTreeClassifier(max_depth=1, random_state=0),
}


@pytest.fixture(scope="module")
def five_fold(iris: tuple) -> CompareResult:
    return gridfold.compare(MODELS, *iris, cv=5)


def per_split(result: CompareResult, model: str) -> np.ndarray:
    rows = result.scores[result.scores["model"] == model].sort_values("split")
    return rows["test_score"].to_numpy()


def test_compare_records_split_sizes(five_fold: CompareResult) -> None:
    assert five_fold.split_sizes == ((120, 30),) * 5  # StratifiedKFold(5) on 150 rows


def test_compare_result_test_equals_the_stats_functions(five_fold: CompareResult) -> None:
    a, b = per_split(five_fold, "nb"), per_split(five_fold, "tree")
    got = five_fold.test("nb", "tree")
    assert isinstance(got, TTestResult)
    assert got == corrected_ttest(a, b, n_train=120, n_test=30)
    bayes = five_fold.test("nb", "tree", method="bayesian", rope=0.02)
    assert isinstance(bayes, BayesianTTestResult)
    assert bayes == bayesian_ttest(a, b, n_train=120, n_test=30, rope=0.02)
    # and against baycomp directly: 5-fold splits, one run
    assert (bayes.p_a_better, bayes.p_equivalent, bayes.p_b_better) == pytest.approx(
        baycomp.two_on_single(a, b, rope=0.02), rel=TOL
    )


def test_compare_result_pairwise_against_the_best(five_fold: CompareResult) -> None:
    summary = five_fold.summary()
    best = summary.index[0]
    table = five_fold.pairwise()
    assert list(table.index) == list(summary.index[1:])
    assert table.index.name == "model"
    assert list(table.columns) == ["best", "mean_difference", "statistic", "pvalue", "pvalue_holm"]
    assert (table["best"] == best).all()
    for model, row in table.iterrows():
        expected = corrected_ttest(
            per_split(five_fold, best), per_split(five_fold, str(model)), n_train=120, n_test=30
        )
        assert row["statistic"] == expected.statistic and row["pvalue"] == expected.pvalue
        assert row["mean_difference"] == expected.mean_difference >= 0
    np.testing.assert_allclose(
        table["pvalue_holm"], multipletests(table["pvalue"], method="holm")[1], rtol=TOL
    )

    bayes = five_fold.pairwise(method="bayesian", rope=0.02)
    assert list(bayes.columns) == [
        "best",
        "mean_difference",
        "p_best_better",
        "p_equivalent",
        "p_model_better",
    ]
    for model, row in bayes.iterrows():
        expected = bayesian_ttest(
            per_split(five_fold, best),
            per_split(five_fold, str(model)),
            n_train=120,
            n_test=30,
            rope=0.02,
        )
        assert (row["p_best_better"], row["p_equivalent"], row["p_model_better"]) == (
            expected.p_a_better,
            expected.p_equivalent,
            expected.p_b_better,
        )


def test_compare_result_pairwise_with_five_by_two(iris: tuple) -> None:
    result = gridfold.compare(MODELS, *iris, cv=FiveByTwo(random_state=0))
    best = result.summary().index[0]
    for method, function in [("5x2cv_t", paired_ttest_5x2cv), ("5x2cv_f", combined_ftest_5x2cv)]:
        table = result.pairwise(method=method)
        for model, row in table.iterrows():
            expected = function(per_split(result, best), per_split(result, str(model)))
            assert row["statistic"] == expected.statistic and row["pvalue"] == expected.pvalue
        np.testing.assert_allclose(
            table["pvalue_holm"], multipletests(table["pvalue"], method="holm")[1], rtol=TOL
        )
    corrected = result.test("tree", "nb")  # the corrected test works on 5x2 splits too
    assert corrected == corrected_ttest(
        per_split(result, "tree"), per_split(result, "nb"), n_train=75, n_test=75
    )
    assert isinstance(result.test("tree", "nb", method="5x2cv_f"), FTestResult)


def hand_made(n_splits: int = 4, sizes: tuple = ((30, 10),) * 4) -> CompareResult:
    rows = [
        {
            "model": model,
            "split": s,
            "test_score": 0.8 + 0.01 * s + bonus,
            "fit_time": 0.1,
            "score_time": 0.01,
        }
        for model, bonus in (("a", 0.05), ("b", 0.0), ("c", -0.02))
        for s in range(n_splits)
    ]
    rows[1]["test_score"] += 0.01  # some variance in a - b
    return CompareResult(pd.DataFrame(rows), ["score"], n_splits, sizes)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"a": "a", "b": "nope"}, "Unknown model 'nope'; this result has \\['a', 'b', 'c'\\]"),
        ({"a": "a", "b": "b", "method": "wilcoxon"}, "Unknown method 'wilcoxon'; expected one of"),
        (
            {"a": "a", "b": "b", "metric": "f1"},
            "Unknown metric 'f1'; this result has \\['score'\\]",
        ),
        ({"a": "a", "b": "a"}, "two different models; got a = b = 'a'"),
        (
            {"a": "a", "b": "b", "method": "5x2cv_t"},
            "needs the 10 half/half splits .* has 4 splits",
        ),
        ({"a": "a", "b": "b", "method": "5x2cv_f"}, "FiveByTwo"),
    ],
)
def test_compare_result_test_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match) as info:
        hand_made().test(**kwargs)
    assert "Fix:" in str(info.value)


def test_compare_result_5x2cv_needs_halves_not_just_ten_splits(iris: tuple) -> None:
    result = gridfold.compare({"tree": MODELS["tree"], "nb": MODELS["nb"]}, *iris, cv=KFold(10))
    with pytest.raises(ParameterError, match="10 splits, not all of them halves"):
        result.test("tree", "nb", method="5x2cv_t")


def test_compare_result_without_split_sizes_or_enough_splits() -> None:
    without = hand_made(sizes=())
    with pytest.raises(ParameterError, match="records none"):
        without.test("a", "b")
    one_split = hand_made(n_splits=1, sizes=((30, 10),))
    with pytest.raises(ParameterError, match="at least 2 splits; got 1"):
        one_split.test("a", "b")


def test_compare_result_failed_fits() -> None:
    result = hand_made()
    scores = result.scores.copy()
    scores.loc[(scores["model"] == "c") & (scores["split"] == 2), "test_score"] = np.nan
    failed = CompareResult(scores, ["score"], 4, ((30, 10),) * 4)
    with pytest.raises(ParameterError, match=re.escape("'c' has no test_score on splits [2]")):
        failed.test("a", "c")
    table = failed.pairwise()
    assert list(table.index) == ["b", "c"]  # NaN means sort last
    assert np.isnan(table.loc["c", ["mean_difference", "statistic", "pvalue", "pvalue_holm"]]).all()
    # c is left out of the Holm family: b's adjusted p-value is its own
    assert table.loc["b", "pvalue_holm"] == table.loc["b", "pvalue"]


def test_pairwise_with_one_model_is_empty() -> None:
    result = hand_made()
    only_a = CompareResult(
        result.scores[result.scores["model"] == "a"], ["score"], 4, ((30, 10),) * 4
    )
    table = only_a.pairwise()
    assert table.empty and list(table.columns)[-1] == "pvalue_holm"


def test_five_by_two_is_public() -> None:
    assert "FiveByTwo" in gridfold.__all__ and gridfold.FiveByTwo is FiveByTwo
