"""Group a study's candidates into shared-work units without starving workers.

Grouping, per model and split:

- a plain estimator whose class a :class:`~gridfold.sharing.base.PathFamily`
  matches: candidates equal in every parameter but the family's path
  parameter form one group, which the family may partition further (kNN by
  resolved algorithm, say); groups of one stay plain tasks;
- a :class:`~sklearn.pipeline.Pipeline` with two or more candidates: one
  ``"pipeline"`` unit, evaluated as a trie of step parameters so each
  distinct prefix is fitted once (and its transforms computed once).

Parallelism: while there are fewer units than workers, the largest shared
unit is cut in two (a coarser plan would leave workers idle on a wide cluster).
Pipeline units are cut until there are two per worker, along prefix
boundaries where possible: distinct prefixes share little, while cutting a
path costs a second fit. Shared units, the longest, go first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import joblib
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from gridfold.sharing.base import PathFamily, families
from gridfold.tasks import Model, SharedTask, Study, Task, Unit

__all__ = [
    "plan_units",
    "path_groups",
    "path_estimator",
    "other_params_key",
    "content_key",
    "UNHASHABLE",
    "mutates_input",
]


def plan_units(
    study: Study, n_workers: int, share: bool = True, tasks: Sequence[Task] | None = None
) -> list[Unit]:
    """The units to run ``tasks`` (default: all of the study's), some grouped."""
    wanted = list(study.tasks()) if tasks is None else list(tasks)
    if not share or not wanted:
        return list(wanted)
    todo = set(wanted)
    shared: list[SharedTask] = []
    grouped: set[Task] = set()
    for m, model in enumerate(study.models):
        for s, (train, _) in enumerate(study.data.splits):
            for kind, cands in _model_groups(model, len(train), bool(study.data.fit_params)):
                left = tuple(c for c in cands if Task(m, c, s) in todo)  # a resumed study
                if len(left) < 2:
                    continue
                unit = SharedTask(m, left, s, kind)
                shared.append(unit)
                grouped.update(unit.tasks())
    plain = [t for t in wanted if t not in grouped]  # in the study's own order
    return [*_widen(shared, n_workers, len(plain)), *plain]


def _model_groups(
    model: Model, n_train: int, has_fit_params: bool
) -> list[tuple[str, tuple[int, ...]]]:
    estimator = model.estimator
    if model.continuation is not None:  # each fit continues its own start
        return []
    if type(estimator) is Pipeline:
        # Routing fit params through a split pipeline is not worth the risk: fit plainly.
        if has_fit_params or len(model.candidates) < 2 or len(estimator.steps) < 2:
            return []
        if mutates_input(estimator.get_params(deep=True)) or any(
            mutates_input(c) for c in model.candidates
        ):
            return []
        final = estimator.steps[-1][0]

        def prefix_key(c: int) -> str:
            # Candidates with the same prefix stay together when a unit is cut.
            cand = model.candidates[c]
            return content_key({k: v for k, v in cand.items() if k.split("__")[0] != final}, c)

        return [("pipeline", tuple(sorted(range(len(model.candidates)), key=prefix_key)))]
    return [
        (fam.name, tuple(group))
        for fam in families()
        if isinstance(fam, PathFamily) and fam.matches(estimator)
        for group in path_groups(
            fam, estimator, model.candidates, range(len(model.candidates)), n_train
        )
    ]


#: How :func:`content_key` starts the key of what it cannot hash.
UNHASHABLE = "unhashable-"


def content_key(obj: Any, fallback: object) -> str:
    """A content hash of ``obj``; for what cannot be hashed (a lambda), a key of its own.

    Candidates with unhashable settings are then simply not shared. Such a key
    (:data:`UNHASHABLE` and ``fallback``) names no content: never match it
    across calls.
    """
    try:
        return str(joblib.hash(obj))
    except Exception:  # noqa: BLE001 - joblib.hash pickles; anything may fail to
        return f"{UNHASHABLE}{fallback!r}"


def other_params_key(candidate: dict[str, Any], param: str, fallback: object = None) -> str:
    """A content hash of every parameter of ``candidate`` but ``param``."""
    return content_key({k: v for k, v in candidate.items() if k != param}, fallback)


def mutates_input(params: dict[str, Any]) -> bool:
    """Whether any (nested) estimator in ``params`` may change its input in place.

    A pipeline step with ``copy=False`` changes the training array it was fitted
    on, and scikit-learn then scores train scores on the changed array; the
    trie's shared arrays cannot reproduce that, so such pipelines fit plainly.
    """
    for key, value in params.items():
        if key.rsplit("__", 1)[-1] in ("copy", "copy_X") and value is False:
            return True
        if hasattr(value, "get_params") and mutates_input(value.get_params(deep=True)):
            return True
    return False


def path_groups(
    fam: Any,
    estimator: Any,
    candidates: Sequence[dict[str, Any]],
    indices: Sequence[int],
    n_train: int,
) -> list[list[int]]:
    """Groups (of two or more candidate indices) that one ``fam`` fit answers."""
    by_rest: dict[str, list[int]] = {}
    for i in indices:
        if fam.param in candidates[i]:
            by_rest.setdefault(other_params_key(candidates[i], fam.param, i), []).append(i)
    groups: list[list[int]] = []
    for members in by_rest.values():
        if len(members) < 2:
            continue
        base = path_estimator(estimator, candidates[members[0]], fam.param)
        if not fam.matches(base):  # a candidate may swap the estimator's class
            continue
        values = [candidates[i][fam.param] for i in members]
        for part in fam.partition(base, values, n_train):
            if len(part) >= 2:
                groups.append([members[j] for j in part])
    return groups


def path_estimator(estimator: Any, candidate: dict[str, Any], param: str) -> Any:
    """A clone of ``estimator`` with every setting of ``candidate`` but the path's ``param``:
    what one path fit starts from, for every candidate of its group."""
    rest = {k: v for k, v in candidate.items() if k != param}
    return clone(estimator).set_params(**clone(rest, safe=False))


def _widen(shared: list[SharedTask], n_workers: int, n_plain: int) -> list[SharedTask]:
    def wanted(unit: SharedTask) -> int:
        return n_workers * (2 if unit.kind == "pipeline" else 1)

    units = sorted(shared, key=lambda u: -len(u.candidates))
    while units and len(units) + n_plain < wanted(units[0]) and len(units[0].candidates) > 1:
        big = units.pop(0)
        half = len(big.candidates) // 2
        for part in (big.candidates[:half], big.candidates[half:]):
            units.append(SharedTask(big.model, part, big.split, big.kind))
        units.sort(key=lambda u: -len(u.candidates))
    return units
