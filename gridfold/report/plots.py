"""Figures of a comparison: per-fold scores, time per model, critical differences.

Each function takes plain data (a DataFrame, a Series, a mapping) so that
:class:`gridfold.CompareResult`, :class:`gridfold.MultiCompareResult` and
``gridfold report`` draw the same figures. Each returns a new
:class:`matplotlib.figure.Figure`, made without pyplot: nothing global
changes, and the caller saves it (``fig.savefig("x.png")``) or shows it in a
notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridfold.exceptions import ParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["new_figure", "plot_critical_difference", "plot_fold_scores", "plot_times"]

#: Label of the lines that join one split's scores across models (tests find them by it).
PAIR_LABEL = "split {}"
#: Label of a critical-difference diagram's bars joining models not significantly different.
CLIQUE_LABEL = "not significantly different"


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of ``width`` x ``height`` inches with a constrained layout.

    Parameters
    ----------
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", dpi=100)


def _rotate_if_crowded(ax: Axes, labels: list[str]) -> None:
    """Slant the x tick labels when they would not fit side by side."""
    if len(labels) > 6 or sum(len(s) for s in labels) > 50:
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")


def plot_fold_scores(
    scores: pd.DataFrame, *, metric: str = "score", title: str | None = None
) -> Figure:
    """Each model's score on each split: a box per model, each split joined across models.

    The splits are the same for every model, so a comparison is paired: a
    line joins one split's scores from model to model, and lines that run
    parallel mean the models rank the same on every split, whatever the
    spread of the boxes.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per split, one column per model (drawn left to right in that
        order; put the best first). NaN (a failed fit) is left out.
    metric : str, default="score"
        The score's name, for the axis label.
    title : str, default=None
        Default: "Test <metric> on each split".

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a box and the points per model, and one line per split
        labelled ``"split <k>"`` (a legend when there are at most 10 splits).

    Raises
    ------
    ParameterError
        For a table without models or splits.
    """
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ParameterError(
            f"plot_fold_scores needs at least one split and one model; got {scores.shape[0]} "
            f"splits x {scores.shape[1]} models. Fix: pass the per-split scores of a finished "
            "comparison (rows = splits, columns = models)."
        )
    models = [str(c) for c in scores.columns]
    values = scores.to_numpy(dtype=float)
    n_splits, n_models = values.shape
    fig = new_figure(max(5.0, 1.1 * n_models + 2.5), 4.2)
    ax = fig.add_subplot()
    positions = np.arange(1, n_models + 1)
    ax.boxplot(
        [col[~np.isnan(col)] for col in values.T],
        positions=positions,
        widths=0.5,
        showfliers=False,  # every point is drawn below anyway
        patch_artist=True,
        boxprops={"facecolor": "#e8eef7", "edgecolor": "#5b6b82"},
        medianprops={"color": "#1f3b63", "linewidth": 1.5},
        whiskerprops={"color": "#5b6b82"},
        capprops={"color": "#5b6b82"},
    )
    colors = _split_colors(n_splits)
    for k in range(n_splits):
        ax.plot(
            positions,
            values[k],
            color=colors[k],
            alpha=0.55,
            linewidth=1,
            marker="o",
            markersize=4,
            label=PAIR_LABEL.format(k),
        )
    ax.set_xticks(positions, models)
    _rotate_if_crowded(ax, models)
    ax.set_xlim(0.4, n_models + 0.6)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(title or f"Test {metric} on each split", loc="left")
    ax.grid(axis="y", alpha=0.3)
    if n_splits <= 10:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
    return fig


def _split_colors(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(k if n <= 10 else k / max(n - 1, 1)) for k in range(n)]


def plot_times(
    fit_seconds: Mapping[str, float],
    score_seconds: Mapping[str, float],
    *,
    saved_seconds: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Seconds spent per model: fitting and scoring, summed over its fits.

    Parameters
    ----------
    fit_seconds, score_seconds : mapping of str to float
        Per model (drawn top to bottom in ``fit_seconds``' order).
    saved_seconds : mapping of str to float, default=None
        Per model, seconds that shared work saved, drawn as a hatched bar
        after the others; None when not known.
    title : str, default=None
        Default: "Time spent per model".

    Returns
    -------
    matplotlib.figure.Figure
        One axes of horizontal bars: ``fit``, ``score`` (and ``saved by
        sharing``) per model, the total written at the end of each bar.
    """
    models = list(fit_seconds)
    if not models:
        raise ParameterError("plot_times needs at least one model; got none.")
    fit = np.array([fit_seconds[m] for m in models], dtype=float)
    score = np.array([score_seconds.get(m, 0.0) for m in models], dtype=float)
    fig = new_figure(7.0, max(2.2, 0.45 * len(models) + 1.4))
    ax = fig.add_subplot()
    y = np.arange(len(models))
    ax.barh(y, fit, color="#3b6ea8", label="fit")
    ax.barh(y, score, left=fit, color="#9cc0e6", label="score")
    total = fit + score
    if saved_seconds is not None:
        saved = np.array([saved_seconds.get(m, 0.0) for m in models], dtype=float)
        ax.barh(
            y,
            saved,
            left=total,
            color="none",
            edgecolor="#7a7a7a",
            hatch="//",
            label="saved by sharing",
        )
    for i, seconds in enumerate(total):
        ax.annotate(
            f" {_seconds(seconds)} s",
            (seconds, i),
            va="center",
            fontsize="small",
            annotation_clip=False,
        )
    ax.set_yticks(y, models)
    ax.invert_yaxis()  # the first model on top, as in the tables
    ax.set_xlabel("seconds (summed over the model's fits, all workers)")
    ax.set_xlim(0, float(np.nanmax(total)) * 1.2 or 1.0)
    ax.set_title(title or "Time spent per model", loc="left")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.1f}"


