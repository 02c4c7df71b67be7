"""How long each unit of work will take, and the order that ends a study soonest.

A study's wall time on N workers is set by its tail: in scikit-learn's order
(candidate by candidate, split by split) the slowest candidates of a grid
often come last (an SVC's largest ``C``, a forest's most trees), and their
folds then run in a last round that leaves workers idle. Dispatching the
longest units first (LPT, Graham 1969) bounds the makespan within 4/3 of the
optimum; it needs each unit's cost before it runs. This module gives it:

- a **prior** per unit (:func:`prior_seconds`): training rows, features and
  the parameters that scale a fit (``n_estimators``, ``max_iter``, ``C``,
  ``n_neighbors``, kernel, depth), per estimator family, in seconds of a
  reference core; an estimator it does not know costs :data:`UNKNOWN_FIT`
  per fit. The prior only has to rank units of one model roughly right;
- **measurements** (:class:`CostModel`): once a unit of a *group* (a unit
  without its split: one candidate, or one shared group of candidates) has
  run, its seconds predict the group's other splits (the splits differ by a
  row or so); the ratio of measured to prior seconds of a model's measured
  groups calibrate the prior of its other groups (and, until a model has any,
  every model's measurements calibrate it: the machine's speed);
- the **order** (:class:`LPTQueue`): first one unit ("probe") of each group,
  longest predicted first, so that measurements of every group arrive early,
  then the rest longest predicted first, re-sorted as measurements arrive.
  Probing first bounds the harm of a wrong prior: a group the prior thought
  cheap is measured in the first round, long before the tail, instead of
  being found out when its last folds start. A unit already first in the
  queue (the early refit, :mod:`gridfold.sharing.early_refit`) and units put
  back after a lost worker keep their place in front.

Order never changes a result: every unit yields results for its own tasks,
and ``cv_results_`` are assembled by task identity
(:func:`gridfold.tasks.results_by_model`).
"""

from __future__ import annotations

import heapq
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridfold._sklearn import num_samples
from gridfold.tasks import RefitTask, SharedTask, Study, Task, TaskResult, Unit

__all__ = [
    "CostModel",
    "LPTQueue",
    "Plan",
    "group_key",
    "lpt_order",
    "makespan",
    "plan_study",
    "prior_seconds",
    "UNKNOWN_FIT",
]

#: Prior seconds of one fit of an estimator the model does not know. Only its
#: ratio to other models' priors matters before the first measurement arrives
#: (a study of one unknown model is ordered by measurements alone).
UNKNOWN_FIT = 0.01

# Per-row, per-feature seconds of one reference core (this project's 2-core
# machine), fitted by hand to single fits timed there (see the report of the
# cost-order branch): rough by design, since measurements replace them.
_SVM = 2e-9  # libsvm: ~ n_train^2 x sqrt(d) at C=1
_TREE = 1.5e-7  # one CART tree: ~ n log2 n x d
_LINEAR = 2e-8  # an iterative linear solver: ~ n x d per 100 iterations
_GRAM = 2e-10  # Ridge & co.: ~ n x d^2
_KNN = 4e-10  # brute-force neighbours: ~ n_test x n_train x d
_HGB = 4e-9  # one boosting iteration of a histogram GBDT: ~ n x d
_PER_FIT = 0.002  # what every fit costs on top: clone, validation, scoring calls


