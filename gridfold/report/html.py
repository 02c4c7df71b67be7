"""``gridfold report``: one self-contained HTML page and the same plots as PNG files.

The page reads a finished study (a :class:`~gridfold.runner.StudyOutcome`,
built from the store: nothing is fitted) and shows, per data set:

- each model's best candidate with its mean ± std and, against the best
  model, the corrected t-test's Holm-adjusted p-value and verdict (exactly
  :func:`gridfold.verdict.verdict`, as the terminal prints it) and the
  Bayesian correlated t-test's probabilities (rope 0.01);
- the per-split scores of those best candidates, splits joined across models;
- the score against each model's hyperparameters;
- the seconds spent per model and, when the caller passes the plan's counts
  (:mod:`gridfold.report.sharing`), the fits sharing avoided per model;
- every candidate, in a collapsed table;

and, with several data sets, the critical-difference diagram of the models'
average ranks. Images are embedded as base64 PNG data URIs and the CSS is
inline, so the file can be mailed or archived alone; no JavaScript.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridfold import stats
from gridfold.exceptions import ParameterError
from gridfold.leaderboard import best_per_model, leaderboard
from gridfold.report.params import plot_param, varying_params
from gridfold.report.plots import plot_critical_difference, plot_fold_scores, plot_times
from gridfold.report.sharing import SharingPlan
from gridfold.runner import StudyOutcome
from gridfold.verdict import best_comparison, format_pvalue, verdict

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Report", "write_report"]

#: Half-width of the region of practical equivalence of the Bayesian test, in score units.
ROPE = 0.01
#: Saved at this resolution and shown at 96 px per inch: sharp on high-density screens.
_DPI = 144

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
       max-width: 1100px; margin: 2rem auto; padding: 0 1.5rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #d5dae3; }
h3 { font-size: 1.05rem; margin-top: 1.6rem; }
.meta { color: #5b6474; margin-top: 0; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e3e7ee; text-align: left;
         vertical-align: top; }
th { background: #f2f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best td { font-weight: 600; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #5b6474; font-size: .85rem; margin-top: .3rem; max-width: 900px; }
.note { color: #5b6474; font-size: .9rem; }
ul.verdict { padding-left: 1.2rem; }
details summary { cursor: pointer; color: #29508a; }
"""


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    html : Path
        The self-contained page.
    images : tuple of Path
        The PNG files, the same images the page embeds.
    """

    html: Path
    images: tuple[Path, ...] = field(default_factory=tuple)


@dataclass
class _Page:
    """The page being assembled and the PNG files written so far."""

    folder: Path
    parts: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def figure(self, fig: Figure, name: str, alt: str, caption: str) -> None:
        """Write ``fig`` to ``name``.png and embed the same bytes in the page."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=_DPI)
        data = buffer.getvalue()
        stem = _slug(name)
        path, n = self.folder / f"{stem}.png", 2
        while path in self.images:  # two names with one slug ("svc rbf", "svc_rbf"): keep both
            path, n = self.folder / f"{stem}-{n}.png", n + 1
        path.write_bytes(data)
        self.images.append(path)
        width = round(fig.get_figwidth() * 96)
        encoded = base64.b64encode(data).decode("ascii")
        self.add(
            f'<figure><img src="data:image/png;base64,{encoded}" width="{width}" '
            f'alt="{_e(alt)}"><figcaption>{caption}</figcaption></figure>'
        )


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "plot"


def write_report(
    outcomes: StudyOutcome | Mapping[str, StudyOutcome],
    folder: str | Path,
    *,
    title: str | None = None,
    sharing: SharingPlan | Mapping[str, SharingPlan] | None = None,
) -> Report:
    """Write ``report.html`` and one PNG file per plot to ``folder``.

    Parameters
    ----------
    outcomes : StudyOutcome or mapping of str to StudyOutcome
        A finished study, or one per data set (same models), keyed by the
        data set's name: then the page also has the critical-difference
        diagram of the models over the data sets.
    folder : str or Path
        Created if missing; files of an earlier report there are replaced.
    title : str, default=None
        The page's heading (default: the study file's name).
    sharing : SharingPlan or mapping of str to SharingPlan, default=None
        The fits gridfold's plan runs per model
        (:func:`gridfold.report.sharing.plan_sharing`), shown under "Time
        spent per model"; a mapping keyed like ``outcomes`` for several data
        sets. None (or a data set missing from the mapping): not shown.

    Returns
    -------
    Report
    """
    studies = dict(outcomes) if isinstance(outcomes, Mapping) else {"": outcomes}
    if not studies:
        raise ParameterError("write_report needs at least one study outcome; got none.")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(studies.values()))
    heading = title or f"gridfold report: {Path(str(first.config.file)).name}"
    page = _Page(out)
    page.add(f"<h1>{_e(heading)}</h1>")
    page.add(f'<p class="meta">study file {_e(first.config.file)}</p>')
    if len(studies) > 1:
        _across_datasets(page, studies)
    plans = dict(sharing) if isinstance(sharing, Mapping) else {"": sharing}
    for name, outcome in studies.items():
        _study_section(page, outcome, name, several=len(studies) > 1, sharing=plans.get(name))
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(heading)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(page.parts)
        + "\n</body>\n</html>\n"
    )
    path = out / "report.html"
    path.write_text(document, encoding="utf-8")
    return Report(path, tuple(page.images))


