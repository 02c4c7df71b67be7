"""One ranking of every candidate of every model of a study, and its exports.

The leaderboard has one row per candidate: ``rank`` (over all models, by the
ranking metric, ties share the best rank, failed candidates last), ``model``,
``candidate`` (its index in the model's ``cv_results_``), ``params`` (a compact
string), ``mean_test_<metric>`` and ``std_test_<metric>`` for every metric,
``mean_fit_time``; best first.

A comparison is read per model: :func:`best_per_model` keeps each model's best
candidate (one row per model, best model first), :func:`render_best` shows it,
and :func:`best_records` exports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from gridfold.runner import StudyOutcome

__all__ = [
    "best_per_model",
    "best_records",
    "export",
    "format_params",
    "leaderboard",
    "render",
    "render_best",
    "to_records",
]


def format_params(params: Mapping[str, Any]) -> str:
    """``{"C": 1.0, "kernel": "rbf"}`` -> ``"C=1.0, kernel='rbf'"``; ``"-"`` for none.

    Parameters
    ----------
    params : dict

    Returns
    -------
    str
    """
    if not params:
        return "-"
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value: Any) -> str:
    if hasattr(value, "get_params") and not isinstance(value, type):
        return f"{type(value).__name__}()"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _label(outcome: StudyOutcome, metric: str) -> str:
    return outcome.metric_labels.get(metric, metric)


def leaderboard(outcome: StudyOutcome, splits: bool = False) -> pd.DataFrame:
    """The leaderboard of a study, best first.

    Parameters
    ----------
    outcome : StudyOutcome
    splits : bool, default=False
        Also give each split's test score (``split<k>_test_<metric>``).

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, model, candidate, params, mean_test_<m>, std_test_<m>, ...,
        mean_fit_time`` (then the split columns); metric names are the
        scorers' (``score`` for an estimator's default score).
    """
    rows: list[dict[str, Any]] = []
    halving = any(m.halving is not None for m in outcome.models)
    for m in outcome.models:
        res = m.cv_results
        shown = range(len(res["params"])) if m.halving is None else m.halving.last_rows
        for i in shown:
            params = res["params"][i]
            row: dict[str, Any] = {
                "model": m.name,
                "candidate": i,
                "params": format_params(params),
            }
            if halving:  # the rung each candidate reached ("" for a model without rungs)
                row["rung"] = _rung(m, i)
            for metric in outcome.metrics:
                label = _label(outcome, metric)
                row[f"mean_test_{label}"] = float(res[f"mean_test_{metric}"][i])
                row[f"std_test_{label}"] = float(res[f"std_test_{metric}"][i])
            row["mean_fit_time"] = float(res["mean_fit_time"][i])
            if splits:
                for metric in outcome.metrics:
                    for k in range(outcome.n_splits):
                        row[f"split{k}_test_{_label(outcome, metric)}"] = float(
                            res[f"split{k}_test_{metric}"][i]
                        )
            rows.append(row)
    frame = pd.DataFrame(rows)
    key = f"mean_test_{_label(outcome, outcome.refit_metric)}"
    frame = frame.sort_values(key, ascending=False, kind="stable", na_position="last")
    rank = frame[key].rank(method="min", ascending=False, na_option="bottom").astype(int)
    frame.insert(0, "rank", rank)
    return frame.reset_index(drop=True)


def best_per_model(outcome: StudyOutcome) -> pd.DataFrame:
    """Each model's best candidate, one row per model, best model first.

    A model's best candidate is the first of its candidates with the highest
    mean test score of the ranking metric: scikit-learn's ``best_index_``
    (``rank_test_<metric>`` ranks with ``method="min"``, and the leaderboard
    sorts stably in candidate order). A halving model's is its search's
    ``best_index_``, the best of its last rung, which a candidate dropped at
    an earlier rung may outscore. Models whose every candidate failed come
    last, in study order.

    Parameters
    ----------
    outcome : StudyOutcome

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`leaderboard`; ``rank`` stays the candidate's
        rank among all candidates of the study.
    """
    frame = leaderboard(outcome)
    best = frame.drop_duplicates("model", keep="first")
    halving = {m.name: m.halving.best_row for m in outcome.models if m.halving is not None}
    if not halving:
        return best.reset_index(drop=True)
    # A halving model's best is scikit-learn's best_index_: the best of its last rung, which
    # a candidate dropped earlier (scored with less of the resource) may outscore.
    rows = [
        frame[(frame["model"] == name) & (frame["candidate"] == halving[name])]
        if name in halving
        else frame[frame["model"] == name].head(1)
        for name in best["model"]
    ]
    key = f"mean_test_{_label(outcome, outcome.refit_metric)}"
    out = pd.concat(rows).sort_values(key, ascending=False, kind="stable", na_position="last")
    return out.reset_index(drop=True)


def _rung(model: Any, row: int) -> str:
    """``"3/4"``: the rung of a halving model's row, of its rungs; ``""`` without rungs."""
    if model.halving is None:
        return ""
    return f"{model.halving.rungs[row] + 1}/{model.halving.n_rungs}"


def render(outcome: StudyOutcome, top: int | None = 10) -> Table:
    """A rich table of the ``top`` best rows (all rows for None).

    Parameters
    ----------
    outcome : StudyOutcome
    top : int or None, default=10

    Returns
    -------
    rich.table.Table
    """
    frame = leaderboard(outcome)
    shown = frame if top is None else frame.head(top)
    ranked_by = _label(outcome, outcome.refit_metric)
    title = f"Leaderboard: {len(shown)} of {len(frame)} candidates, ranked by mean test {ranked_by}"
    return _table(outcome, shown, title)