def prior_seconds(
    estimator: Any, params: Mapping[str, Any], n_train: int, n_test: int, n_features: int
) -> float:
    """Prior seconds of one fit and scoring of ``estimator`` with ``params``.

    Parameters
    ----------
    estimator : estimator
        The (unfitted) estimator; its class and ``get_params(deep=False)``
        are read, never changed.
    params : mapping
        The candidate's parameters, which override the estimator's own.
    n_train, n_test : int
        Training and test rows of the split.
    n_features : int
        Columns of ``X``.

    Returns
    -------
    float
        Seconds of a reference core; :data:`UNKNOWN_FIT` per fit for an
        estimator this function does not know. Rough by design: it has to
        rank one model's candidates, and measured times replace it.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        total = 0.0
        for name, step in estimator.steps:
            if step is None or step == "passthrough":
                continue
            prefix = name + "__"
            sub = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
            step = params.get(name, step)
            total += prior_seconds(step, sub, n_train, n_test, n_features)
        return total
    try:
        merged = {**estimator.get_params(deep=False), **params}
    except Exception:  # noqa: BLE001 - a third-party estimator may not follow the API
        return UNKNOWN_FIT
    formula = _formula(type(estimator).__name__)
    if formula is None:
        return UNKNOWN_FIT
    n, t, d = max(n_train, 1), max(n_test, 1), max(n_features, 1)
    return _PER_FIT + formula(merged, n, t, d)


def _number(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default  # "auto", None, a distribution: the estimator's default scale
    return float(value)


def _svm(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    # libsvm's iterations grow with C on noisy data (more bounded support vectors to
    # settle): flat below C~1, then roughly sqrt(C). Scoring is n_sv x n_test x d.
    c = _number(p, "C", 1.0)
    kernel_factor = 0.5 if p.get("kernel") == "linear" else 1.0
    fit = _SVM * n * n * math.sqrt(d) * kernel_factor * (1.0 + math.sqrt(max(c, 0.0) / 10.0))
    return fit + _SVM * 0.5 * n * t * math.sqrt(d)


def _forest(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    trees = _number(p, "n_estimators", 100.0)
    features = math.sqrt(d) if p.get("max_features", "sqrt") in ("sqrt", "auto") else d
    return trees * _tree_cost(p, n, features) * 0.6  # bootstrap: ~63% distinct rows


def _tree(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    return _tree_cost(p, n, d)


def _tree_cost(p: Mapping[str, Any], n: float, d: float) -> float:
    depth = p.get("max_depth")
    full = math.log2(n + 1)
    levels = min(float(depth), full) if isinstance(depth, int | float) else full
    splitter = 0.3 if p.get("splitter") == "random" else 1.0
    return _TREE * n * levels * d * splitter


def _boosting(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    stages = _number(p, "n_estimators", 100.0)
    return stages * _tree_cost({"max_depth": p.get("max_depth", 3)}, n, d)


def _hgb(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    return _number(p, "max_iter", 100.0) * (_HGB * n * d + 2e-4)


def _linear_iterative(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    iterations = min(_number(p, "max_iter", 100.0), 1000.0)
    c = _number(p, "C", 1.0)
    return _LINEAR * n * d * iterations / 100.0 * (1.0 + math.log10(max(c, 1.0)))


def _gram(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    return _GRAM * n * d * min(n, d) + _GRAM * n * d


def _knn(p: Mapping[str, Any], n: float, t: float, d: float) -> float:
    k = _number(p, "n_neighbors", 5.0)
    return _KNN * t * n * d * (1.0 + math.log2(max(k, 1.0)) / 10.0) + 1e-8 * n * d


_FORMULAS: dict[str, Callable[[Mapping[str, Any], float, float, float], float]] = {
    "SVC": _svm,
    "NuSVC": _svm,
    "SVR": _svm,
    "NuSVR": _svm,
    "OneClassSVM": _svm,
    "RandomForestClassifier": _forest,
    "RandomForestRegressor": _forest,
    "ExtraTreesClassifier": _forest,
    "ExtraTreesRegressor": _forest,
    "DecisionTreeClassifier": _tree,
    "DecisionTreeRegressor": _tree,
    "ExtraTreeClassifier": _tree,
    "ExtraTreeRegressor": _tree,
    "GradientBoostingClassifier": _boosting,
    "GradientBoostingRegressor": _boosting,
    "HistGradientBoostingClassifier": _hgb,
    "HistGradientBoostingRegressor": _hgb,
    "LogisticRegression": _linear_iterative,
    "LinearSVC": _linear_iterative,
    "LinearSVR": _linear_iterative,
    "SGDClassifier": _linear_iterative,
    "SGDRegressor": _linear_iterative,
    "Lasso": _linear_iterative,
    "ElasticNet": _linear_iterative,
    "Ridge": _gram,
    "RidgeClassifier": _gram,
    "LinearRegression": _gram,
    "PCA": _gram,
    "StandardScaler": lambda p, n, t, d: 1e-8 * (n + t) * d,
    "KNeighborsClassifier": _knn,
    "KNeighborsRegressor": _knn,
}


def _formula(name: str) -> Callable[[Mapping[str, Any], float, float, float], float] | None:
    return _FORMULAS.get(name)


def group_key(unit: Unit) -> Hashable:
    """The unit without its split: units of one group differ only in their rows.

    One candidate for a :class:`~gridfold.tasks.Task`; the candidates and what
    they share for a :class:`~gridfold.tasks.SharedTask`; a refit is a group
    of its own.
    """
    if isinstance(unit, Task):
        return (unit.model, unit.candidate)
    if isinstance(unit, SharedTask):
        return (unit.model, unit.candidates, unit.kind)
    return ("refit", unit.model, unit.candidates, unit.kind)


class CostModel:
    """Predicted seconds per unit of a study: a prior, refined by measured units.

    Parameters
    ----------
    study : Study
        The study whose units are costed.
    scale : float, default=1.0
        Seconds per prior second before any unit has been measured (a
        calibration of the prior to this machine, see :func:`plan_study`).

    Notes
    -----
    Predictions, most specific first: the mean measured seconds of the
    unit's group; else its prior mapped through the model's calibration, a
    power law ``seconds = a * prior**b`` fitted by least squares in log-log
    space to the model's measured units (:class:`_Calibration`); else the
    same fitted to every model's measured units; else its prior times
    ``scale``. The exponent corrects a prior whose shape is off (an SVC's
    cost grows with ``C`` more or less steeply depending on the data's
    noise): with two probes, the median and the costliest candidate, the
    line through them predicts the candidates between.
    A shared unit's prior is its costliest candidate's (one fit at the
    path's largest value) plus a tenth of the others' (their scoring); a
    pipeline unit's is the sum of its candidates' halves (prefixes shared).
    """

    def __init__(self, study: Study, scale: float = 1.0) -> None:
        self.study = study
        self.scale = scale
        n_features = _n_features(study.data.X)
        self._rows = [(len(tr), len(te), n_features) for tr, te in study.data.splits]
        self._all_rows = (num_samples(study.data.X), 0, n_features)  # the refit's
        self._candidate_prior: dict[tuple[int, int, int], float] = {}
        self._prior: dict[tuple[Hashable, int], float] = {}
        self._measured: dict[Hashable, tuple[float, int]] = {}  # group -> (seconds, units)
        self._by_model: dict[int, _Calibration] = {}
        self._overall = _Calibration()

    def prior(self, unit: Unit) -> float:
        """The unit's prior seconds (reference core, before any scaling)."""
        split = -1 if isinstance(unit, RefitTask) else unit.split
        key = (group_key(unit), split)
        cached = self._prior.get(key)
        if cached is None:
            cached = self._prior[key] = self._unit_prior(unit, split)
        return cached

    def _unit_prior(self, unit: Unit, split: int) -> float:
        if isinstance(unit, Task):
            return self._candidate(unit.model, unit.candidate, split)
        costs = sorted(
            (self._candidate(unit.model, c, split) for c in unit.candidates), reverse=True
        )
        if isinstance(unit, SharedTask) and unit.kind == "pipeline":
            return sum(costs) / 2.0
        return costs[0] + sum(costs[1:]) / 10.0

    def _candidate(self, model: int, candidate: int, split: int) -> float:
        key = (model, candidate, split)
        cost = self._candidate_prior.get(key)
        if cost is None:
            m = self.study.models[model]
            n_train, n_test, d = self._rows[split] if split >= 0 else self._all_rows
            cost = prior_seconds(m.estimator, m.candidates[candidate], n_train, n_test, d)
            self._candidate_prior[key] = cost
        return cost

    def predict(self, unit: Unit) -> float:
        """Predicted seconds of ``unit`` (see the class notes for where they come from)."""
        measured = self._measured.get(group_key(unit))
        if measured is not None:
            return measured[0] / measured[1]
        return self.calibrated(unit.model, self.prior(unit))

    def calibrated(self, model: int, prior: float) -> float:
        """Seconds that ``prior`` (prior seconds of a unit of ``model``) maps to."""
        for calibration in (self._by_model.get(model), self._overall):
            if calibration is not None and calibration.n:
                return calibration(prior)
        return prior * self.scale

    def measured(self, unit: Unit) -> bool:
        """Whether a unit of ``unit``'s group has been measured."""
        return group_key(unit) in self._measured

    def observe(self, unit: Unit, seconds: float) -> None:
        """Record that ``unit`` took ``seconds`` (fit and scoring, in its worker)."""
        if not seconds >= 0 or isinstance(unit, RefitTask):
            return  # NaN (a lost timing) teaches nothing; a refit is a group of one
        group = group_key(unit)
        total, count = self._measured.get(group, (0.0, 0))
        self._measured[group] = (total + seconds, count + 1)
        prior = self.prior(unit)
        self._by_model.setdefault(unit.model, _Calibration()).add(prior, seconds)
        self._overall.add(prior, seconds)


class _Calibration:
    """``seconds = a * prior**b``, fitted to (prior, seconds) pairs in log-log space.

    One pair gives ``b = 1`` (a ratio). More pairs fit the exponent by least
    squares, shrunk towards 1 by :attr:`SHRINK` (points a factor ``e`` apart
    in prior weigh as much as the shrinkage): close priors' noise should not
    tilt the line. The exponent is clipped to :attr:`EXPONENTS`, which bounds
    extrapolation beyond the measured range. Sums only: O(1) per point and per
    prediction, as the queue re-sorts with it.
    """

    SHRINK = 1.0
    EXPONENTS = (0.25, 4.0)
    #: Seconds below this are timer noise; flooring them keeps the logarithm finite.
    FLOOR = 1e-6

    def __init__(self) -> None:
        self.n = 0
        self._sx = self._sy = self._sxx = self._sxy = 0.0

    def add(self, prior: float, seconds: float) -> None:
        x, y = math.log(max(prior, self.FLOOR)), math.log(max(seconds, self.FLOOR))
        self.n += 1
        self._sx += x
        self._sy += y
        self._sxx += x * x
        self._sxy += x * y

    def __call__(self, prior: float) -> float:
        mx, my = self._sx / self.n, self._sy / self.n
        sxx = max(self._sxx - self.n * mx * mx, 0.0)  # n x variance
        sxy = self._sxy - self.n * mx * my  # n x covariance
        b = min(
            max((sxy + self.SHRINK) / (sxx + self.SHRINK), self.EXPONENTS[0]), self.EXPONENTS[1]
        )
        return math.exp(my + b * (math.log(max(prior, self.FLOOR)) - mx))


def _n_features(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 1:
        return int(shape[1])
    try:
        return len(X[0])
    except Exception:  # noqa: BLE001 - text, a list of dicts...: one "feature"
        return 1


class LPTQueue:
    """The units still to run, in the order that dispatches them: see the module docstring.

    Parameters
    ----------
    units : sequence of Unit
        What to run. A leading :class:`~gridfold.tasks.RefitTask` keeps its place.
    cost : CostModel
        Predicts each unit's seconds; :meth:`observe` feeds it.
    clock : callable, default=time.perf_counter
        For the re-sort throttle (tests pass a fake one).
    reorder : bool, default=True
        False keeps ``units``' order (the driver's choice for one worker, where
        order cannot shorten the run, and where scikit-learn's sequential
        order is what a seedless estimator's draws from NumPy's global
        generator depend on).

    Notes
    -----
    Re-sorting costs one prediction per queued unit. It runs only after a
    measurement changed some prediction, and at most once per
    :attr:`RESORT_SPACING` times the last re-sort's duration, so it takes at
    most about 1/RESORT_SPACING of the driver's time, even on a study of tens
    of thousands of tiny fits (``python benchmarks/driver_rate.py``).
    """

    #: A re-sort waits at least this many times its own last duration after the previous.
    RESORT_SPACING = 20.0

    def __init__(
        self,
        units: Sequence[Unit],
        cost: CostModel,
        clock: Callable[[], float] = time.perf_counter,
        reorder: bool = True,
    ) -> None:
        self.cost = cost
        self._clock = clock
        self.front: deque[Unit] = deque()
        rest = list(units)
        while rest and isinstance(rest[0], RefitTask):
            self.front.append(rest.pop(0))
        self._reorder = reorder
        if not reorder:
            self._index: dict[Unit, int] = {}
            self._probes: list[Unit] = []
            self._rest = rest[::-1]  # popped from the end: in the given order
            self._dirty = False
            self._next_sort = math.inf
            return
        self._index = {unit: i for i, unit in enumerate(rest)}  # study order breaks ties
        probes: dict[Hashable, Unit] = {}
        for unit in rest:
            probes.setdefault(group_key(unit), unit)
        probe_set = set(probes.values())
        self._probes = [u for u in rest if u in probe_set]
        self._rest = [u for u in rest if u not in probe_set]
        self._dirty = True
        self._next_sort = -math.inf
        self._sort()

    def __len__(self) -> int:
        return len(self.front) + len(self._probes) + len(self._rest)

    def __bool__(self) -> bool:
        return bool(self.front or self._probes or self._rest)

    def peek(self) -> Unit:
        """The next unit, without taking it."""
        self._maybe_sort()
        if self.front:
            return self.front[0]
        return self._probes[-1] if self._probes else self._rest[-1]

    def popleft(self) -> Unit:
        """Take the next unit."""
        self._maybe_sort()
        if self.front:
            return self.front.popleft()
        return self._probes.pop() if self._probes else self._rest.pop()

    def push_front(self, units: Iterable[Unit]) -> None:
        """Put ``units`` back in front, in their order (a lost worker's, a retry)."""
        self.front.extendleft(reversed(list(units)))

    def observe(self, unit: Unit, seconds: float) -> None:
        """Record a measured unit; predictions change, so the queue will re-sort."""
        first = not self.cost.measured(unit)
        self.cost.observe(unit, seconds)
        # A second measurement of a group moves its mean a little and the model's
        # ratio hardly: only a new group's first measurement is worth a re-sort.
        self._dirty = self._dirty or (first and self._reorder)

    def _maybe_sort(self) -> None:
        if self._dirty and self._clock() >= self._next_sort:
            self._sort()

    def _sort(self) -> None:
        start = self._clock()
        predict, index = self.cost.predict, self._index
        # Ascending, popped from the end: longest first, study order among equals.
        for queue in (self._probes, self._rest):
            queue.sort(key=lambda u: (predict(u), -index.get(u, 0)))
        self._dirty = False
        end = self._clock()
        self._next_sort = end + self.RESORT_SPACING * (end - start)


def lpt_order(units: Sequence[Unit], cost: CostModel) -> list[Unit]:
    """The order in which :class:`LPTQueue` would dispatch ``units`` if no measurement came."""
    queue = LPTQueue(units, cost)
    return [queue.popleft() for _ in range(len(queue))]


def makespan(costs: Sequence[float], n_workers: int) -> float:
    """When the last of ``costs`` ends, each started in order on the first free worker.

    Parameters
    ----------
    costs : sequence of float
        Seconds of each unit, in dispatch order.
    n_workers : int
        Units that run at once.

    Returns
    -------
    float
    """
    free_at = [0.0] * max(1, n_workers)
    for cost in costs:
        heapq.heapreplace(free_at, free_at[0] + cost)
    return max(free_at)


@dataclass(frozen=True)
class Plan:
    """What :func:`plan_study` predicts for a study on ``n_workers`` workers.

    Attributes
    ----------
    n_fits : int
        Candidate fits (tasks) the study needs.
    n_units : int
        Units of work they form (shared fits grouped).
    n_workers : int
        Workers the prediction is for.
    total_seconds : float
        Predicted work: the sum of every unit's predicted seconds.
    wall_seconds : float
        Predicted wall time: the units list-scheduled in dispatch order
        (:func:`lpt_order`) on ``n_workers`` workers, plus ``overhead_seconds``.
    longest_seconds : float
        The longest unit's predicted seconds.
    probes : int
        Units fitted to calibrate the prior (0: the prior alone).
    probe_seconds : float
        What fitting them took.
    overhead_seconds : float
        The part of ``wall_seconds`` spent around the units (:data:`STUDY_FIXED`,
        :data:`STUDY_PER_MB`).
    """

    n_fits: int
    n_units: int
    n_workers: int
    total_seconds: float
    wall_seconds: float
    longest_seconds: float
    probes: int = 0
    probe_seconds: float = 0.0
    overhead_seconds: float = 0.0

    @property
    def lower_bound(self) -> float:
        """No order beats ``max(longest unit, total work / workers)``."""
        return max(self.longest_seconds, self.total_seconds / max(1, self.n_workers))


#: Seconds a worker spends per unit besides its fit and scoring (dispatch, pickling the
#: result, the driver's bookkeeping): ``python benchmarks/tiny_profile.py``.
UNIT_OVERHEAD = 0.0003
#: How much slower a fit runs beside another on this 2-core machine than alone (the
#: probe fits alone). It depends on the fit: 1.02 for ``wine`` trees
#: (``python benchmarks/parallel_limit.py``), ~1.17 for an RBF SVC on (2000, 40) and
#: ~1.5 for memory-bound Gram matrices and neighbour queries (``cv_results_`` fit times
#: of ``n_jobs=1`` against ``n_jobs=-1``). 1.1 centres the plan/measured ratios of
#: ``python benchmarks/run.py``'s grids over runs here, whose probes alone vary by
#: +-20% from run to run (the same probe fits took 4.4, 5.4 and 5.0 s of work).
PARALLEL_SLOWDOWN = 1.1
#: What a study costs on a warm pool besides its units: dispatch and collection
#: (fixed), and writing the data where workers map it and their first touch of its
#: pages (per MB of X). ``python benchmarks/study_overhead.py`` fits both on this machine.
STUDY_FIXED = 0.015
STUDY_PER_MB = 0.0015
#: Seconds a new process pool takes to start its workers (each imports scikit-learn):
#: 2.9-4.2 s for 2 workers on this machine under other load, ~2 s idle. A CLI run pays
#: it; a search in a Python session that already ran one reuses its pool.
POOL_STARTUP = 2.5


def plan_study(
    study: Study,
    n_workers: int,
    *,
    share: bool = True,
    probe_budget: float = 0.0,
    refit_model: int | None = None,
    tasks: Sequence[Task] | None = None,
) -> Plan:
    """Predict a study's work and its wall time on ``n_workers`` workers.

    Parameters
    ----------
    study : Study
        The study to plan.
    n_workers : int
        Workers it would run on.
    share : bool, default=True
        Group shared work as a run would (:func:`gridfold.sharing.planner.plan_units`).
    probe_budget : float, default=0.0
        Seconds to spend fitting units here, one thread, to calibrate the prior to
        this machine and these data (:func:`_probe`): after a warm-up, per model its
        median-prior unit, then its costliest and others while the measurements
        predict that they fit in what is left of the budget (and of the predicted
        work). 0: the prior alone (seconds of the reference core).
    refit_model : int, default=None
        A model a search refits afterwards: planned as a run plans it, the
        refit one more unit first when that ends sooner
        (:mod:`gridfold.sharing.early_refit`); else not counted.
    tasks : sequence of Task, default=None
        The fits still to run (a resumed study's: those its store lacks);
        default: all of the study's.

    Returns
    -------
    Plan
    """
    from gridfold.sharing.planner import plan_units

    units: list[Unit] = plan_units(study, n_workers, share, tasks=tasks)
    if share and refit_model is not None:
        from gridfold.sharing.early_refit import plan_refit

        refit = plan_refit(study, refit_model, units, n_workers)
        units = units if refit is None else [refit, *units]
    cost = CostModel(study)
    probes, spent = _probe(study, units, cost, probe_budget) if probe_budget > 0 else (0, 0.0)
    slowdown = PARALLEL_SLOWDOWN if n_workers > 1 else 1.0
    order = lpt_order(units, cost)
    seconds = [cost.predict(u) * slowdown + UNIT_OVERHEAD for u in order]
    # Workers map the data from a file the driver writes (one process works in place).
    around = 0.0
    if units:
        around = STUDY_FIXED + (STUDY_PER_MB * _megabytes(study) if n_workers > 1 else 0.0)
    return Plan(
        n_fits=sum(
            1 if isinstance(u, Task) else len(u.candidates)
            for u in units
            if not isinstance(u, RefitTask)
        ),
        n_units=len(units),
        n_workers=n_workers,
        total_seconds=sum(seconds),
        wall_seconds=makespan(seconds, n_workers) + around,
        longest_seconds=max(seconds, default=0.0),
        probes=probes,
        probe_seconds=spent,
        overhead_seconds=around,
    )


def _megabytes(study: Study) -> float:
    """Megabytes of the study's X and y (what a pool's workers map)."""
    arrays = (study.data.X, study.data.y)
    return sum(float(getattr(a, "nbytes", 0)) for a in arrays) / 1e6


def _probe(
    study: Study, units: Sequence[Unit], cost: CostModel, budget: float
) -> tuple[int, float]:
    """Fit units in this process (one thread), feeding ``cost``: see :func:`plan_study`.

    First, per model, its median unit, its costliest and :data:`PROBE_SPREAD` more
    spread over its prior's range (the exponent's calibration). Then more units, one
    model at a time in turn and spread evenly over each ranking, while the budget and
    :data:`PROBE_SHARE` of the predicted work allow: single fits here vary by +-20%
    from moment to moment, and more of them average that out.
    """
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    by_model: dict[int, list[Unit]] = {}
    for unit in units:
        if not isinstance(unit, RefitTask):
            by_model.setdefault(unit.model, []).append(unit)
    picks = {m: deque(_probe_picks(sorted(us, key=cost.prior))) for m, us in by_model.items()}
    n = 0

    def probe(model: int, limit: float, first: bool) -> bool:
        nonlocal n
        unit = picks[model][0]
        left = limit - (time.perf_counter() - start)
        predicted = cost.predict(unit)
        if not first and predicted * _repeats(predicted) > left:
            return False
        picks[model].popleft()
        cost.observe(unit, _timed(study, unit))
        n += 1
        return True

    with threadpool_limits(1):  # as in a worker: workers x threads <= cores
        # Fits right after idle run up to 2x slower here for a second or more (the same
        # SVC fit: 0.29 s, then 0.13 s), and a process's first fits pay one-off costs
        # (imports, caches): fit the cheapest unit until both have passed, unmeasured.
        cheapest = min((u for us in by_model.values() for u in us), key=cost.prior, default=None)
        warm_until = time.perf_counter() + min(PROBE_WARMUP, budget / 5)
        while cheapest is not None and time.perf_counter() < warm_until:
            _unit_seconds(study, cheapest)
        for model in picks:
            for pick in range(min(len(picks[model]), 2 + PROBE_SPREAD)):
                if not probe(model, budget, first=pick == 0):
                    break
        work = sum(cost.predict(u) for u in units)
        limit = min(budget, PROBE_SHARE * work)
        active = [m for m in picks if picks[m]]
        while active and time.perf_counter() - start < limit:
            active = [m for m in active if picks[m] and probe(m, limit, first=False)]
    return n, time.perf_counter() - start


#: Seconds of unmeasured fitting before the probe measures (at most a fifth of its budget).
PROBE_WARMUP = 1.5
#: Picks per model beyond its median and costliest units, spread over its prior's range
#: (a fitted exponent needs the range; tiny units are cheap to probe).
PROBE_SPREAD = 8
#: After those, probing goes on while it has cost at most this share of the predicted work:
PROBE_SHARE = 1.0  # a plan may probe as long as the run would take, not longer
#: A unit measured below this is timed again, :data:`PROBE_REPEATS` times, and the
#: median of the repeats is kept: the first runs of a tiny fit pay warm-up (caches,
#: first calls), up to twice its steady cost here (``wine`` trees: 3 ms, then 1.7 ms).
TINY_UNIT = 0.02
PROBE_REPEATS = 5


def _probe_picks(ranked: Sequence[Unit]) -> list[Unit]:
    """The median unit, the costliest, units spread evenly over the ranking, then the rest.

    The rest come in golden-ratio order: any prefix of it is spread over the ranking.
    """
    last = len(ranked) - 1
    spread = [round(i * last / max(1, PROBE_SPREAD - 1)) for i in range(PROBE_SPREAD)]
    n = len(ranked)
    golden = [int((k * 0.6180339887498949) % 1.0 * n) for k in range(n)]
    picks: dict[Unit, None] = {}
    for index in (n // 2, last, *spread, *golden, *range(n)):
        picks.setdefault(ranked[index], None)
    return list(picks)


def _repeats(seconds: float) -> int:
    return 1 + PROBE_REPEATS if seconds < TINY_UNIT else 1


def _timed(study: Study, unit: Unit) -> float:
    """The unit's fit and scoring seconds; a tiny unit's median over repeats after the first."""
    first = _unit_seconds(study, unit)
    if first >= TINY_UNIT:
        return first
    return statistics.median(_unit_seconds(study, unit) for _ in range(PROBE_REPEATS))


def _unit_seconds(study: Study, unit: Unit) -> float:
    from gridfold.sharing.evaluate import evaluate_unit

    results = evaluate_unit(study, unit)
    return sum(r.fit_time + r.score_time for r in results if isinstance(r, TaskResult))
