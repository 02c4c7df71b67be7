"""The cost model and longest-first order: deterministic (no timing is asserted).

Three layers: the prior ranks the parameters that scale a fit; the queue
probes every group once, then dispatches longest predicted first and
re-sorts when measurements arrive; and a search whose units the driver
reordered yields scikit-learn's ``cv_results_`` all the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest
import sklearn.model_selection as skms
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold.cost import (
    UNKNOWN_FIT,
    CostModel,
    LPTQueue,
    group_key,
    lpt_order,
    makespan,
    plan_study,
    prior_seconds,
)
from gridfold.data import StudyHandle
from gridfold.engine import run_study
from gridfold.executors.local import SequentialExecutor
from gridfold.tasks import Model, RefitTask, Result, SharedTask, Study, StudyData, Task, Unit


def _study(estimator: Any, candidates: Sequence[dict[str, Any]], n_splits: int = 3) -> Study:
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    splits = tuple(StratifiedKFold(n_splits, shuffle=True, random_state=0).split(X, y))
    model = Model("m", estimator, tuple(candidates), check_scoring(estimator))
    return Study(models=(model,), data=StudyData(X, y, splits))


class _Unknown(ClassifierMixin, BaseEstimator):
    def __init__(self, a: int = 0) -> None:
        self.a = a

    def fit(self, X: Any, y: Any) -> _Unknown:
        return self


# ----------------------------------------------------------------------------
# The prior.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimator", "param", "values"),
    [
        (SVC(), "C", [0.01, 1.0, 100.0, 1e4]),
        (RandomForestClassifier(), "n_estimators", [10, 50, 200]),
        (DecisionTreeClassifier(), "max_depth", [1, 3, 8]),
        (KNeighborsClassifier(), "n_neighbors", [1, 10, 50]),
    ],
)
def test_the_prior_grows_with_the_parameters_that_scale_a_fit(
    estimator: Any, param: str, values: list[Any]
) -> None:
    costs = [prior_seconds(estimator, {param: v}, 1000, 250, 20) for v in values]
    assert costs == sorted(costs) and costs[0] < costs[-1]


def test_the_prior_grows_with_rows_and_features() -> None:
    small = prior_seconds(SVC(), {}, 5000, 1000, 10)
    assert prior_seconds(SVC(), {}, 10000, 1000, 10) > 3 * small  # superlinear in rows
    assert prior_seconds(SVC(), {}, 5000, 1000, 40) > small


def test_an_unknown_estimator_costs_one_unit_per_fit() -> None:
    assert prior_seconds(_Unknown(), {"a": 1}, 1000, 250, 20) == UNKNOWN_FIT
    assert prior_seconds(_Unknown(), {"a": 9}, 10, 2, 2) == UNKNOWN_FIT


def test_a_pipeline_costs_the_sum_of_its_steps() -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC())])
    alone = prior_seconds(SVC(), {"C": 100.0}, 1000, 250, 20)
    assert prior_seconds(pipe, {"svc__C": 100.0}, 1000, 250, 20) > alone


# ----------------------------------------------------------------------------
# Measurements refine it.
# ----------------------------------------------------------------------------


def test_a_measured_split_predicts_the_other_splits_of_its_candidate() -> None:
    study = _study(SVC(), [{"C": 1.0}, {"C": 10.0}])
    cost = CostModel(study)
    cost.observe(Task(0, 0, 0), 2.0)
    assert cost.predict(Task(0, 0, 1)) == cost.predict(Task(0, 0, 2)) == 2.0
    assert cost.measured(Task(0, 0, 2)) and not cost.measured(Task(0, 1, 0))


def test_one_measured_candidate_scales_the_others_priors_by_its_ratio() -> None:
    study = _study(SVC(), [{"C": 1.0}, {"C": 1000.0}])
    cost = CostModel(study)
    ratio = 7.0 / cost.prior(Task(0, 0, 0))
    cost.observe(Task(0, 0, 0), 7.0)
    assert cost.predict(Task(0, 1, 0)) == pytest.approx(cost.prior(Task(0, 1, 0)) * ratio)


def test_two_measured_candidates_fit_the_exponent_of_the_prior() -> None:
    # Measurements that grow as prior**2 (a prior too flat for these data): the line
    # through them in log-log space predicts the candidate between, not a mean ratio.
    study = _study(SVC(), [{"C": 1.0}, {"C": 1e2}, {"C": 1e4}])
    cost = CostModel(study)
    low, mid, high = (cost.prior(Task(0, c, 0)) for c in range(3))
    for candidate, prior in ((0, low), (2, high)):
        cost.observe(Task(0, candidate, 0), 10.0 * prior**2)
    spread = math.log(high / low) ** 2 / 2  # n x variance of the two log-priors
    exponent = (2.0 * spread + 1.0) / (spread + 1.0)  # shrunk towards 1 by one unit
    mean_x = (math.log(low) + math.log(high)) / 2
    expected = math.exp(math.log(10.0) + 2 * mean_x + exponent * (math.log(mid) - mean_x))
    assert cost.predict(Task(0, 1, 0)) == pytest.approx(expected)
    assert 10.0 * mid**2 * 0.5 < expected < 10.0 * mid**2 * 2
    unshrunk = 10.0 * mid * (low * high) ** 0.5  # the geometric-mean ratio alone
    assert abs(math.log(expected / (10.0 * mid**2))) < abs(math.log(unshrunk / (10.0 * mid**2)))


def test_nan_timings_and_refits_teach_nothing() -> None:
    study = _study(SVC(), [{"C": 1.0}])
    cost = CostModel(study, scale=3.0)
    cost.observe(Task(0, 0, 0), float("nan"))
    cost.observe(RefitTask(0, (0,), "forest"), 5.0)
    assert cost.predict(Task(0, 0, 1)) == pytest.approx(3.0 * cost.prior(Task(0, 0, 1)))


# ----------------------------------------------------------------------------
# The order.
# ----------------------------------------------------------------------------


def _tasks(study: Study) -> list[Unit]:
    return list(study.tasks())


def test_probes_first_longest_prior_first_then_the_rest_longest_first() -> None:
    study = _study(SVC(), [{"C": c} for c in (0.1, 1e4, 10.0)])
    order = [(u.candidate, u.split) for u in lpt_order(_tasks(study), CostModel(study))]
    assert order[:3] == [(1, 0), (2, 0), (0, 0)]  # one probe per candidate
    assert order[3:] == [(1, 1), (1, 2), (2, 1), (2, 2), (0, 1), (0, 2)]


def test_equal_predictions_keep_study_order() -> None:
    study = _study(_Unknown(), [{"a": i} for i in range(3)])
    order = lpt_order(_tasks(study), CostModel(study))
    assert order == [
        Task(0, 0, 0),
        Task(0, 1, 0),
        Task(0, 2, 0),
        *[Task(0, c, s) for c in range(3) for s in (1, 2)],
    ]


def test_measurements_reorder_what_is_left() -> None:
    study = _study(_Unknown(), [{"a": i} for i in range(3)])
    queue = LPTQueue(_tasks(study), CostModel(study), clock=lambda: 0.0)  # sorts take no time
    probes = [queue.popleft() for _ in range(3)]
    for unit, seconds in zip(probes, (1.0, 5.0, 2.0), strict=True):
        queue.observe(unit, seconds)
    rest = [queue.popleft() for _ in range(len(queue))]
    assert [u.candidate for u in rest] == [1, 1, 2, 2, 0, 0]


def test_a_resort_waits_in_proportion_to_its_own_cost() -> None:
    study = _study(_Unknown(), [{"a": i} for i in range(3)])
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every reading: one second later (so a sort "takes" 1 s)
        return now[0]

    queue = LPTQueue(_tasks(study), CostModel(study), clock=clock)
    for unit in [queue.popleft() for _ in range(3)]:
        queue.observe(unit, 1.0 + unit.candidate)  # candidate 2 is the longest
    assert queue.peek().candidate == 0  # not re-sorted yet: the last sort "took" 1 s
    now[0] += LPTQueue.RESORT_SPACING
    assert queue.peek().candidate == 2


def test_the_early_refit_and_units_put_back_stay_in_front() -> None:
    study = _study(RandomForestClassifier(random_state=0), [{"n_estimators": n} for n in (5, 50)])
    refit = RefitTask(0, (0, 1), "forest")
    queue = LPTQueue([refit, *_tasks(study)], CostModel(study))
    assert queue.popleft() == refit
    first = queue.popleft()
    assert first == Task(0, 1, 0)  # the most trees first
    queue.push_front([Task(0, 0, 2), Task(0, 0, 1)])
    assert [queue.popleft(), queue.popleft()] == [Task(0, 0, 2), Task(0, 0, 1)]


def test_shared_units_group_without_their_split() -> None:
    a, b = SharedTask(0, (1, 2), 0, "knn"), SharedTask(0, (1, 2), 3, "knn")
    assert group_key(a) == group_key(b) != group_key(SharedTask(0, (1,), 0, "knn"))
    assert group_key(Task(0, 1, 0)) == group_key(Task(0, 1, 4))


def test_longest_first_ends_sooner_when_the_slowest_candidate_comes_last() -> None:
    # Measured on this project's machine: 7 SVC C values, 5 folds, the largest C ~40x.
    per_candidate = [0.09, 0.06, 0.04, 0.04, 0.09, 0.44, 3.81]
    study_order = [t for t in per_candidate for _ in range(5)]
    lpt = sorted(study_order, reverse=True)
    assert makespan(study_order, 2) / makespan(lpt, 2) > 1.1
    assert makespan(lpt, 2) <= 4 / 3 * max(max(lpt), sum(lpt) / 2)


def test_a_plan_counts_fits_and_units_and_bounds_its_prediction() -> None:
    study = _study(RandomForestClassifier(random_state=0), [{"n_estimators": n} for n in (5, 10)])
    plan = plan_study(study, 2)
    assert (plan.n_fits, plan.n_units) == (6, 3)  # one shared forest per split
    assert plan.overhead_seconds > 0
    assert plan.lower_bound <= plan.wall_seconds - plan.overhead_seconds <= plan.total_seconds
    unshared = plan_study(study, 2, share=False)
    assert (unshared.n_fits, unshared.n_units) == (6, 6)


def test_a_probed_plan_is_calibrated_by_what_it_fitted() -> None:
    study = _study(DecisionTreeClassifier(random_state=0), [{"max_depth": d} for d in (1, 2, 3)])
    # Tiny units: each of the 9 (3 candidates x 3 splits) fits the budget, spread
    # over the prior's range; a budget spent on the first probe stops there.
    plan = plan_study(study, 2, probe_budget=5.0)
    assert plan.probes == 9 and plan.probe_seconds > 0
    assert plan_study(study, 2, probe_budget=1e-9).probes == 1


# ----------------------------------------------------------------------------
# The driver dispatches in that order, and order never changes a result.
# ----------------------------------------------------------------------------


class _Recording(SequentialExecutor):
    """Runs each batch at once, in the caller, but counts as ``n_workers`` workers."""

    def __init__(self, n_workers: int = 2) -> None:
        super().__init__(1)
        self.n_workers = n_workers
        self.submitted: list[Unit] = []

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[Result]]:
        self.submitted.extend(units)
        return super().submit(handle, units)


def test_the_driver_probes_every_candidate_before_a_second_split() -> None:
    study = _study(SVC(), [{"C": c} for c in (0.1, 1.0, 1e4)])
    executor = _Recording()
    run_study(study, executor)
    first = executor.submitted[:3]
    assert sorted(u.candidate for u in first if isinstance(u, Task)) == [0, 1, 2]
    assert first[0] == Task(0, 2, 0)  # the largest C's prior is the longest
    assert len(executor.submitted) == study.n_tasks


def test_one_worker_keeps_the_study_order() -> None:
    # No order ends sooner on one worker, and scikit-learn's sequential order is what a
    # seedless estimator's draws from NumPy's global generator depend on.
    study = _study(SVC(), [{"C": c} for c in (0.1, 1.0, 1e4)])
    executor = _Recording(n_workers=1)
    run_study(study, executor)
    assert executor.submitted == list(study.tasks())


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_reordered_units_keep_cv_results_identical_to_sklearn(backend: str) -> None:
    X, y = make_classification(n_samples=300, n_features=8, flip_y=0.1, random_state=0)
    grid = {"C": [0.01, 1.0, 100.0, 1e4], "gamma": ["scale", 0.1]}
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = gridfold.GridSearchCV(SVC(), grid, cv=cv, n_jobs=2, backend=backend).fit(X, y)
    theirs = skms.GridSearchCV(SVC(), grid, cv=cv).fit(X, y)
    for key, value in theirs.cv_results_.items():
        if key.endswith("_time"):
            continue
        if isinstance(value, np.ma.MaskedArray):
            assert list(value) == list(ours.cv_results_[key])
        else:
            assert np.array_equal(value, ours.cv_results_[key]), key
    assert ours.best_params_ == theirs.best_params_
