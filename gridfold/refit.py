"""The refit: the best candidate fitted on the whole data, on every idle core where that is exact.

scikit-learn's ``GridSearchCV`` refits ``clone(estimator).set_params(**best_params_)``
in the caller, after the search (``sklearn/model_selection/_search.py`` lines
1182-1188). gridfold does the same fit, in the same place,
with one difference: when the search is over, its workers are idle, so a
random or extra-trees forest that would grow its trees one at a time
(``n_jobs`` None or 1) grows them on the search's worker count instead. Its
``n_jobs`` is set back before the forest is returned, so ``get_params()`` and
everything the fitted forest does afterwards (``predict_proba`` adds the trees'
outputs in threads when ``n_jobs`` > 1, in no fixed order) are the user's.

Why the trees are the same, bit for bit (scikit-learn 1.9,
``sklearn/ensemble/_forest.py``):

* ``BaseForest.fit`` draws every tree's seed in the caller before any tree is
  grown: ``random_state = check_random_state(self.random_state)`` (line 431),
  then ``self._make_estimator(append=False, random_state=random_state)`` once
  per tree, in order (lines 457-460), which sets an integer ``random_state`` on
  each tree (``_set_random_states``, ``sklearn/ensemble/_base.py`` lines
  77-84). ``n_jobs`` is read only afterwards.
* Each tree is grown by ``_parallel_build_trees`` (lines 132-179) from its own
  seed (the bootstrap sample, ``_generate_sample_indices``, lines 95-113) and
  the shared read-only ``X``, ``y`` and sample weights: nothing one tree does
  reaches another.
* ``Parallel(n_jobs=self.n_jobs, prefer="threads")`` (lines 468-488) returns
  the trees in input order, and ``self.estimators_.extend(trees)`` (line 490)
  keeps it; out-of-bag scores (lines 492-515, 540-600) loop over
  ``estimators_`` sequentially.
* ``n_jobs`` is not among the ``estimator_params`` copied into the trees
  (e.g. ``RandomForestClassifier.__init__``, lines 1541-1553), so each tree's
  ``get_params()`` is unchanged too.

With ``random_state=None`` the seeds come from NumPy's global generator, still
drawn in the caller and in the same number, so the global generator is left
as a one-thread fit leaves it.

Only these four classes (exactly, not subclasses, as the sharing families
match them), directly or as a :class:`~sklearn.pipeline.Pipeline`'s final step
(which ``Pipeline.fit`` fits in place, ``sklearn/pipeline.py`` line 641), and
only with ``verbose=0`` (joblib prints its progress differently with more
jobs). Everything else is fitted exactly as scikit-learn fits it.

Other estimators need nothing: the caller has no BLAS/OpenMP limit at refit
time (a thread executor restores the limits it set when it shuts down, before
the refit), so ``HistGradientBoosting*`` and BLAS-bound fits already use every
core, as scikit-learn's refit does; ``tests/test_refit.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import joblib
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline

from gridfold.executors import resolve_n_jobs
from gridfold.runtime import in_worker

__all__ = ["refit_estimator", "refit_threads", "n_jobs_param"]

#: Estimators whose fitted model provably does not depend on ``n_jobs`` (module docstring).
_N_JOBS_FREE = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)


def refit_threads(n_jobs: int | None) -> int:
    """Cores the refit may use: the search's workers, idle once the search is done.

    Parameters
    ----------
    n_jobs : int or None
        The search's ``n_jobs``.

    Returns
    -------
    int
        The search's worker count; 1 inside a gridfold worker, whose siblings
        are still busy (a nested search runs sequentially there too).
    """
    return 1 if in_worker() else resolve_n_jobs(n_jobs)


def n_jobs_param(estimator: Any) -> str | None:
    """The ``set_params`` key of the ``n_jobs`` that may be raised for the refit, if any.

    Parameters
    ----------
    estimator : estimator
        The unfitted best candidate.

    Returns
    -------
    str or None
        ``"n_jobs"`` for a forest of the classes in the module docstring,
        ``"<step>__n_jobs"`` (recursively) for one that ends a pipeline,
        None for anything else, or a forest with ``verbose`` set.
    """
    if type(estimator) in _N_JOBS_FREE:
        return "n_jobs" if not estimator.verbose else None
    if type(estimator) is Pipeline and estimator.steps:
        name, last = estimator.steps[-1]
        inner = n_jobs_param(last)
        return f"{name}__{inner}" if inner is not None else None
    return None


def refit_estimator(
    estimator: Any, X: Any, y: Any, fit_params: Mapping[str, Any], n_threads: int
) -> Any:
    """Fit ``estimator`` as scikit-learn's refit does, on up to ``n_threads`` cores where exact.

    Parameters
    ----------
    estimator : estimator
        The unfitted best candidate; fitted in place.
    X : array-like
        The whole training data.
    y : array-like or None
        The target; None for unsupervised estimators (``fit(X)`` is called).
    fit_params : mapping of str to object
        The estimator's routed fit parameters.
    n_threads : int
        Cores the fit may use (see :func:`refit_threads`).

    Returns
    -------
    estimator
        ``estimator``, fitted, with the same ``get_params()`` as before.
    """
    key = n_jobs_param(estimator)
    if key is None or n_threads <= 1:
        return _fit(estimator, X, y, fit_params)
    user_n_jobs = estimator.get_params()[key]
    if joblib.effective_n_jobs(user_n_jobs) >= n_threads:
        return _fit(estimator, X, y, fit_params)  # already as parallel as we would make it
    estimator.set_params(**{key: n_threads})
    try:
        return _fit(estimator, X, y, fit_params)
    finally:
        # The user's value: get_params() unchanged, and predictions in the user's order.
        estimator.set_params(**{key: user_n_jobs})


def _fit(estimator: Any, X: Any, y: Any, fit_params: Mapping[str, Any]) -> Any:
    """``fit`` as ``BaseSearchCV.fit`` calls it: without ``y`` when there is none."""
    if y is None:
        return estimator.fit(X, **fit_params)
    return estimator.fit(X, y, **fit_params)