def _label(outcome: StudyOutcome, metric: str) -> str:
    return outcome.metric_labels.get(metric, metric)


def _study_section(
    page: _Page, outcome: StudyOutcome, name: str, *, several: bool, sharing: SharingPlan | None
) -> None:
    prefix = f"{name}-" if name else ""
    label = _label(outcome, outcome.refit_metric)
    n_candidates = sum(len(m.candidates) for m in outcome.models)
    page.add(f"<h2>{_e(name or 'Results')}</h2>" if several else "<h2>Models</h2>")
    page.add(
        f'<p class="meta">{_e(outcome.dataset)}; {len(outcome.models)} models, {n_candidates} '
        f"candidates x {outcome.n_splits} splits = {outcome.n_fits} fits "
        f"({outcome.n_failed} failed); splits {_e(outcome.splitter)}; ranked by mean test "
        f"{_e(label)}</p>"
    )
    best = best_per_model(outcome)
    _best_table(page, outcome, best)
    scores = _best_split_scores(outcome, best)
    if len(scores.columns) >= 1:
        page.add("<h3>Scores on each split</h3>")
        page.figure(
            plot_fold_scores(scores, metric=label, title=f"Test {label} of each model's best"),
            f"{prefix}fold_scores",
            f"test {label} of each model's best candidate on each split",
            "Each model's best candidate, one point per split; a line joins the scores of "
            "the same split across models (the models were scored on the same splits, so the "
            "comparison is paired). Boxes: quartiles and median; whiskers: 1.5 IQR.",
        )
    _param_section(page, outcome, prefix)
    _time_section(page, outcome, [str(n) for n in best["model"]], prefix, sharing)
    _candidates_table(page, outcome)


def _best_table(page: _Page, outcome: StudyOutcome, best: pd.DataFrame) -> None:
    """Each model's best candidate, with the tests against the best model's."""
    found = verdict(outcome)
    tests = {t.b: t for t in found.tests}
    bayes = _bayesian(outcome, best)
    labels = [_label(outcome, m) for m in outcome.metrics]
    head = ["rank", "model", "best candidate"] + [f"{m} (mean ± std)" for m in labels]
    head += ["p vs best (Holm)", "verdict"]
    if bayes is not None:
        head += ["P(best better)", "P(equivalent)", "P(model better)"]
    rows = []
    for i, row in best.iterrows():
        model = str(row["model"])
        cells = [f'<td class="num">{row["rank"]}</td>', f"<td>{_e(model)}</td>"]
        cells.append(f"<td>{_e(row['params'])}</td>")
        cells += _mean_std_cells(row, labels)
        test = tests.get(model)
        if i == 0:
            cells += ['<td class="num">(best)</td>', "<td></td>"]
        elif test is None:
            cells += ['<td class="num">-</td>', "<td>not tested (see notes)</td>"]
        else:
            p = "-" if math.isnan(test.pvalue_holm) else format_pvalue(test.pvalue_holm)
            cells += [f'<td class="num">{_e(p)}</td>', f"<td>{_e(test.verdict)}</td>"]
        if bayes is not None:
            probs = bayes.loc[model] if model in bayes.index else None
            for column in ("p_best_better", "p_equivalent", "p_model_better"):
                value = math.nan if probs is None else float(probs[column])
                cells.append(f'<td class="num">{"-" if math.isnan(value) else f"{value:.3f}"}</td>')
        rows.append(f"<tr{' class=best' if i == 0 else ''}>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    page.add(f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    caption = (
        f"p: the Nadeau-Bengio corrected t-test of the best model's best candidate against "
        f"each other model's best over the {outcome.n_splits} splits, Holm-adjusted over the "
        f"models tested, alpha {found.alpha:g}."
    )
    if bayes is not None:
        caption += (
            f" P(...): the Bayesian correlated t-test (Benavoli et al. 2017), region of "
            f"practical equivalence ± {ROPE:g} {found.metric}."
        )
    page.add(f'<p class="note">{_e(caption)}</p>')
    if found.tests:
        page.add(f"<p>{_e(found.lines()[0])}</p>")  # the verdict's header line
    lines = [t.line() for t in found.tests] + [f"note: {n}" for n in found.notes]
    if lines:
        items = "".join(f"<li>{_e(line)}</li>" for line in lines)
        page.add(f'<ul class="verdict">{items}</ul>')


