"""Is algorithm A really better than B? The tests this field trusts, on scipy.

Two questions, two families:

- **One data set, A against B over the same cross-validation splits.** The
  splits overlap (every training set shares most of its rows with the
  others), so the per-split differences are correlated and a plain paired
  t-test over them is overconfident. :func:`corrected_ttest` (Nadeau and
  Bengio, 2003) and :func:`bayesian_ttest` (Benavoli et al., 2017) correct
  the variance for that and work for any (repeated) k-fold;
  :func:`paired_ttest_5x2cv` (Dietterich, 1998) and
  :func:`combined_ftest_5x2cv` (Alpaydin, 1999) need the 10 splits of
  :class:`FiveByTwo`.
- **Several models on several data sets.** :func:`friedman` (with Iman and
  Davenport's F) asks whether any model differs; :func:`nemenyi` (Demšar,
  2006) says which pairs do. :func:`holm` adjusts a family of p-values.

Conventions: scores are "higher is better" (use ``neg_*`` scorers for losses),
differences are ``scores_a - scores_b``, and both score arrays list the same
splits in the same order. Every function is pure and returns a small frozen
result. Bad input raises :class:`gridfold.ParameterError` (a ``ValueError``).

The formulas, and the references each one is tested against, are in
``tests/test_stats.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as _stats
from sklearn.model_selection import BaseCrossValidator, train_test_split
from sklearn.utils import check_random_state

from gridfold.exceptions import ParameterError

__all__ = [
    "FiveByTwo",
    "TTestResult",
    "BayesianTTestResult",
    "FTestResult",
    "FriedmanResult",
    "NemenyiResult",
    "corrected_ttest",
    "bayesian_ttest",
    "paired_ttest_5x2cv",
    "combined_ftest_5x2cv",
    "friedman",
    "nemenyi",
    "holm",
]

Alternative = Literal["two-sided", "greater", "less"]
_ALTERNATIVES = ("two-sided", "greater", "less")


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TTestResult:
    """A t-test of the mean difference of paired scores.

    Attributes
    ----------
    statistic : float
        The t statistic; ``inf``/``-inf`` when every difference is the same
        non-zero number, NaN when every difference is zero.
    pvalue : float
        For the chosen alternative; NaN with a NaN statistic.
    df : int
        Degrees of freedom of the t distribution.
    mean_difference : float
        Mean of ``scores_a - scores_b``.
    """

    statistic: float
    pvalue: float
    df: int
    mean_difference: float


@dataclass(frozen=True)
class BayesianTTestResult:
    """Posterior probabilities of the Bayesian correlated t-test.

    Attributes
    ----------
    p_a_better : float
        P(mean difference > rope): A is better by more than the rope.
    p_equivalent : float
        P(-rope <= mean difference <= rope): practically equivalent.
    p_b_better : float
        P(mean difference < -rope). The three sum to 1.
    mean_difference : float
        Mean of ``scores_a - scores_b`` (the posterior's location).
    """

    p_a_better: float
    p_equivalent: float
    p_b_better: float
    mean_difference: float


@dataclass(frozen=True)
class FTestResult:
    """An F test of paired score differences.

    Attributes
    ----------
    statistic : float
        The F statistic; ``inf`` when the differences vary between the
        repetitions but not within any, NaN when every difference is zero.
    pvalue : float
        Upper tail of F(df_numerator, df_denominator).
    df_numerator, df_denominator : int
    mean_difference : float
        Mean of ``scores_a - scores_b``.
    """

    statistic: float
    pvalue: float
    df_numerator: int
    df_denominator: int
    mean_difference: float


@dataclass(frozen=True, eq=False)
class FriedmanResult:
    """Friedman's test of k models over N data sets.

    Attributes
    ----------
    statistic : float
        Friedman's chi-square with the correction for ties, as
        :func:`scipy.stats.friedmanchisquare` computes it.
    pvalue : float
        Upper tail of chi-square with k - 1 degrees of freedom.
    iman_davenport : float
        Iman and Davenport's F = (N - 1) chi2 / (N (k - 1) - chi2) from the
        statistic above.
    iman_davenport_pvalue : float
        Upper tail of F(k - 1, (k - 1)(N - 1)).
    ranks : pandas.Series
        Average rank of each model over the data sets, 1 = best (highest
        score); ties share the average of their ranks.
    """

    statistic: float
    pvalue: float
    iman_davenport: float
    iman_davenport_pvalue: float
    ranks: pd.Series


@dataclass(frozen=True, eq=False)
class NemenyiResult:
    """The Nemenyi post-hoc test of every pair of k models over N data sets.

    Attributes
    ----------
    ranks : pandas.Series
        Average rank of each model, 1 = best, as in :class:`FriedmanResult`.
    critical_difference : float
        Two models differ at level ``alpha`` when their average ranks differ
        by at least this much: q_alpha sqrt(k (k + 1) / (6 N)).
    pvalues : pandas.DataFrame
        Model x model p-values of each pair (symmetric, 1 on the diagonal).
    q_alpha : float
        The studentized range quantile for k groups and infinite degrees of
        freedom at 1 - alpha, divided by sqrt(2) (Demšar's Table 5a).
    """

    ranks: pd.Series
    critical_difference: float
    pvalues: pd.DataFrame
    q_alpha: float


# --------------------------------------------------------------------------
# The 5x2 splitter
# --------------------------------------------------------------------------


class FiveByTwo(BaseCrossValidator):
    """Five repetitions of 2-fold cross-validation (Dietterich, 1998).

    Each repetition shuffles the rows and cuts them in two halves (the
    second half one row larger when the number of rows is odd); its first
    split trains on the first half and tests on the second, its second split
    the other way round. The 10 splits come repetition by repetition, which
    is the order :func:`paired_ttest_5x2cv` and :func:`combined_ftest_5x2cv`
    read. ``gridfold.compare(..., cv=FiveByTwo(random_state=0))`` numbers
    them ``repeat`` 0-4 and ``fold`` 0-1.

    The halves are those of ``mlxtend.evaluate.paired_ttest_5x2cv(...,
    random_seed=random_state)`` for the same int: each repetition draws a
    seed ``randint(0, 32767)`` from ``RandomState(random_state)`` and splits
    with ``train_test_split(test_size=0.5)``. They are not stratified and
    ignore ``groups``: with rare classes or grouped rows, use a stratified or
    group-aware splitter and :func:`corrected_ttest` instead.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        An int gives the same splits on every call to :meth:`split`.
    """

    #: Repetitions and folds per repetition; ``compare`` reads ``n_repeats``.
    n_repeats = 5
    n_folds = 2

    def __init__(self, random_state: int | np.random.RandomState | None = None) -> None:
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return 10, the number of splits.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for API compatibility.

        Returns
        -------
        int
        """
        return self.n_repeats * self.n_folds

    def _iter_test_indices(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[np.ndarray]:
        indices = np.arange(X.shape[0] if hasattr(X, "shape") else len(X))
        rng = check_random_state(self.random_state)
        for _ in range(self.n_repeats):
            first, second = train_test_split(
                indices, test_size=0.5, random_state=rng.randint(low=0, high=32767)
            )
            yield second
            yield first


# --------------------------------------------------------------------------
# One data set: A against B over the same splits
# --------------------------------------------------------------------------


def corrected_ttest(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    n_train: float,
    n_test: float,
    alternative: Alternative = "two-sided",
) -> TTestResult:
    """Nadeau and Bengio's corrected resampled t-test of A - B.

    With the J paired differences d_j, their mean d and sample variance s²
    (ddof 1): t = d / sqrt(s² (1/J + n_test/n_train)), J - 1 degrees of
    freedom. The term n_test/n_train accounts for the overlap of the
    training sets; with ``n_test=0`` this is the paired t-test
    (:func:`scipy.stats.ttest_rel`).

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (J,)
        Scores of A and B on the same J >= 2 splits, in the same order
        (folds x repeats of a (repeated) k-fold).
    n_train, n_test : float
        Rows in the training and test part of a split (their means when the
        splits differ in size).
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        As in scipy: "greater" tests whether A is better than B.

    Returns
    -------
    TTestResult
        ``statistic``, ``pvalue``, ``df`` (J - 1), ``mean_difference``. When
        every difference is the same non-zero number the variance is zero:
        the statistic is ``±inf`` and the p-value 0 (or 1 for the other
        one-sided alternative); when every difference is zero, both are NaN
        (no evidence either way), as :func:`scipy.stats.ttest_rel` gives.

    Notes
    -----
    Assumes the splits are random train/test cuts of one data set (k-fold,
    repeated k-fold, shuffle splits) and the differences roughly normal. The
    correction is a heuristic: Nadeau and Bengio show it keeps the type I
    error near its nominal level where the plain paired t-test rejects far
    too often. Do not use it across different data sets (use
    :func:`friedman`), nor with the 5x2 design's own tests in mind (use
    :func:`paired_ttest_5x2cv`), nor on a few splits of a tiny data set,
    where the normal approximation is poor.

    References
    ----------
    C. Nadeau and Y. Bengio, "Inference for the generalization error",
    Machine Learning 52 (2003) 239-281.
    """
    diff = _differences(scores_a, scores_b)
    ratio = _test_train_ratio(n_train, n_test)
    if alternative not in _ALTERNATIVES:
        raise ParameterError(
            f"alternative must be one of {list(_ALTERNATIVES)}; got {alternative!r}. "
            "Fix: 'greater' tests whether A is better, 'less' whether B is."
        )
    df = diff.size - 1
    mean = float(np.mean(diff))
    scale = math.sqrt(_variance(diff) * (1 / diff.size + ratio))
    statistic = _divide(mean, scale)
    return TTestResult(statistic, _t_pvalue(statistic, df, alternative), df, mean)


def bayesian_ttest(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    n_train: float,
    n_test: float,
    rope: float = 0.01,
) -> BayesianTTestResult:
    """Benavoli et al.'s Bayesian correlated t-test of A - B.

    The posterior of the mean difference is a Student t with J - 1 degrees
    of freedom, location the mean difference and scale
    sqrt(s² (1/J + rho/(1 - rho))), rho = n_test/(n_train + n_test) (so
    rho/(1 - rho) = n_test/n_train: the variance of :func:`corrected_ttest`).
    It answers "how probable is it that A is better by more than ``rope``,
    practically equivalent, or worse", instead of a p-value.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (J,)
        Scores of A and B on the same J >= 2 splits, in the same order.
    n_train, n_test : float
        Rows in the training and test part of a split (their means).
    rope : float, default=0.01
        Half-width of the region of practical equivalence, in score units
        (0.01 = one point of accuracy). 0 gives no equivalence region.

    Returns
    -------
    BayesianTTestResult
        ``p_a_better``, ``p_equivalent``, ``p_b_better`` (summing to 1) and
        ``mean_difference``. When every difference is the same number the
        posterior is all at that number: its probability is 1 for the region
        that holds it (the closed interval [-rope, rope] for equivalence).

    Notes
    -----
    Assumes what :func:`corrected_ttest` assumes (random splits of one data
    set), with a flat prior; the correlation rho is fixed by the split sizes,
    not estimated. Do not use it across data sets, and choose ``rope``
    before looking at the results. baycomp's ``two_on_single`` computes the
    same probabilities for k-fold splits.

    References
    ----------
    A. Benavoli, G. Corani, J. Demšar and M. Zaffalon, "Time for a change: a
    tutorial for comparing multiple classifiers through Bayesian analysis",
    JMLR 18(77) (2017) 1-36.
    """
    diff = _differences(scores_a, scores_b)
    ratio = _test_train_ratio(n_train, n_test)
    if not (math.isfinite(rope) and rope >= 0):
        raise ParameterError(
            f"rope must be a finite number >= 0 (a half-width in score units); got {rope!r}. "
            "Fix: e.g. rope=0.01 for one point of accuracy, or 0 for none."
        )
    mean = float(np.mean(diff))
    variance = _variance(diff)
    if variance == 0:
        p_a, p_b = float(mean > rope), float(mean < -rope)
    else:
        posterior = _stats.t(
            diff.size - 1, loc=mean, scale=math.sqrt(variance * (1 / diff.size + ratio))
        )
        p_a, p_b = float(posterior.sf(rope)), float(posterior.cdf(-rope))
    return BayesianTTestResult(p_a, max(0.0, 1.0 - p_a - p_b), p_b, mean)


def paired_ttest_5x2cv(scores_a: ArrayLike, scores_b: ArrayLike) -> TTestResult:
    """Dietterich's 5x2cv paired t-test of A - B.

    With p_i^(j) the difference in repetition i, fold j, and
    s_i² = sum_j (p_i^(j) - mean_j p_i^(j))²:
    t = p_1^(1) / sqrt(sum_i s_i² / 5), 5 degrees of freedom, two-sided.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (10,)
        Scores on the splits of :class:`FiveByTwo`, repetition by repetition
        and its two folds in order (as ``compare(cv=FiveByTwo(...))`` gives
        them, sorted by ``split``).

    Returns
    -------
    TTestResult
        ``df`` is 5; ``mean_difference`` the mean of all 10 differences.
        When no repetition's two differences differ, the statistic is
        ``±inf`` (p-value 0), or NaN when the first difference is 0 too.

    Notes
    -----
    Assumes the 10 splits are 5 independent random halvings, each used both
    ways. The numerator is one difference only, so the test depends on the
    order of the repetitions; :func:`combined_ftest_5x2cv` uses all 10 and
    is usually preferred. Training on half the data measures an algorithm
    on smaller samples than a 10-fold CV would: do not use it when learning
    curves still rise steeply at half the data.

    References
    ----------
    T. G. Dietterich, "Approximate statistical tests for comparing
    supervised classification learning algorithms", Neural Computation
    10(7) (1998) 1895-1923.
    """
    diff, variances = _five_by_two(scores_a, scores_b)
    statistic = _divide(float(diff[0, 0]), math.sqrt(float(np.sum(variances)) / 5))
    return TTestResult(statistic, _t_pvalue(statistic, 5, "two-sided"), 5, float(np.mean(diff)))


def combined_ftest_5x2cv(scores_a: ArrayLike, scores_b: ArrayLike) -> FTestResult:
    """Alpaydin's combined 5x2cv F test of A - B.

    F = sum_i sum_j (p_i^(j))² / (2 sum_i s_i²), with p and s² as in
    :func:`paired_ttest_5x2cv`, against F(10, 5).

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (10,)
        Scores on the splits of :class:`FiveByTwo`, in its order.

    Returns
    -------
    FTestResult
        ``df_numerator`` 10, ``df_denominator`` 5. When no repetition's two
        differences differ, the statistic is ``inf`` (p-value 0), or NaN
        when every difference is 0.

    Notes
    -----
    Assumes what :func:`paired_ttest_5x2cv` assumes; it uses all 10
    differences, so it does not depend on the order of the repetitions and
    has lower type I error and higher power than the 5x2cv t-test
    (Alpaydin, 1999). It is two-sided by construction: it says whether A
    and B differ, not which is better (read ``mean_difference``).

    References
    ----------
    E. Alpaydin, "Combined 5 x 2 cv F test for comparing supervised
    classification learning algorithms", Neural Computation 11(8) (1999)
    1885-1892.
    """
    diff, variances = _five_by_two(scores_a, scores_b)
    statistic = _divide(float(np.sum(diff**2)), 2 * float(np.sum(variances)))
    pvalue = float(_stats.f.sf(statistic, 10, 5))
    return FTestResult(statistic, pvalue, 10, 5, float(np.mean(diff)))


# --------------------------------------------------------------------------
# Several models on several data sets
# --------------------------------------------------------------------------


def friedman(scores: pd.DataFrame) -> FriedmanResult:
    """Friedman's test, with Iman and Davenport's F, of k models over N data sets.

    The null hypothesis is that all models perform alike, so that their
    average ranks over the data sets are equal.

    Parameters
    ----------
    scores : pandas.DataFrame of shape (N, k)
        One row per data set, one column per model (the column names name
        the models), N >= 2 data sets and k >= 3 models. A 2-D array works
        too; its models are then named 0..k-1.

    Returns
    -------
    FriedmanResult
        ``statistic`` and ``pvalue`` equal :func:`scipy.stats.friedmanchisquare`
        (with its correction for ties), ``iman_davenport`` and its p-value,
        and the average ``ranks`` (1 = best). When every data set ties all
        models, statistic and p-values are NaN, as scipy gives.

    Notes
    -----
    Assumes the data sets are independent and each row's scores comparable
    (same metric, same splits for every model). Demšar (2006) recommends
    Iman and Davenport's F, which is less conservative than the chi-square;
    his formulas leave out the correction for ties, so where models tie on
    a data set this statistic (and the F from it) is larger than his: on his
    worked example (Table 6, with its ties) 10.23 against 9.28, and F 4.19
    against 3.69. Without ties the two agree. Do not use it for two
    models (use a Wilcoxon signed-rank test), nor on the splits of one data
    set (they are not independent; use :func:`corrected_ttest`).

    References
    ----------
    J. Demšar, "Statistical comparisons of classifiers over multiple data
    sets", JMLR 7 (2006) 1-30. R. L. Iman and J. M. Davenport,
    "Approximations of the critical region of the Friedman statistic",
    Communications in Statistics 9 (1980) 571-595.
    """
    table = _score_table(scores, min_models=3)
    n, k = table.shape
    ranks = _average_ranks(table)
    if (table.nunique(axis=1) == 1).all():  # no data set separates any two models
        nan = float("nan")
        return FriedmanResult(nan, nan, nan, nan, ranks)
    chi2, pvalue = _stats.friedmanchisquare(*table.to_numpy().T)
    chi2 = float(chi2)
    f = _divide((n - 1) * chi2, n * (k - 1) - chi2)
    f_pvalue = float(_stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return FriedmanResult(chi2, float(pvalue), f, f_pvalue, ranks)


def nemenyi(scores: pd.DataFrame, alpha: float = 0.05) -> NemenyiResult:
    """The Nemenyi test of every pair of k models over N data sets (Demšar, 2006).

    Two models differ significantly when their average ranks differ by at
    least the critical difference CD = q_alpha sqrt(k (k + 1) / (6 N)), with
    q_alpha the studentized range quantile (k groups, infinite degrees of
    freedom) over sqrt(2). The p-value of a pair is the studentized range
    survival function at |R_i - R_j| / sqrt(k (k + 1) / (6 N)) * sqrt(2),
    as scikit-posthocs' ``posthoc_nemenyi_friedman`` computes it.

    Parameters
    ----------
    scores : pandas.DataFrame of shape (N, k)
        One row per data set, one column per model; N >= 2, k >= 2.
    alpha : float, default=0.05
        Level of the critical difference, in (0, 1).

    Returns
    -------
    NemenyiResult
        ``ranks`` (1 = best), ``critical_difference``, ``pvalues`` (model x
        model) and ``q_alpha``.

    Notes
    -----
    Run it after :func:`friedman` rejects. The p-values are already adjusted
    for the k (k - 1) / 2 comparisons (do not pass them to :func:`holm`).
    Comparing every model with one control model only, the Nemenyi test is
    needlessly conservative; Demšar recommends Holm's procedure on the
    z-statistics for that.
    """
    table = _score_table(scores, min_models=2)
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ParameterError(
            f"alpha must be a level strictly between 0 and 1; got {alpha!r}. Fix: e.g. alpha=0.05."
        )
    n, k = table.shape
    ranks = _average_ranks(table)
    scale = np.sqrt(k * (k + 1.0) / (6.0 * n))
    q_alpha = float(_stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    r = ranks.to_numpy()
    upper = np.triu_indices(k, 1)
    q = np.abs(r[upper[0]] - r[upper[1]]) / scale * np.sqrt(2.0)
    pvalues = np.ones((k, k))
    pvalues[upper] = _stats.studentized_range.sf(q, k, np.inf)
    pvalues[upper[::-1]] = pvalues[upper]
    frame = pd.DataFrame(pvalues, index=table.columns, columns=table.columns)
    return NemenyiResult(ranks, q_alpha * float(scale), frame, q_alpha)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values, in the input's order.

    The i-th smallest of m p-values is multiplied by m - i + 1 (i from 1),
    made non-decreasing along that order, and capped at 1: the same as
    ``statsmodels.stats.multitest.multipletests(pvalues, method="holm")[1]``.

    Parameters
    ----------
    pvalues : array-like of shape (m,)
        P-values in [0, 1]. NaN entries (tests that were not run) stay NaN
        and do not count in m, as R's ``p.adjust`` treats them.

    Returns
    -------
    numpy.ndarray of shape (m,)
        Adjusted p-values; rejecting those <= alpha controls the
        family-wise error rate at alpha.

    Notes
    -----
    Valid under any dependence between the tests. Do not apply it to
    p-values that are already adjusted (:func:`nemenyi`'s).

    References
    ----------
    S. Holm, "A simple sequentially rejective multiple test procedure",
    Scandinavian Journal of Statistics 6(2) (1979) 65-70.
    """
    p = _as_float_array(pvalues, "pvalues")
    valid = ~np.isnan(p)
    out_of_range = p[valid][(p[valid] < 0) | (p[valid] > 1)]
    if out_of_range.size:
        raise ParameterError(
            f"pvalues must lie in [0, 1] (or be NaN); got {out_of_range.tolist()}. "
            "Fix: pass p-values, not test statistics."
        )
    kept = p[valid]
    order = np.argsort(kept, kind="stable")
    steps = np.arange(kept.size, 0, -1)
    adjusted = np.empty_like(kept)
    adjusted[order] = np.minimum(np.maximum.accumulate(kept[order] * steps), 1.0)
    out = np.full_like(p, np.nan)
    out[valid] = adjusted
    return out


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"{name} must be numbers; got {values!r} ({exc}). Fix: pass a 1-D array of floats."
        ) from None
    if arr.ndim != 1:
        raise ParameterError(
            f"{name} must be 1-D (one value per split or test); got shape {arr.shape}. "
            "Fix: pass one model's scores, e.g. result.scores column for one model."
        )
    return arr


def _differences(scores_a: ArrayLike, scores_b: ArrayLike, size: int | None = None) -> np.ndarray:
    a = _as_float_array(scores_a, "scores_a")
    b = _as_float_array(scores_b, "scores_b")
    if a.size != b.size:
        raise ParameterError(
            f"scores_a has {a.size} scores and scores_b {b.size}; expected one score per split "
            "for both, on the same splits in the same order. Fix: pass both models' scores "
            "sorted by split."
        )
    if size is not None and a.size != size:
        raise ParameterError(
            f"The 5x2cv tests need exactly {size} scores per model (5 repetitions x 2 folds); "
            f"got {a.size}. Fix: evaluate with cv=gridfold.FiveByTwo(random_state=0), or use "
            "corrected_ttest for other splits."
        )
    if a.size < 2:
        raise ParameterError(
            f"A paired test needs scores on at least 2 splits; got {a.size}. "
            "Fix: evaluate with k-fold cross-validation (cv=5, say)."
        )
    bad = np.flatnonzero(~(np.isfinite(a) & np.isfinite(b)))
    if bad.size:
        raise ParameterError(
            f"Scores must be finite; splits {bad.tolist()} have NaN or infinite scores (failed "
            "fits score NaN). Fix: find why those fits failed (error_score='raise'), or test on "
            "the splits where both models have a score."
        )
    return a - b


def _test_train_ratio(n_train: float, n_test: float) -> float:
    if not (math.isfinite(n_train) and n_train > 0 and math.isfinite(n_test) and n_test >= 0):
        raise ParameterError(
            f"n_train must be > 0 and n_test >= 0 (rows in a split's training and test part); "
            f"got n_train={n_train!r}, n_test={n_test!r}. Fix: for 5-fold CV on 150 rows, "
            "n_train=120, n_test=30."
        )
    return float(n_test) / float(n_train)


def _variance(diff: np.ndarray) -> float:
    # Exactly 0 when every difference is the same: np.var of equal floats can be
    # a rounding residue (1e-34), which would make t huge instead of infinite.
    return 0.0 if np.all(diff == diff[0]) else float(np.var(diff, ddof=1))


def _divide(numerator: float, denominator: float) -> float:
    if denominator != 0:
        return numerator / denominator
    return math.nan if numerator == 0 else math.copysign(math.inf, numerator)


def _t_pvalue(statistic: float, df: int, alternative: str) -> float:
    if alternative == "greater":
        return float(_stats.t.sf(statistic, df))
    if alternative == "less":
        return float(_stats.t.cdf(statistic, df))
    return float(2 * _stats.t.sf(abs(statistic), df))


def _five_by_two(scores_a: ArrayLike, scores_b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    diff = _differences(scores_a, scores_b, size=10).reshape(5, 2)
    means = diff.mean(axis=1, keepdims=True)
    return diff, np.sum((diff - means) ** 2, axis=1)


def _score_table(scores: Any, min_models: int) -> pd.DataFrame:
    table = scores if isinstance(scores, pd.DataFrame) else pd.DataFrame(scores)
    try:
        table = table.astype(float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"scores must be numbers; {exc}. Fix: pass a DataFrame of scores, one row per "
            "data set and one column per model."
        ) from None
    n, k = table.shape
    if n < 2 or k < min_models:
        raise ParameterError(
            f"scores must have at least 2 rows (data sets) and {min_models} columns (models); "
            f"got {n} x {k}. Fix: one row per data set, one column per model"
            + (" (for 2 models, use a Wilcoxon signed-rank test)." if k == 2 else ".")
        )
    if not np.isfinite(table.to_numpy()).all():
        raise ParameterError(
            "scores must be finite; got NaN or infinite values in data sets "
            f"{table.index[~np.isfinite(table.to_numpy()).all(axis=1)].tolist()}. Fix: drop "
            "those data sets, or rerun the failed fits."
        )
    return table


def _average_ranks(table: pd.DataFrame) -> pd.Series:
    ranks = _stats.rankdata(-table.to_numpy(), axis=1).mean(axis=0)
    return pd.Series(ranks, index=table.columns, name="rank")
