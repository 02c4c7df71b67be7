"""``search = "halving"`` models of a study file: ``HalvingGridSearchCV`` on the study's session.

Such a model is not part of the study's one :class:`~gridfold.tasks.Study`
(its rungs are known only as it runs): :func:`run_halving_model` runs
:class:`gridfold.HalvingGridSearchCV` on the study's splits, scorer and
options, on the session of the other models (the same pool and store; each
rung's progress bar says ``model: rung 2/4: 9 candidates x 5 splits``), and
returns a :class:`~gridfold.runner.ModelOutcome` whose ``cv_results`` are the
search's, ``iter`` and ``n_resources`` included. There is no refit: a study
file compares models.

Its :class:`HalvingOutcome` says which rows the leaderboard shows (each
candidate once, at the last rung it reached), the rung of each row, and the
search's ``best_index_`` (the best of the last rung, as scikit-learn picks it,
not the best score of any rung). Its best candidate's split scores are paired
with the other models' (same training and test rows) unless the resource is
``n_samples`` and the last rung used fewer rows than the data has: then each
split's test part is a subsample, and the verdict leaves the model out.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning

from gridfold.config import ModelConfig, StudyConfig
from gridfold.exceptions import ParameterError
from gridfold.lifecycle import Session
from gridfold.sharing.planner import content_key
from gridfold.tasks import FailureGroup, StudyData

__all__ = ["HalvingOutcome", "run_halving_model"]


@dataclass(frozen=True)
class HalvingOutcome:
    """What a halving model's ``cv_results`` rows mean.

    Attributes
    ----------
    rungs : tuple of int
        The rung (``iter``, from 0) of each row.
    n_rungs : int
        The search's ``n_iterations_``.
    last_rows : tuple of int
        Each candidate's row at the last rung it reached, in row order.
    best_row : int
        The search's ``best_index_``.
    paired : bool
        Whether the best candidate was scored on the study's whole splits.
    """

    rungs: tuple[int, ...]
    n_rungs: int
    last_rows: tuple[int, ...]
    best_row: int
    paired: bool


def run_halving_model(
    cfg: StudyConfig, mc: ModelConfig, data: StudyData, session: Session
) -> tuple[dict[str, Any], HalvingOutcome, tuple[FailureGroup, ...], int]:
    """Run one ``search = "halving"`` model: its ``cv_results_``, rows, failures and fits."""
    from gridfold.halving import HalvingGridSearchCV
    from gridfold.searchcv import OpenSession

    assert mc.halving is not None
    search = HalvingGridSearchCV(
        clone(mc.estimator),
        [dict(grid) for grid in mc.space],
        cv=list(data.splits),
        scoring=cfg.run.scoring,  # a name or None: prepare() refuses a list
        refit=False,
        error_score=cfg.run.error_score,
        return_train_score=cfg.run.return_train_score,
        **mc.halving.kwargs(),
    )
    search._gridfold_session = OpenSession(session, mc.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitFailedWarning)
        try:
            search.fit(data.X, data.y)
        except ValueError as exc:
            if "fits failed" not in str(exc):
                raise
            last = str(exc).strip().splitlines()[-1]
            raise ParameterError(
                f"model {mc.name!r}: every fit of one of its rungs failed, so halving cannot "
                f"choose ({last}). Expected at least one fit to succeed; fix: check the "
                'model\'s parameters, or set error_score = "raise" in [run] to see the '
                "traceback."
            ) from None
    for w in caught:  # anything but the failures the outcome reports, as the search warned
        if not issubclass(w.category, FitFailedWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    failures = tuple(_failure(str(w.message)) for w in caught if w.category is FitFailedWarning)
    results = search.cv_results_
    n_rows = len(results["params"])
    keys = [
        content_key(_without(p, mc.halving.resource), i) for i, p in enumerate(results["params"])
    ]
    # Twins (equal candidates) share a key: the best row is shown even if its twin is later.
    best = int(search.best_index_)
    last_rows = tuple(i for i in range(n_rows) if keys[i] not in keys[i + 1 :] or i == best)
    n_rows_data = len(data.y) if data.y is not None else len(data.X)
    paired = mc.halving.resource != "n_samples" or search.n_resources_[-1] >= n_rows_data
    outcome = HalvingOutcome(
        rungs=tuple(int(i) for i in results["iter"]),
        n_rungs=int(search.n_iterations_),
        last_rows=last_rows,
        best_row=best,
        paired=bool(paired),
    )
    return results, outcome, failures, n_rows * int(search.n_splits_)


def failed_fits(
    results: dict[str, Any], n_splits: int, error_score: float | str
) -> tuple[tuple[int, int], ...]:
    """``(row, split)`` of every fit scored ``error_score`` (NaN by default).

    The search keeps no tracebacks per fit: a fit that succeeded with a score
    equal to a numeric ``error_score`` counts as failed too, which only keeps
    it out of a paired test.
    """
    scores = np.column_stack([results[f"split{k}_test_score"] for k in range(n_splits)])
    if isinstance(error_score, str) or math.isnan(float(error_score)):
        hit = np.isnan(scores)
    else:
        hit = scores == float(error_score)
    return tuple((int(r), int(k)) for r, k in zip(*np.nonzero(hit), strict=True))


def _failure(message: str) -> FailureGroup:
    """scikit-learn's ``FitFailedWarning`` of one rung as a failure group."""
    head = message.strip().splitlines()[0] if message.strip() else "fits failed"
    count = int(head.split()[0]) if head.split() and head.split()[0].isdigit() else 1
    error = next((line.strip() for line in reversed(message.splitlines()) if line.strip()), head)
    return FailureGroup(error, count, message)


def _without(params: dict[str, Any], resource: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != resource}
