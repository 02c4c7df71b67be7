"""scikit-learn's callbacks (:mod:`sklearn.callback`) on gridfold's engine.

A search calls its callbacks' hooks for the same tasks as scikit-learn's:
the root ``fit`` task, the ``"search"`` task of ``_run_search``, one
``"candidate-split-evaluation"`` per candidate and split, and the
``"refit-with-best-params"`` task, with the same context tree, so a progress
bar or a logger sees the same hooks in the same numbers. Where the
evaluation hooks are called depends on what the callbacks need:

- **In the driver** (the usual case): no callback is to be propagated into
  the fitted estimators, so nothing needs to run beside the fit. Each
  evaluation's ``on_fit_task_begin`` and ``on_fit_task_end`` are called in
  the calling thread when its result arrives, with that split's training
  ``X``, ``y`` and ``sample_weight`` (sliced only if a hook asks for them).
  This works on every backend, for every callback, even one that keeps its
  record in a plain list, and for results read back from a store; and
  shared work (a path, a pipeline prefix) changes nothing the callbacks see.
- **Where the fit runs**: an auto-propagated callback
  (:class:`sklearn.callback.AutoPropagatedCallback`, within its
  ``max_propagation_depth``) also observes the inner estimator's own tasks,
  which happen inside its ``fit``. Then each fit calls scikit-learn's own
  ``_fit_and_score`` with its evaluation context, exactly as scikit-learn's
  search does, and every candidate is fitted on its own (a shared fit would
  not call the inner hooks once per candidate), refitted after the search.
  On worker processes the callbacks are copies, as with scikit-learn's loky
  backend: scikit-learn's own callbacks send their events back to the caller
  (``sklearn.callback._transport``).

A result read back from a store was not fitted again, so hooks inside its fit
do not run; its evaluation's own hooks do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.base import clone

from gridfold import _sklearn
from gridfold.tasks import StudyData, TaskResult

__all__ = ["FitCallbacks", "EvaluationHooks", "has_callbacks"]


def has_callbacks(search: Any) -> bool:
    """Whether callbacks were set on ``search`` (``set_callbacks``)."""
    return bool(getattr(search, "_skl_callbacks", None))


@dataclass(frozen=True)
class FitCallbacks:
    """What a worker needs to call the hooks around each fit of a model, as scikit-learn does.

    Attributes
    ----------
    caller : estimator
        The search: the ``estimator`` argument of every hook.
    contexts : tuple of CallbackContext
        One evaluation context per candidate and split, candidate-major.
    n_splits : int
        Splits per candidate.
    """

    caller: Any
    contexts: tuple[Any, ...]
    n_splits: int

    def context(self, candidate: int, split: int) -> Any:
        """The evaluation context of ``candidate`` on ``split``."""
        return self.contexts[candidate * self.n_splits + split]


class EvaluationHooks:
    """The evaluation contexts of one ``evaluate_candidates`` call, and who calls them.

    Parameters
    ----------
    search : BaseSearchCV
        The search being fitted.
    callback_ctx : CallbackContext
        The context ``_run_search`` passed to ``evaluate_candidates``.
    n_candidates, n_splits : int
        The call's candidates and splits.
    """

    def __init__(self, search: Any, callback_ctx: Any, n_candidates: int, n_splits: int) -> None:
        self.search = search
        self.n_splits = n_splits
        # Made up front and in scikit-learn's order (candidate-major), as its search does.
        self.contexts = tuple(
            callback_ctx.subcontext(task_name="candidate-split-evaluation", task_id=task_id)
            for task_id in range(n_candidates * n_splits)
        )
        self.in_workers = bool(_sklearn.callbacks_to_propagate(callback_ctx))

    def for_workers(self, uses_processes: bool) -> FitCallbacks:
        """The hooks to call around each fit where it runs (see the module docstring).

        On worker processes the search is sent as a copy without its
        ``store``, which belongs to the driver and is never pickled.
        """
        caller = self.search
        if uses_processes:
            caller = copy.copy(self.search)
            caller.store = None
        return FitCallbacks(caller, self.contexts, self.n_splits)

    def in_driver(
        self, estimator: Any, candidates: Sequence[Mapping[str, Any]], data: StudyData
    ) -> _DriverHooks:
        """An ``on_result`` callback that calls each evaluation's hooks when its result arrives.

        ``estimator`` and ``candidates`` are the study's model; ``data`` its data.
        """
        return _DriverHooks(self, estimator, candidates, data)


class _DriverHooks:
    """Calls an evaluation's begin and end hooks for each result, in the driver."""

    def __init__(
        self,
        hooks: EvaluationHooks,
        estimator: Any,
        candidates: Sequence[Mapping[str, Any]],
        data: StudyData,
    ) -> None:
        self.hooks = hooks
        self.estimator = estimator
        self.candidates = candidates
        self.X, self.y = data.X, data.y
        self.splits = data.splits
        self.fit_params = data.fit_params

    def __call__(self, result: TaskResult) -> None:
        task = result.task
        ctx = self.hooks.contexts[task.candidate * self.hooks.n_splits + task.split]
        train = self.splits[task.split][0]
        # Lazy: the hooks call these only if a callback asks for X, y or metadata.
        arguments = {
            "X": lambda: self._train_xy(task.candidate, train)[0],
            "y": lambda: self._train_xy(task.candidate, train)[1],
            "metadata": lambda: self._metadata(train),
        }
        search = self.hooks.search
        ctx.call_on_fit_task_begin(estimator=search, **arguments)
        ctx.call_on_fit_task_end(estimator=search, **arguments)

    def _train_xy(self, candidate: int, train: Any) -> tuple[Any, Any]:
        # Sliced as _fit_and_score slices it, for the candidate's own estimator.
        params = clone(dict(self.candidates[candidate]), safe=False)
        estimator = clone(self.estimator).set_params(**params)
        return _sklearn.safe_split(estimator, self.X, self.y, train)

    def _metadata(self, train: Any) -> dict[str, Any] | None:
        params = _sklearn.check_method_params(self.X, params=dict(self.fit_params), indices=train)
        weight = params.get("sample_weight")
        return None if weight is None else {"sample_weight": weight}
