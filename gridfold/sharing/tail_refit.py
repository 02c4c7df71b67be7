"""Refit the leader on a worker that the search's tail leaves idle.

scikit-learn refits the best candidate after the last fold is scored, in the
caller (``sklearn/model_selection/_search.py``, ``BaseSearchCV.fit``). At the
end of a search on several workers, the last fits finish one by one and the
workers that are done wait: on 2 workers, up to one fit's time of a core. The
refit could run there, if only the best candidate were known.

It is known before the end often enough to bet on it. When a worker is idle
and nothing is left to start, gridfold refits *the leader so far* (the best
mean test score among the candidates whose every split has been scored) on
that worker. When the search ends:

* the leader has not changed: the driver waits for that refit (it started
  earlier than the caller's would) and the search takes it as its
  ``best_estimator_`` if scikit-learn's own rule picks the same candidate
  (the search checks; the guess never decides);
* the leader has changed: the speculative refit is stopped (its worker is
  killed, or its Dask task cancelled) and the caller refits as usual. The bet
  cost one idle worker's time and, for a process pool, a worker restart.

The refit in a worker must be the caller's refit bit for bit. It is fitted
as ``clone(estimator).set_params(**params).fit(X, y, **fit_params)`` on copies
of the study's data that keep their type, dtype and memory order, so only
two things could differ: a fit that draws from NumPy's global generator (the
worker's generator is not the caller's), and a fit whose result depends on the
threads it runs on (BLAS and OpenMP reductions: the caller's refit has every
core, a worker its share). Neither can be read off an arbitrary estimator, so
the refit is speculated only for estimators known to be free of both, by
exact class (not subclasses), alone or as the steps of a
:class:`~sklearn.pipeline.Pipeline` without ``memory`` or ``verbose``:

* the libsvm models (``SVC``, ``NuSVC``, ``SVR``, ``NuSVR``, ``OneClassSVM``;
  single-threaded C, no BLAS) with ``verbose=False``. ``BaseLibSVM.fit``
  (``sklearn/svm/_base.py``) draws one seed with
  ``check_random_state(self.random_state).randint(np.iinfo("i").max)``
  whatever the parameters, but libsvm uses it only for ``probability=True``'s
  internal cross-validation: with ``probability=False`` or a seeded
  ``random_state`` the model does not depend on the worker's generator. With
  ``random_state=None`` the caller's refit would have advanced the global
  generator by that one draw; the search makes the same draw when it takes the
  refit (:func:`replay_global_draws`), so the generator is left as
  scikit-learn leaves it;
* decision trees (``DecisionTreeClassifier``, ``DecisionTreeRegressor``) with a
  seeded ``random_state`` (an int, or a ``RandomState`` that the worker
  receives in the same state, as ``clone`` copies it);
* the scalers ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler`` and
  ``RobustScaler`` (NumPy reductions, no threads, no randomness).

Estimators with their own ``n_jobs`` are left out too: the caller's refit
gives them every core (:mod:`gridfold.refit`). Only process-based executors
speculate: a thread cannot be stopped when the bet is lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC, SVR, NuSVC, NuSVR, OneClassSVM
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from gridfold.tasks import RefitTask, Study, TaskResult

__all__ = ["TailRefit", "exact_in_a_worker", "replay_global_draws", "PLAIN"]

#: ``RefitTask.kind`` of one candidate fitted as the caller would fit it.
PLAIN = "plain"

_LIBSVM = (SVC, NuSVC, SVR, NuSVR, OneClassSVM)
_TREES = (DecisionTreeClassifier, DecisionTreeRegressor)
_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)


@dataclass(frozen=True)
class TailRefit:
    """Which candidate of ``model`` leads, to refit it at the search's tail.

    Parameters
    ----------
    model : int
        Index of the refitted model in the study.
    n_splits : int
        Splits per candidate: a candidate leads only once all are scored.
    metric : str or None
        The refit metric's key in a multimetric ``test_scores`` dict; None
        for one scorer (``test_scores`` is a float).
    """

    model: int
    n_splits: int
    metric: str | None = None

    def leader(self, study: Study, results: Sequence[TaskResult]) -> int | None:
        """The candidate with the best mean test score among the complete ones.

        Ties go to the lowest index, as ``best_index_``; a candidate with a
        non-finite score never leads. None when no candidate qualifies, or
        when the leader cannot be refitted exactly in a worker.
        """
        scores: dict[int, dict[int, float]] = {}
        for result in results:
            task = result.task
            if task.model == self.model:
                value = result.test_scores
                score = value if self.metric is None else value[self.metric]  # type: ignore[index]
                scores.setdefault(task.candidate, {})[task.split] = float(score)  # type: ignore[arg-type]
        best: tuple[float, int] | None = None
        for candidate, by_split in scores.items():
            if len(by_split) < self.n_splits:
                continue
            mean = float(np.mean([by_split[s] for s in sorted(by_split)]))
            if math.isfinite(mean) and (best is None or (mean, -candidate) > (best[0], -best[1])):
                best = (mean, candidate)
        if best is None:
            return None
        model = study.models[self.model]
        estimator = clone(model.estimator).set_params(**model.candidates[best[1]])
        return best[1] if exact_in_a_worker(estimator) else None

    def task(self, candidate: int) -> RefitTask:
        """The unit that refits ``candidate`` on the whole data."""
        return RefitTask(self.model, (candidate,), PLAIN)


def exact_in_a_worker(estimator: Any) -> bool:
    """Whether ``estimator``'s fit in a worker equals the caller's (module docstring)."""
    kind = type(estimator)
    if kind is Pipeline:
        return (
            estimator.memory is None
            and not estimator.verbose
            and all(
                step is None or step == "passthrough" or exact_in_a_worker(step)
                for _, step in estimator.steps
            )
        )
    if kind in _LIBSVM:
        seeded = estimator.random_state is not None
        # scikit-learn 1.9 deprecated the parameter: its default "deprecated" means False.
        probability = getattr(estimator, "probability", False) not in (False, "deprecated")
        return not estimator.verbose and (seeded or not probability)
    if kind in _TREES:
        return estimator.random_state is not None
    return kind in _SCALERS


def replay_global_draws(estimator: Any) -> None:
    """Draw from NumPy's global generator what the caller's fit of ``estimator`` would.

    Each libsvm model with ``random_state=None`` draws one seed in ``fit``;
    nothing else that :func:`exact_in_a_worker` accepts draws from it.
    """
    for _ in range(_global_draws(estimator)):
        np.random.mtrand._rand.randint(np.iinfo("i").max)


def _global_draws(estimator: Any) -> int:
    if type(estimator) is Pipeline:
        return sum(_global_draws(step) for _, step in estimator.steps)
    if type(estimator) in _LIBSVM and estimator.random_state is None:
        return 1
    return 0