def render_best(outcome: StudyOutcome) -> Table:
    """A rich table of each model's best candidate, best model first.

    Parameters
    ----------
    outcome : StudyOutcome

    Returns
    -------
    rich.table.Table
        ``rank`` is the candidate's rank among all candidates, as in
        :func:`render`.
    """
    frame = best_per_model(outcome)
    ranked_by = _label(outcome, outcome.refit_metric)
    title = f"Best candidate of each model: {len(frame)} models, ranked by mean test {ranked_by}"
    return _table(outcome, frame, title)


def _table(outcome: StudyOutcome, frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("model", style="bold")
    table.add_column("params", overflow="fold")
    for metric in outcome.metrics:
        table.add_column(f"{_label(outcome, metric)} (mean ± std)", justify="right")
    table.add_column("fit s", justify="right")
    rungs = "rung" in frame.columns
    if rungs:  # a halving model's candidates: the rung each reached, of its rungs
        table.add_column("rung", justify="right")
    for _, row in frame.iterrows():
        cells = [str(row["rank"]), str(row["model"]), str(row["params"])]
        for metric in outcome.metrics:
            label = _label(outcome, metric)
            mean, std = row[f"mean_test_{label}"], row[f"std_test_{label}"]
            cells.append("failed" if math.isnan(mean) else f"{mean:.4f} ± {std:.4f}")
        cells.append(f"{row['mean_fit_time']:.3f}")
        if rungs:
            cells.append(str(row["rung"]))
        table.add_row(*cells)
    return table


def best_records(outcome: StudyOutcome) -> list[dict[str, Any]]:
    """Each model's best candidate as JSON-ready records, best model first.

    Each record: ``name``, ``candidate``, ``rank`` (among all candidates),
    ``params`` (dict), ``mean`` and ``std`` of the ranking metric's test
    score, ``split_test_scores`` (its score per split), ``n_failed_splits``
    (splits on which this candidate's fit raised) and ``metrics``
    (``{metric: {"mean": ..., "std": ...}}`` for every metric). NaN becomes
    None.

    Parameters
    ----------
    outcome : StudyOutcome

    Returns
    -------
    list of dict
    """
    by_name = {m.name: m for m in outcome.models}
    ranked_by = _label(outcome, outcome.refit_metric)
    records = []
    for row in best_per_model(outcome).to_dict(orient="records"):
        model, candidate = by_name[row["model"]], int(row["candidate"])
        res = model.cv_results
        records.append(
            {
                "name": row["model"],
                "candidate": candidate,
                "rank": int(row["rank"]),
                "params": _params_json(res, candidate),
                "mean": _jsonable(row[f"mean_test_{ranked_by}"]),
                "std": _jsonable(row[f"std_test_{ranked_by}"]),
                "split_test_scores": _split_scores(outcome, res, candidate, outcome.refit_metric),
                "n_failed_splits": sum(c == candidate for c, _ in model.failed_fits),
                "metrics": {
                    _label(outcome, m): {
                        "mean": _jsonable(row[f"mean_test_{_label(outcome, m)}"]),
                        "std": _jsonable(row[f"std_test_{_label(outcome, m)}"]),
                    }
                    for m in outcome.metrics
                },
            }
        )
    return records


def to_records(outcome: StudyOutcome) -> list[dict[str, Any]]:
    """The leaderboard as JSON-ready records, params as a dict, with per-split scores.

    Each record: ``rank``, ``model``, ``params`` (dict), ``mean_test_<m>``,
    ``std_test_<m>``, ``mean_fit_time`` and ``split_test_scores``
    (``{metric: [score per split]}``). NaN becomes None.

    Parameters
    ----------
    outcome : StudyOutcome

    Returns
    -------
    list of dict
    """
    frame = leaderboard(outcome)
    params: dict[tuple[str, int], dict[str, Any]] = {}
    split_scores: dict[tuple[str, int], dict[str, list[Any]]] = {}
    for m in outcome.models:
        res = m.cv_results
        for i in range(len(res["params"])):
            key = (m.name, i)
            params[key] = _params_json(res, i)
            split_scores[key] = {
                _label(outcome, metric): _split_scores(outcome, res, i, metric)
                for metric in outcome.metrics
            }
    records = []
    for row in frame.to_dict(orient="records"):
        key = (row["model"], int(row["candidate"]))
        record = {k: _jsonable(v) for k, v in row.items()}
        record["params"] = params[key]
        record["split_test_scores"] = split_scores[key]
        records.append(record)
    return records


def _params_json(cv_results: dict[str, Any], candidate: int) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in cv_results["params"][candidate].items()}


def _split_scores(
    outcome: StudyOutcome, cv_results: dict[str, Any], candidate: int, metric: str
) -> list[Any]:
    """The candidate's test score of ``metric`` on each split, JSON-ready."""
    return [
        _jsonable(cv_results[f"split{k}_test_{metric}"][candidate]) for k in range(outcome.n_splits)
    ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def export(outcome: StudyOutcome, path: str | Path) -> Path:
    """Write the leaderboard to ``path``: ``.csv`` (with split columns) or ``.json``.

    Parameters
    ----------
    outcome : StudyOutcome
    path : str or Path

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        For another file extension.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        leaderboard(outcome, splits=True).to_csv(p, index=False)
    elif suffix == ".json":
        p.write_text(json.dumps(to_records(outcome), indent=2) + "\n", encoding="utf-8")
    else:
        raise ValueError(
            f"cannot export to {p.name!r}: expected a .csv or .json file name; "
            "fix: e.g. --output results.csv"
        )
    return p