def _mean_std_cells(row: pd.Series, labels: list[str]) -> list[str]:
    """A leaderboard row's ``mean ± std`` of each metric, as table cells."""
    cells = []
    for metric in labels:
        mean, std = row[f"mean_test_{metric}"], row[f"std_test_{metric}"]
        text = "failed" if math.isnan(mean) else f"{mean:.4f} ± {std:.4f}"
        cells.append(f'<td class="num">{text}</td>')
    return cells


def _bayesian(outcome: StudyOutcome, best: pd.DataFrame) -> pd.DataFrame | None:
    """The Bayesian test of every model's best against the best one's, or None.

    One row per other model (index ``model``): ``p_best_better``,
    ``p_equivalent``, ``p_model_better``; NaN where a model's best failed on
    some split (no measurement to test).
    """
    if len(best) < 2 or not outcome.split_sizes or outcome.n_splits < 2:
        return None
    label = _label(outcome, outcome.refit_metric)
    comparison = best_comparison(outcome)
    names = [str(n) for n in best["model"]]
    rows = {}
    for name in names[1:]:
        try:
            result = comparison.test(names[0], name, metric=label, method="bayesian", rope=ROPE)
        except ParameterError:
            result = None  # failed fits: the verdict's notes say which
        assert result is None or isinstance(result, stats.BayesianTTestResult)
        rows[name] = (
            (math.nan,) * 3
            if result is None
            else (result.p_a_better, result.p_equivalent, result.p_b_better)
        )
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["p_best_better", "p_equivalent", "p_model_better"]
    )


def _best_split_scores(outcome: StudyOutcome, best: pd.DataFrame) -> pd.DataFrame:
    """Rows = splits, columns = models (best first): each best candidate's test scores.

    The scores the verdict tests (:func:`gridfold.verdict.best_comparison`), one column each.
    """
    label = _label(outcome, outcome.refit_metric)
    scores = best_comparison(outcome).scores
    table = scores.pivot(index="split", columns="model", values=f"test_{label}")
    table.columns.name = None
    return table[[str(n) for n in best["model"]]]


def _param_section(page: _Page, outcome: StudyOutcome, prefix: str) -> None:
    label = _label(outcome, outcome.refit_metric)
    tuned = [m for m in outcome.models if varying_params(m.cv_results["params"])]
    if not tuned:
        return
    page.add("<h3>Score against the hyperparameters</h3>")
    for model in tuned:
        names = varying_params(model.cv_results["params"])
        if len(names) == 2:
            how = "a heatmap of the mean (± std over the splits) of each combination"
        else:
            how = "the mean over the splits (line), ± std (band) and each split's score (dots)"
        page.figure(
            plot_param(
                model.cv_results, metric=outcome.refit_metric, metric_label=label, title=model.name
            ),
            f"{prefix}param_{model.name}",
            f"{model.name}: test {label} against {', '.join(names)}",
            f"{_e(model.name)}: {how}. Where other parameters vary, each point shows the best "
            "candidate with that value.",
        )


def _time_section(
    page: _Page,
    outcome: StudyOutcome,
    order: list[str],
    prefix: str,
    sharing: SharingPlan | None,
) -> None:
    fit = {}
    score = {}
    by_name = {m.name: m for m in outcome.models}
    for name in order:  # best model first, as in the tables
        m = by_name[name]
        res = m.cv_results
        # cv_results_ keeps the mean per candidate; times n_splits gives back the sum
        fit[m.name] = float(np.nansum(res["mean_fit_time"])) * outcome.n_splits
        score[m.name] = float(np.nansum(res["mean_score_time"])) * outcome.n_splits
    total = sum(fit.values()) + sum(score.values())
    page.add("<h3>Time spent per model</h3>")
    saved = (
        "the fits it avoided are counted below."
        if sharing is not None
        else "what sharing saved is not shown."
    )
    # saved_seconds stays None: the store has no measured unshared time, and none is invented.
    page.figure(
        plot_times(fit, score),
        f"{prefix}times",
        "seconds spent fitting and scoring per model",
        f"Fit and score seconds summed over each model's fits ({_e(f'{total:.1f}')} s in all, "
        "over every worker, as measured when each fit ran). Work shared by several candidates "
        "(a path fit, a pipeline prefix) is divided among them. The store does not record "
        f"what the fits would have cost unshared, so no seconds saved are shown; {saved}",
    )
    if sharing is not None:
        _sharing_table(page, order, sharing)


