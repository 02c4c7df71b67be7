"""The cross-validated score against a search's hyperparameters.

:func:`plot_param` reads a ``cv_results_`` dict (scikit-learn's layout, which
every gridfold search and study model has): one varying parameter gives a
line with its fold band (mean ± std over the splits, each split's score as a
dot), two give a heatmap, more give one line panel per parameter. Where other
parameters vary too, each value shows the best candidate that has it (the
profile of the search), as the title says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gridfold.exceptions import ParameterError
from gridfold.report.plots import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_param", "varying_params"]

_MISSING = object()  # a parameter a candidate does not set (a list of grids)
#: A numeric parameter goes on a log axis when max / min reaches this (two decades).
LOG_RATIO = 100.0


def varying_params(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the parameters that take more than one value over ``params``.

    Parameters
    ----------
    params : sequence of dict
        ``cv_results_["params"]``.

    Returns
    -------
    list of str
        In order of first appearance.
    """
    names: list[str] = []
    for p in params:
        names.extend(n for n in p if n not in names)
    return [n for n in names if len({_key(p.get(n, _MISSING)) for p in params}) > 1]


def _key(value: Any) -> str:
    # repr, not the value: values may be unhashable (estimators, lists)
    return "<unset>" if value is _MISSING else repr(value)


def _label(value: Any) -> str:
    if value is _MISSING:
        return "(unset)"
    if hasattr(value, "get_params") and not isinstance(value, type):
        return f"{type(value).__name__}()"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


class _Axis:
    """How one parameter's values are placed: numbers on a (log) scale, else categories."""

    def __init__(self, name: str, values: list[Any]) -> None:
        self.name = name
        distinct: dict[str, Any] = {}
        for v in values:
            distinct.setdefault(_key(v), v)
        self.numeric = all(_is_number(v) for v in distinct.values())
        if self.numeric:
            ordered = sorted(distinct.values(), key=float)
        else:
            ordered = list(distinct.values())  # first-seen order: the grid's
        self.values = ordered
        self.keys = [_key(v) for v in ordered]
        numbers = [float(v) for v in ordered] if self.numeric else []
        self.log = bool(numbers) and min(numbers) > 0 and max(numbers) / min(numbers) >= LOG_RATIO

    def position(self, value: Any) -> float:
        return float(value) if self.numeric else float(self.keys.index(_key(value)))

    def decorate(self, ax: Axes) -> None:
        ax.set_xlabel(self.name)
        if self.log:
            ax.set_xscale("log")
        if not self.numeric:
            labels = [_label(v) for v in self.values]
            ax.set_xticks(range(len(labels)), labels)
            ax.set_xlim(-0.5, len(labels) - 0.5)
            if len(labels) > 5 or sum(len(s) for s in labels) > 30:
                ax.tick_params(axis="x", labelrotation=30)


class _Results:
    """The columns of one metric of a ``cv_results_`` dict, as arrays."""

    def __init__(self, cv_results: Mapping[str, Any], metric: str) -> None:
        if f"mean_test_{metric}" not in cv_results:
            known = sorted(k[len("mean_test_") :] for k in cv_results if k.startswith("mean_test_"))
            raise ParameterError(
                f"cv_results has no metric {metric!r}; it has {known}. Fix: pass metric= one "
                "of those."
            )
        self.params: list[Mapping[str, Any]] = list(cv_results["params"])
        self.mean = np.asarray(cv_results[f"mean_test_{metric}"], dtype=float)
        self.std = np.asarray(cv_results[f"std_test_{metric}"], dtype=float)
        n_splits = sum(
            1 for k in cv_results if k.startswith("split") and k.endswith(f"_test_{metric}")
        )
        self.splits = np.array(
            [
                np.asarray(cv_results[f"split{k}_test_{metric}"], dtype=float)
                for k in range(n_splits)
            ]
        ).reshape(n_splits, len(self.params))

    def value(self, i: int, name: str) -> Any:
        return self.params[i].get(name, _MISSING)

    def best_per(self, names: Sequence[str]) -> dict[tuple[str, ...], int]:
        """For each combination of ``names``' values, its best candidate (first on ties)."""
        best: dict[tuple[str, ...], int] = {}
        for i in range(len(self.params)):
            key = tuple(_key(self.value(i, n)) for n in names)
            j = best.get(key)
            if j is None or (not np.isnan(self.mean[i]) and not self.mean[i] <= self.mean[j]):
                best[key] = i
        return best


