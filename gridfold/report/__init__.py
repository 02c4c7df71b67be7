"""Reports of a study: matplotlib figures and one self-contained HTML file.

- :mod:`gridfold.report.plots`: per-fold scores, time per model, the
  critical-difference diagram;
- :mod:`gridfold.report.params`: the score against each hyperparameter;
- :mod:`gridfold.report.html`: ``gridfold report``'s HTML page and PNG files;
- :mod:`gridfold.report.mixins`: ``to_frame()`` and ``plot_param()`` of the searches.

Every plot function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state, no GUI backend is touched); matplotlib is imported
only when a figure is drawn, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "plot_critical_difference",
    "plot_fold_scores",
    "plot_param",
    "plot_times",
    "write_report",
]

_PUBLIC = {
    "plot_critical_difference": "gridfold.report.plots",
    "plot_fold_scores": "gridfold.report.plots",
    "plot_times": "gridfold.report.plots",
    "plot_param": "gridfold.report.params",
    "write_report": "gridfold.report.html",
}

if TYPE_CHECKING:
    from gridfold.report.html import write_report
    from gridfold.report.params import plot_param
    from gridfold.report.plots import plot_critical_difference, plot_fold_scores, plot_times


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gridfold.report' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