def _sharing_table(page: _Page, order: list[str], sharing: SharingPlan) -> None:
    """Per model: candidate fits, the fits gridfold's plan runs, the fits sharing avoided."""
    by_name = {m.name: m for m in sharing.models}
    head = ["model", "candidate fits", "fits run", "fits avoided", "shared work"]
    rows = []
    for name in order:
        m = by_name.get(name)
        if m is None:
            continue
        what = []
        paths = [k for k in m.families if k != "pipeline"]
        if m.path_units:
            what.append(
                f"{m.path_units} path fit{'s' * (m.path_units != 1)} ({', '.join(paths)}), "
                "each answering all its candidates"
            )
        if m.prefix_shared_fits:
            what.append(
                f"{m.prefix_shared_fits} candidate fits shared their common pipeline prefix "
                "steps (still counted as whole fits)"
            )
        cells = [f"<td>{_e(name)}</td>"]
        cells += [f'<td class="num">{v}</td>' for v in (m.candidate_fits, m.fits_run, m.avoided)]
        cells.append(f"<td>{_e('; '.join(what) or 'none')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    page.add(f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    workers = (
        f"{sharing.n_workers} worker{'s' * (sharing.n_workers != 1)}, as the study's last "
        "recorded run"
        if sharing.workers_recorded
        else "1 worker (no run of the study is recorded in the store)"
    )
    page.add(
        f'<p class="note">What sharing saved, in fits: {sharing.avoided} whole fits avoided in '
        f"all. Counted from the plan gridfold makes of the whole study with sharing on (its "
        f"default), for {_e(workers)}; nothing was fitted to count them. The store does not "
        "record whether a run used --no-share, resumed an unfinished study, or fell back to "
        "plain fits after an error, so this is what the default plan shares, not a count of "
        "one run. A path fit answers every candidate of its group on its split and counts as "
        "one fit; pipeline candidates share their common prefix steps (and, where a path "
        "family applies, their final step's fit), but each counts as a whole fit and avoids "
        "none here: for pipelines the count is a lower bound.</p>"
    )


def _candidates_table(page: _Page, outcome: StudyOutcome) -> None:
    frame = leaderboard(outcome)
    labels = [_label(outcome, m) for m in outcome.metrics]
    head = ["rank", "model", "params"] + [f"{m} (mean ± std)" for m in labels] + ["fit s"]
    rows = []
    for _, row in frame.iterrows():
        cells = [f'<td class="num">{row["rank"]}</td>', f"<td>{_e(row['model'])}</td>"]
        cells.append(f"<td>{_e(row['params'])}</td>")
        cells += _mean_std_cells(row, labels)
        cells.append(f'<td class="num">{row["mean_fit_time"]:.3f}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    page.add(
        f"<details><summary>All {len(frame)} candidates, best first</summary>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</details>"
    )


def _across_datasets(page: _Page, studies: Mapping[str, StudyOutcome]) -> None:
    """The models' average ranks over the data sets, and Demšar's diagram."""
    from gridfold.comparison import MultiCompareResult

    first = next(iter(studies.values()))
    label = _label(first, first.refit_metric)
    several = MultiCompareResult({name: best_comparison(o) for name, o in studies.items()})
    page.add(f"<h2>Across {len(studies)} data sets</h2>")
    try:
        result = several.nemenyi(label)
    except ParameterError as exc:
        page.add(f'<p class="note">No critical-difference diagram: {_e(exc)}</p>')
        return
    try:
        friedman = several.friedman(label)
    except ParameterError:
        pass  # fewer than 3 models: Friedman's test does not apply, the diagram does
    else:
        page.add(
            f'<p class="meta">Friedman: chi-square {friedman.statistic:.3f}, '
            f"{_e(format_pvalue(friedman.pvalue))}; Iman-Davenport F "
            f"{friedman.iman_davenport:.3f}, {_e(format_pvalue(friedman.iman_davenport_pvalue))}"
            "</p>"
        )
    cd = result.critical_difference
    page.figure(
        plot_critical_difference(result.ranks, cd),
        "critical_difference",
        "critical-difference diagram of the models' average ranks",
        "Average rank of each model's best candidate over the data sets (1 = best), by mean "
        f"test {_e(label)}. Models joined by a bar differ by less than the critical difference "
        f"({cd:.2f}, Nemenyi, alpha 0.05): not significantly different.",
    )
