"""``to_frame()`` and ``plot_param()`` for gridfold's searches.

A mixin rather than methods in :mod:`gridfold.search`, so the searches'
module stays about running them; it reads only ``cv_results_``, ``refit``
and ``multimetric_``, which every fitted scikit-learn search has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from gridfold.exceptions import ParameterError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SearchReportMixin"]


class SearchReportMixin:
    """Tables and figures of a fitted search's ``cv_results_``."""

    def _fitted_cv_results(self) -> dict[str, Any]:
        results = getattr(self, "cv_results_", None)
        if results is None:
            raise ParameterError(
                f"This {type(self).__name__} is not fitted yet, so it has no cv_results_. "
                "Fix: call fit(X, y) first."
            )
        return dict(results)

    def to_frame(self) -> pd.DataFrame:
        """``cv_results_`` as a DataFrame: one row per candidate.

        Returns
        -------
        pandas.DataFrame
            ``pandas.DataFrame(search.cv_results_)``: the columns of
            ``cv_results_`` (``params``, ``param_<name>``,
            ``mean_test_<metric>``, ``split<k>_test_<metric>``, ...), rows in
            candidate order.

        Raises
        ------
        ParameterError
            Before ``fit``.
        """
        return pd.DataFrame(self._fitted_cv_results())

    def plot_param(
        self, param: str | tuple[str, str] | None = None, *, metric: str | None = None
    ) -> Figure:
        """The mean test score against one or two hyperparameters.

        See :func:`gridfold.report.plot_param`: a line with its band of
        mean ± std over the splits for one parameter, a heatmap for two,
        a panel per parameter for ``param=None`` with more than two varying.

        Parameters
        ----------
        param : str, (str, str) or None, default=None
            Parameter name(s) as in ``param_grid``; None: every varying one.
        metric : str, default=None
            The scorer's name with several scorers; default: ``refit`` when it
            names one, else ``"score"``.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ParameterError
            Before ``fit``, for an unknown metric, or a parameter that does
            not vary.
        """
        from gridfold.report.params import plot_param

        results = self._fitted_cv_results()
        if metric is None:
            refit = getattr(self, "refit", True)
            metric = refit if isinstance(refit, str) else "score"
        estimator = getattr(self, "estimator", None)
        name = type(estimator).__name__ if estimator is not None else None
        return plot_param(results, param, metric=metric, title=name)