def plot_critical_difference(
    ranks: Mapping[str, float] | pd.Series, cd: float, *, title: str | None = None
) -> Figure:
    """Demšar's critical-difference diagram of average ranks over several data sets.

    Models sit on an axis of average rank (1 = best, on the left); the best
    half is labelled on the left, the rest on the right. A bar the length of
    the critical difference ``cd`` is drawn above the axis, and a thick bar
    below it joins each maximal group of models whose ranks differ by less
    than ``cd`` (Nemenyi: not significantly different).

    Parameters
    ----------
    ranks : pandas.Series or mapping of str to float
        Average rank of each model (``NemenyiResult.ranks``).
    cd : float
        The critical difference (``NemenyiResult.critical_difference``).
    title : str, default=None

    Returns
    -------
    matplotlib.figure.Figure
        One axes; each group's bar is a line labelled
        ``"not significantly different"``.

    Raises
    ------
    ParameterError
        For fewer than 2 models or a critical difference that is not a
        positive number.
    """
    order = pd.Series(dict(ranks) if not isinstance(ranks, pd.Series) else ranks, dtype=float)
    order = order.sort_values(kind="stable")
    k = len(order)
    if k < 2 or not (cd > 0 and math.isfinite(cd)):
        raise ParameterError(
            f"plot_critical_difference needs at least 2 models and a positive critical "
            f"difference; got {k} models and cd={cd!r}. Fix: pass nemenyi()'s ranks and "
            "critical_difference."
        )
    names, values = [str(n) for n in order.index], order.to_numpy()
    left = (k + 1) // 2
    rows = max(left, k - left)
    fig = new_figure(7.5, 1.6 + 0.32 * rows)
    ax = fig.add_subplot()
    ax.set_axis_off()
    low, high = 1.0, float(max(k, math.ceil(values.max())))
    # the axis at y = 0, labels below it; rank 1 on the left
    ax.hlines(0, low, high, color="black", linewidth=1)
    for tick in range(int(low), int(high) + 1):
        ax.vlines(tick, 0, 0.12, color="black", linewidth=1)
        ax.text(tick, 0.18, str(tick), ha="center", va="bottom", fontsize="small")
    ax.text((low + high) / 2, 0.62, "average rank (1 = best)", ha="center", fontsize="small")
    ax.hlines(0.95, low, low + cd, color="#b03030", linewidth=2)
    ax.text(low + cd / 2, 1.02, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize="small")
    step = 0.45
    cliques = _cliques(values, cd)
    for j, (i0, i1) in enumerate(cliques):
        y = -0.25 - 0.18 * j
        ax.plot(
            [values[i0] - 0.03, values[i1] + 0.03],
            [y, y],
            color="black",
            linewidth=4,
            solid_capstyle="round",
            label=CLIQUE_LABEL,
        )
    top = -0.25 - 0.18 * max(len(cliques), 1) - 0.2
    for i, (name, rank) in enumerate(zip(names, values, strict=True)):
        on_left = i < left
        row = i if on_left else k - 1 - i
        y = top - step * row
        x_text = low - 0.15 if on_left else high + 0.15
        ax.plot([rank, rank, x_text], [0, y, y], color="#444444", linewidth=0.8)
        ax.text(
            x_text - 0.05 if on_left else x_text + 0.05,
            y,
            f"{name} ({rank:.2f})" if on_left else f"({rank:.2f}) {name}",
            ha="right" if on_left else "left",
            va="center",
            fontsize="small",
        )
    longest = max(len(n) for n in names) * 0.07 + 0.6
    ax.set_xlim(low - 0.15 - longest, high + 0.15 + longest)
    ax.set_ylim(top - step * (rows - 1) - 0.3, 1.35)
    if title:
        ax.set_title(title, loc="left")
    return fig


def _cliques(sorted_ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of >= 2 sorted models whose ranks differ by < cd."""
    runs: list[tuple[int, int]] = []
    n = len(sorted_ranks)
    for i in range(n):
        j = i
        while j + 1 < n and sorted_ranks[j + 1] - sorted_ranks[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return runs
