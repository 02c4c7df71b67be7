"""The verdict of a study: is its best model really better than the others?

A comparison is read per model. The best model is the one whose best
candidate (the candidate scikit-learn's search would pick, ``best_index_``;
see :func:`gridfold.leaderboard.best_per_model`) has the highest mean test
score of the ranking metric. :func:`verdict` tests that candidate against the
best candidate of every *close contender* with the Nadeau-Bengio corrected
resampled t-test (:func:`gridfold.stats.corrected_ttest`, through
:meth:`gridfold.CompareResult.test`) on their per-split test scores, with
``n_train`` and ``n_test`` the mean sizes of the study's splits, and
Holm-adjusts the p-values over the contenders tested
(:func:`gridfold.stats.holm`). A contender is significantly different when
its Holm-adjusted p-value is at most ``alpha`` (0.05).

A close contender is simply every other model, nearest to the best by mean
score first, up to :data:`MAX_CONTENDERS` of them: a study compares a
handful of algorithms, and a margin ("within 1 %") would hide exactly the
models a reader wants to see lose. Past the cap the rest are named in a note,
not tested.

A model whose best candidate failed on some splits gets no test (its scores
there are ``error_score``, not measurements) but a note; when that model is
the best one, there are no tests at all.

Caveats, as for :func:`gridfold.stats.corrected_ttest`: the best model is
chosen on the same scores it is then tested on, so its advantage is slightly
optimistic; nested cross-validation (:func:`gridfold.nested_cv`) removes that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridfold import stats
from gridfold.comparison import CompareResult
from gridfold.leaderboard import best_per_model
from gridfold.runner import StudyOutcome

__all__ = [
    "ContenderTest",
    "MAX_CONTENDERS",
    "Verdict",
    "best_comparison",
    "format_pvalue",
    "verdict",
]

#: At most this many contenders are tested: ten lines fit on a screen, and
#: Holm's adjustment over more makes every test too weak to say much anyway.
MAX_CONTENDERS = 10

_NO_DIFFERENCE = "no significant difference"


@dataclass(frozen=True)
class ContenderTest:
    """The corrected t-test of the best model's best candidate (``a``) against another's.

    Attributes
    ----------
    a, b : str
        Model names; ``a`` is the best model.
    mean_difference : float
        Mean over the splits of ``score_a - score_b``.
    statistic : float
        The corrected t statistic (``inf`` when every difference is the same
        non-zero number, NaN when every difference is zero).
    pvalue : float
        Two-sided p-value of that one test.
    pvalue_holm : float
        ``pvalue`` Holm-adjusted over every contender tested; the verdict
        rests on it. NaN with a NaN ``pvalue``.
    verdict : str
        ``"<a> better"``, ``"<b> better"`` or ``"no significant difference"``.
    n_splits : int
        Paired splits the test ran over.
    """

    a: str
    b: str
    mean_difference: float
    statistic: float
    pvalue: float
    pvalue_holm: float
    verdict: str
    n_splits: int

    def line(self) -> str:
        """One line for the terminal, e.g. ``svc vs rf: svc better (p = 0.003, ...)``.

        Returns
        -------
        str
        """
        where = f"corrected t-test over {self.n_splits} splits"
        if math.isnan(self.pvalue_holm):
            return f"{self.a} vs {self.b}: {self.verdict} (the same score on every split, {where})"
        return f"{self.a} vs {self.b}: {self.verdict} ({format_pvalue(self.pvalue_holm)}, {where})"


@dataclass(frozen=True)
class Verdict:
    """What :func:`verdict` returns.

    Attributes
    ----------
    metric : str
        The ranking metric's display name (the scorer's name).
    best : str or None
        The best model; None for a study without models.
    tests : tuple of ContenderTest
        One per contender tested, nearest to the best by mean score first.
    notes : tuple of str
        Contenders not tested, and why.
    alpha : float
        The level the Holm-adjusted p-values are held to.
    n_splits : int
    n_train, n_test : float
        Mean rows in a split's training and test part (the correction's
        ``n_test / n_train``).
    """

    metric: str
    best: str | None
    tests: tuple[ContenderTest, ...]
    notes: tuple[str, ...]
    alpha: float
    n_splits: int
    n_train: float
    n_test: float

    def lines(self) -> list[str]:
        """The verdict for the terminal: a header, one line per test, the notes.

        Returns
        -------
        list of str
            Empty for a study of one model (nothing to compare).
        """
        if not self.tests and not self.notes:
            return []
        lines = []
        if self.tests:
            n = len(self.tests)
            lines.append(
                f"Verdict: {self.best}'s best candidate against each other model's best, by "
                f"test {self.metric} (p Holm-adjusted over {n} test{'s' * (n != 1)}, "
                f"alpha {self.alpha:g}):"
            )
        lines.extend(test.line() for test in self.tests)
        lines.extend(f"note: {note}" for note in self.notes)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, the tests as dicts, non-finite numbers as None.

        Returns
        -------
        dict
        """
        return {
            "metric": self.metric,
            "best": self.best,
            "alpha": self.alpha,
            "method": "corrected t-test (Nadeau-Bengio), Holm-adjusted",
            "n_splits": self.n_splits,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "tests": [
                {k: _finite_or_none(v) for k, v in vars(test).items()} for test in self.tests
            ],
            "notes": list(self.notes),
        }


