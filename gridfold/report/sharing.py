"""What sharing saved, in fits: counted from gridfold's plan of a study, nothing fitted.

:func:`plan_sharing` recomputes the units :func:`gridfold.sharing.planner.plan_units`
makes of every task of a study (sharing on, as ``gridfold run`` does by
default) for a number of workers, and counts per model:

- ``candidate_fits``: candidates x splits, the fits scikit-learn would run;
- ``fits_run``: the fits gridfold's plan runs for them. A unit of a path
  family (kNN ``n_neighbors``, Ridge ``alpha``, a forest's ``n_estimators``...)
  is one fit that answers all of its candidates on its split: it counts 1. A
  plain task counts 1. A ``"pipeline"`` unit counts one fit per candidate:
  its candidates fit their common prefix steps (and compute those steps'
  transforms) once, and their final steps may share a path fit too
  (:class:`~gridfold.sharing.base.PathFamily`, decided while the unit runs,
  on the transformed data), but no whole pipeline fit is claimed as avoided:
  for pipelines the count is a lower bound. Their candidate fits are counted
  apart, in ``prefix_shared_fits``;
- ``avoided``: ``candidate_fits - fits_run``, the whole fits sharing avoided.

The plan depends on the number of workers (with fewer units than workers the
planner cuts the largest units, which costs a fit per cut), so the count is
exact for a whole run on that many workers. What it does not know: the store
records neither whether a run was made with ``--no-share`` nor how a
resumed run's remaining fits were grouped, nor a shared unit that fell back
to plain fits after an error or a crash. The count is therefore what
gridfold's default plan shares, not a measurement of a particular run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gridfold.sharing.planner import plan_units
from gridfold.tasks import SharedTask, Study

__all__ = ["ModelSharing", "SharingPlan", "last_run_workers", "plan_sharing"]


@dataclass(frozen=True)
class ModelSharing:
    """One model's fits in gridfold's plan; see :mod:`gridfold.report.sharing`.

    Attributes
    ----------
    name : str
    candidate_fits : int
        Candidates x splits.
    fits_run : int
        Fits the plan runs: 1 per path-family unit, 1 per plain task, 1 per
        candidate of a pipeline unit.
    path_units : int
        Units of a path family (each one fit answering several candidates).
    prefix_shared_fits : int
        Candidate fits in pipeline units: they shared their common prefix
        steps (and maybe a final-step path fit), but each is still counted as
        a fit in ``fits_run``.
    families : tuple of str
        The path families (and ``"pipeline"``) of the model's shared units.
    """

    name: str
    candidate_fits: int
    fits_run: int
    path_units: int = 0
    prefix_shared_fits: int = 0
    families: tuple[str, ...] = ()

    @property
    def avoided(self) -> int:
        """Whole fits sharing avoided: ``candidate_fits - fits_run``."""
        return self.candidate_fits - self.fits_run


@dataclass(frozen=True)
class SharingPlan:
    """The per-model counts of :func:`plan_sharing`, and the workers they are for.

    Attributes
    ----------
    n_workers : int
        Workers the plan was made for.
    workers_recorded : bool
        True if ``n_workers`` is the study's last recorded run's; False if no
        run was recorded and 1 was assumed.
    models : tuple of ModelSharing
        In the study's order.
    """

    n_workers: int
    workers_recorded: bool
    models: tuple[ModelSharing, ...]

    @property
    def avoided(self) -> int:
        """Whole fits avoided over all models."""
        return sum(m.avoided for m in self.models)


def plan_sharing(study: Study, n_workers: int | None) -> SharingPlan:
    """Count, per model, the fits gridfold's default plan of ``study`` runs.

    Parameters
    ----------
    study : Study
        The prepared study (:attr:`gridfold.runner.PreparedStudy.study`).
    n_workers : int or None
        Workers to plan for: the study's last run's
        (:func:`last_run_workers`); None when no run was recorded, then 1.

    Returns
    -------
    SharingPlan
    """
    workers = 1 if n_workers is None else max(1, int(n_workers))
    n = len(study.models)
    fits = [0] * n
    path_units = [0] * n
    prefix = [0] * n
    kinds: list[list[str]] = [[] for _ in range(n)]
    for unit in plan_units(study, workers, share=True):
        if isinstance(unit, SharedTask):
            if unit.kind not in kinds[unit.model]:
                kinds[unit.model].append(unit.kind)
            if unit.kind == "pipeline":
                fits[unit.model] += len(unit.candidates)
                prefix[unit.model] += len(unit.candidates)
            else:
                fits[unit.model] += 1
                path_units[unit.model] += 1
        else:
            fits[unit.model] += 1
    models = tuple(
        ModelSharing(
            model.name,
            len(model.candidates) * study.n_splits,
            fits[m],
            path_units[m],
            prefix[m],
            tuple(kinds[m]),
        )
        for m, model in enumerate(study.models)
    )
    return SharingPlan(workers, n_workers is not None, models)


def last_run_workers(records: Sequence[object]) -> int | None:
    """``n_workers`` of the last ``"run"`` record (``store.run_records(label)``), or None."""
    from gridfold.store.base import RunRecord

    runs = [r for r in records if isinstance(r, RunRecord) and r.kind == "run"]
    return runs[-1].n_workers if runs else None
