"""Answer a search's refit while the folds run, when one shared fit can.

scikit-learn refits the best candidate on the whole data after the last fold
has been scored: the refit waits for the slowest fold, and on a small machine
the last round of folds leaves workers idle (5 folds on 2 workers: 3 rounds
for 2.5 rounds of work). When every candidate of a search lies on one path
whose views *are* the separately fitted estimators
(:meth:`~gridfold.sharing.base.PathFamily.refit_exact`: a seeded forest's
``n_estimators``, HGB's ``max_iter``), one fit of the largest value on the
whole data answers the refit of whichever candidate wins. gridfold then runs
that fit as one more unit of work, first in the queue (it is the longest: it
sees every row), and the search takes its view of the best candidate at the
end instead of fitting again.

It is planned only when it shortens the run, by a small cost model: a unit
costs ``rows x family.cost(values)`` (a fold's training rows; every row for
the refit); units are list-scheduled in submission order on the workers; the
early refit's makespan is compared with the plain schedule's plus the refit
after it, on every worker's core for a forest (:mod:`gridfold.refit`; near
linear, the trees are independent), on one otherwise. HGB's refit runs on
every core too (OpenMP) but gains far less from them: on 2 cores, ``python
benchmarks/hgb_profile.py`` measured 400 iterations on 2 threads at
0.69x-0.78x the time of one (a speed-up of 1.3-1.45). Counting 1 leans towards
refitting early; where the two plans are close it may pick the early one when
refitting after would be a few percent quicker (4 folds on 2 workers: 3.0
against 2.92 at a speed-up of 1.45). One worker, a resumed search with nothing
left to run, a grid that is not one path, a unit the model cannot cost: the
refit happens after the search, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridfold._sklearn import num_samples
from gridfold.cost import makespan
from gridfold.refit import n_jobs_param
from gridfold.sharing.base import PathFamily, families, path_family
from gridfold.sharing.planner import path_estimator, path_groups
from gridfold.sharing.tail_refit import PLAIN, replay_global_draws
from gridfold.tasks import RefitResult, RefitTask, SharedTask, Study, Task, Unit
from gridfold.warnings_replay import replay_warnings

__all__ = ["plan_refit", "makespan", "take_refit"]


def plan_refit(study: Study, model: int, units: Sequence[Unit], n_workers: int) -> RefitTask | None:
    """The refit of ``model`` to run first among ``units``, if that is exact and quicker.

    Parameters
    ----------
    study : Study
        The study whose ``model`` will be refitted on its whole data.
    model : int
        Index of that model in ``study.models``.
    units : sequence of Unit
        What is left to run (after the store and the planner).
    n_workers : int
        Units that run at once.

    Returns
    -------
    RefitTask or None
        None when the refit should wait for the search (see the module docstring).
    """
    if n_workers < 2 or not units:
        return None
    path = _refit_path(study, model)
    if path is None:
        return None
    fam, candidates, base = path
    costs = [_unit_cost(study, model, fam, unit) for unit in units]
    if any(c is None for c in costs):
        return None
    fold_costs = [c for c in costs if c is not None]
    values = [study.models[model].candidates[c][fam.param] for c in candidates]
    refit_cost = num_samples(study.data.X) * fam.cost(values)
    after_speedup = n_workers if n_jobs_param(base) is not None else 1
    early = makespan([refit_cost, *fold_costs], n_workers)
    after = makespan(fold_costs, n_workers) + refit_cost / after_speedup
    return RefitTask(model, candidates, fam.name) if early < after else None


def take_refit(result: RefitResult, candidate: int) -> tuple[Any, float] | None:
    """The refit of ``candidate`` that ``result`` holds, and the shared fit's seconds.

    The estimator is as a fit in the caller leaves it, and the fit's warnings
    are issued now, where the caller's own refit would issue them. None if
    ``result`` holds none (the shared fit failed, or did not answer
    ``candidate``): the caller then refits as usual.
    """
    if result.error is not None or candidate not in result.task.candidates:
        return None
    fitted = result.estimators[result.task.candidates.index(candidate)]
    if result.task.kind == PLAIN:
        view = fitted
        replay_global_draws(fitted)  # what the caller's own fit would have drawn
    else:
        view = path_family(result.task.kind).in_caller(fitted)
    replay_warnings(result.warnings)
    return view, result.fit_time


def _refit_path(study: Study, model: int) -> tuple[PathFamily, tuple[int, ...], Any] | None:
    """The family whose one fit on the whole data answers every candidate's refit exactly.

    A model with one candidate (a halving search's last rung, say) is a path
    of one value: its refit is certain, so fitting it early is a gain on its own.
    """
    m = study.models[model]
    everyone = range(len(m.candidates))
    n_rows = num_samples(study.data.X)
    for fam in families():
        if not isinstance(fam, PathFamily) or not fam.matches(m.estimator):
            continue
        if len(m.candidates) == 1:
            groups = _one_value(fam, m.estimator, m.candidates[0], n_rows)
        else:
            groups = path_groups(fam, m.estimator, m.candidates, everyone, n_rows)
        if len(groups) != 1 or len(groups[0]) != len(m.candidates):
            continue
        base = path_estimator(m.estimator, m.candidates[0], fam.param)
        if fam.refit_exact(base, [c[fam.param] for c in m.candidates]):
            return fam, tuple(groups[0]), base
    return None


def _one_value(fam: PathFamily, estimator: Any, candidate: dict[str, Any], n_rows: int) -> list:
    """``[[0]]`` if ``fam`` answers ``candidate`` alone exactly (a path of one value)."""
    if fam.param not in candidate:
        return []
    base = path_estimator(estimator, candidate, fam.param)
    if not fam.matches(base):
        return []
    return [[0]] if fam.partition(base, [candidate[fam.param]], n_rows) == [[0]] else []


def _unit_cost(study: Study, model: int, fam: PathFamily, unit: Unit) -> float | None:
    """``rows x fam.cost(values)`` for a fold unit of ``model``; None if it is something else."""
    if isinstance(unit, SharedTask) and unit.model == model and unit.kind == fam.name:
        cands = unit.candidates
    elif isinstance(unit, Task) and unit.model == model:
        cands = (unit.candidate,)
    else:
        return None
    values = [study.models[model].candidates[c][fam.param] for c in cands]
    return len(study.data.splits[unit.split][0]) * fam.cost(values)