def format_pvalue(p: float) -> str:
    """``p = 0.003``, ``p = 0.41``; ``p < 0.001`` below that.

    Two significant digits: the p-value's own uncertainty makes more noise.

    Parameters
    ----------
    p : float

    Returns
    -------
    str
    """
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def verdict(
    outcome: StudyOutcome, *, alpha: float = 0.05, max_contenders: int = MAX_CONTENDERS
) -> Verdict:
    """Test the best model's best candidate against each close contender's.

    Parameters
    ----------
    outcome : StudyOutcome
        A finished study (:func:`gridfold.runner.run_config`, or built from
        the store).
    alpha : float, default=0.05
        Level of the Holm-adjusted p-values (family-wise error rate).
    max_contenders : int, default=MAX_CONTENDERS
        Test at most this many other models, the nearest to the best by mean
        score; the rest get a note.

    Returns
    -------
    Verdict
        No tests and no notes for a study of one model.
    """
    metric = outcome.refit_metric
    label = outcome.metric_labels.get(metric, metric)
    n_train, n_test = _mean_split_sizes(outcome)
    best_rows = best_per_model(outcome)
    names = list(best_rows["model"])
    best = names[0] if names else None
    if len(names) < 2:
        return Verdict(label, best, (), (), alpha, outcome.n_splits, n_train, n_test)
    failed = _failed_splits_of_best(outcome, best_rows)
    notes: list[str] = []
    unpaired = _unpaired(outcome)
    if best in unpaired:
        notes.append(unpaired[best] + ": no model is tested against it")
        return Verdict(label, best, (), tuple(notes), alpha, outcome.n_splits, n_train, n_test)
    notes.extend(f"{unpaired[name]}: not tested" for name in names[1:] if name in unpaired)
    contenders = [name for name in names[1:] if name not in unpaired]
    if len(contenders) > max_contenders:
        left_out = contenders[max_contenders:]
        contenders = contenders[:max_contenders]
        notes.append(
            f"{len(left_out)} more model{'s' * (len(left_out) != 1)} not tested "
            f"({', '.join(left_out)}): the verdict covers the {max_contenders} closest to "
            "the best"
        )
    assert best is not None
    params = dict(zip(best_rows["model"], best_rows["params"], strict=True))

    def failed_note(name: str, consequence: str) -> str:
        splits = failed[name]
        return (
            f"{name}: {consequence}: its best candidate ({params[name]}) failed on split"
            f"{'s' * (len(splits) != 1)} {', '.join(map(str, splits))} of {outcome.n_splits} "
            f"(scored error_score={outcome.config.run.error_score}, not a measurement)"
        )

    if failed[best]:
        notes.insert(0, failed_note(best, "no model is tested against it"))
        return Verdict(label, best, (), tuple(notes), alpha, outcome.n_splits, n_train, n_test)
    tested = [name for name in contenders if not failed[name]]
    notes.extend(failed_note(name, "not tested") for name in contenders if failed[name])
    comparison = _comparison(outcome, best_rows, label)
    results = []
    for name in tested:
        result = comparison.test(best, name, metric=label)  # method="corrected"
        assert isinstance(result, stats.TTestResult)
        results.append(result)
    holm = stats.holm([r.pvalue for r in results]) if results else np.array([])
    tests = tuple(
        ContenderTest(
            a=best,
            b=name,
            mean_difference=r.mean_difference,
            statistic=r.statistic,
            pvalue=r.pvalue,
            pvalue_holm=float(p_holm),
            verdict=_decide(best, name, r.mean_difference, float(p_holm), alpha),
            n_splits=outcome.n_splits,
        )
        for name, r, p_holm in zip(tested, results, holm, strict=True)
    )
    return Verdict(label, best, tests, tuple(notes), alpha, outcome.n_splits, n_train, n_test)