def plot_param(
    cv_results: Mapping[str, Any],
    param: str | tuple[str, str] | None = None,
    *,
    metric: str = "score",
    metric_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """The mean test score against one or two hyperparameters.

    Parameters
    ----------
    cv_results : dict
        A search's ``cv_results_``.
    param : str, (str, str) or None, default=None
        One parameter: a line of the mean score, a band of mean ± std over
        the splits and each split's score as a dot; numeric values on a
        numeric axis, a log axis when they span two decades or more
        (max / min >= 100), other values as categories. Two parameters: a
        heatmap, each cell the mean (± std) of that combination. None: every
        varying parameter: a line for one, a heatmap for two, one line panel
        each for more. Where other parameters vary, each point (cell) is the
        best candidate with that value (those values).
    metric : str, default="score"
        The metric key of ``cv_results`` (``mean_test_<metric>``).
    metric_label : str, default=None
        Its name on the axes (default: ``metric``).
    title : str, default=None
        Prefix of the title (e.g. a model's name).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per line panel, or the heatmap's axes and its colour bar.

    Raises
    ------
    ParameterError
        For an unknown metric, a parameter that is not in ``cv_results`` or
        takes a single value, or (with ``param=None``) no varying parameter.
    """
    results = _Results(cv_results, metric)
    varying = varying_params(results.params)
    label = metric_label or metric
    if param is None:
        if not varying:
            raise ParameterError(
                "no hyperparameter varies over these candidates, so there is nothing to plot "
                "against. Fix: search a grid with at least two values of a parameter."
            )
        names = varying
    else:
        names = [param] if isinstance(param, str) else list(param)
        for name in names:
            if name not in varying:
                raise ParameterError(
                    f"parameter {name!r} does not vary over these candidates; the ones that do "
                    f"are {varying}. Fix: pass one of those (or param=None for all)."
                )
    if len(names) == 2:
        return _heatmap(results, names[0], names[1], varying, label, title)
    return _lines(results, names, varying, label, title)


def _others(names: Sequence[str], varying: Sequence[str]) -> str:
    rest = [n for n in varying if n not in names]
    return f" (best over {', '.join(rest)})" if rest else ""


def _lines(
    results: _Results,
    names: Sequence[str],
    varying: Sequence[str],
    label: str,
    title: str | None,
) -> Figure:
    n = len(names)
    columns = min(n, 3)
    rows = math.ceil(n / columns)
    fig = new_figure(4.2 * columns + 0.6, 3.8 * rows)
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    for ax, name in zip(axes, names, strict=False):
        _line(ax, results, name, label)
        # the "best over" note on its own line: side-by-side panels leave no room for it
        heading = f"{label} vs {name}" + _others([name], varying).replace(" (", "\n(")
        ax.set_title(heading, fontsize="medium", loc="left")
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].set_ylabel(f"mean test {label}")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    return fig


def _line(ax: Axes, results: _Results, name: str, label: str) -> None:
    best = results.best_per([name])
    axis = _Axis(name, [results.value(i, name) for i in best.values()])
    chosen = [best[(k,)] for k in axis.keys]
    x = np.array([axis.position(results.value(i, name)) for i in chosen])
    mean, std = results.mean[chosen], results.std[chosen]
    ax.fill_between(x, mean - std, mean + std, color="#3b6ea8", alpha=0.2, label="mean ± std")
    for k in range(results.splits.shape[0]):
        ax.plot(x, results.splits[k, chosen], "o", color="#7a7a7a", markersize=2.5, alpha=0.6)
    ax.plot(x, mean, "-o", color="#1f4e8c", markersize=5, label=f"mean test {label}")
    failed = np.isnan(mean)
    if failed.any():
        ax.plot(x[failed], np.zeros(failed.sum()), "x", color="#b03030", label="failed")
    axis.decorate(ax)
    ax.grid(alpha=0.3)


def _heatmap(
    results: _Results,
    row_name: str,
    col_name: str,
    varying: Sequence[str],
    label: str,
    title: str | None,
) -> Figure:
    best = results.best_per([row_name, col_name])
    rows = _Axis(row_name, [results.value(i, row_name) for i in best.values()])
    cols = _Axis(col_name, [results.value(i, col_name) for i in best.values()])
    grid = np.full((len(rows.keys), len(cols.keys)), np.nan)
    spread = np.full_like(grid, np.nan)
    for (rk, ck), i in best.items():
        r, c = rows.keys.index(rk), cols.keys.index(ck)
        grid[r, c], spread[r, c] = results.mean[i], results.std[i]
    fig = new_figure(max(4.5, 1.3 * len(cols.keys) + 2.6), max(3.2, 0.55 * len(rows.keys) + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=f"mean test {label}")
    scored = np.isfinite(grid).any()  # np.nanmin/nanmax warn on a grid of failures only
    middle = (np.nanmin(grid) + np.nanmax(grid)) / 2 if scored else 0.0
    small = len(cols.keys) <= 8 and len(rows.keys) <= 12  # room for text in each cell
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            if (rows.keys[r], cols.keys[c]) not in best:
                continue  # this combination was not a candidate (random search, list of grids)
            value = grid[r, c]
            if not small and not np.isnan(value):
                continue
            text = "failed" if np.isnan(value) else f"{value:.3f}\n± {spread[r, c]:.3f}"
            ax.text(
                c,
                r,
                text,
                ha="center",
                va="center",
                fontsize="small",
                color="black" if np.isnan(value) or value > middle else "white",
            )
    ax.set_xticks(range(len(cols.keys)), [_label(v) for v in cols.values])
    ax.set_yticks(range(len(rows.keys)), [_label(v) for v in rows.values])
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    heading = f"{label} by {row_name} and {col_name}{_others([row_name, col_name], varying)}"
    ax.set_title(f"{title}: {heading}" if title else heading, loc="left", fontsize="medium")
    return fig