def _unpaired(outcome: StudyOutcome) -> dict[str, str]:
    """Models whose best candidate was not scored on the study's splits, and why.

    A halving search on ``n_samples`` whose last rung used fewer rows than the
    data has scored its candidates on subsamples of each split's test part.
    """
    return {
        m.name: f"{m.name}: its best candidate was scored on subsamples of each split "
        '(search = "halving" on n_samples stopped before using every row)'
        for m in outcome.models
        if m.halving is not None and not m.halving.paired
    }


def _decide(a: str, b: str, mean_difference: float, p_holm: float, alpha: float) -> str:
    if math.isnan(p_holm) or p_holm > alpha:
        return _NO_DIFFERENCE
    return f"{a} better" if mean_difference > 0 else f"{b} better"


def _mean_split_sizes(outcome: StudyOutcome) -> tuple[float, float]:
    if not outcome.split_sizes:
        return math.nan, math.nan
    sizes = np.asarray(outcome.split_sizes, dtype=float)
    return float(sizes[:, 0].mean()), float(sizes[:, 1].mean())


def _failed_splits_of_best(outcome: StudyOutcome, best_rows: pd.DataFrame) -> dict[str, list[int]]:
    """Per model, the splits on which its best candidate's fit raised."""
    best_candidate = dict(zip(best_rows["model"], best_rows["candidate"], strict=True))
    return {
        m.name: [s for c, s in m.failed_fits if c == best_candidate[m.name]] for m in outcome.models
    }


def best_comparison(outcome: StudyOutcome) -> CompareResult:
    """Each model's best candidate as a :class:`CompareResult` of the ranking metric.

    Its ``scores`` hold the columns ``model``, ``split`` and ``test_<metric>``
    (the ranking metric's display name), models best first; a study of several
    data sets stacks one per data set into a
    :class:`~gridfold.comparison.MultiCompareResult`.

    Parameters
    ----------
    outcome : StudyOutcome

    Returns
    -------
    CompareResult
    """
    label = outcome.metric_labels.get(outcome.refit_metric, outcome.refit_metric)
    return _comparison(outcome, best_per_model(outcome), label)


def _comparison(outcome: StudyOutcome, best_rows: pd.DataFrame, label: str) -> CompareResult:
    """The best candidate of each model as a :class:`CompareResult`, to reuse its test().

    Only the columns :meth:`CompareResult.test` reads: ``model``, ``split``
    and ``test_<label>`` (the ranking metric).
    """
    by_name = {m.name: m for m in outcome.models}
    rows = []
    for name, candidate in zip(best_rows["model"], best_rows["candidate"], strict=True):
        res = by_name[name].cv_results
        for k in range(outcome.n_splits):
            score = float(res[f"split{k}_test_{outcome.refit_metric}"][int(candidate)])
            rows.append({"model": name, "split": k, f"test_{label}": score})
    return CompareResult(
        scores=pd.DataFrame(rows),
        metrics=[label],
        n_splits=outcome.n_splits,
        split_sizes=outcome.split_sizes,
    )


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
