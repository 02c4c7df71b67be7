"""gridfold vs scikit-learn: the same grid search, side by side, in one process.

Run from the repository root::

    python benchmarks/run.py                          # every case, 3 repeats
    python benchmarks/run.py --suite sharing          # only the "never fit twice" cases
    python benchmarks/run.py --quick                  # smaller data, same grids, 2 repeats
    python benchmarks/run.py --only knn_path,ridge_path --repeats 5

For every benchmark, scikit-learn's ``GridSearchCV(n_jobs=-1)`` and
``gridfold.GridSearchCV(n_jobs=-1)`` (default ``share=True``) get the same
estimator, grid, data and folds (an explicit ``StratifiedKFold``, or ``KFold``
for regression, with a fixed ``random_state``). Each side is warmed up once,
then the repeats are interleaved (sk gf, gf sk, sk gf, ...) so that load from
other users of the machine hits both sides alike and neither side always runs
first. Some cases add a third side, gridfold with ``share=False`` (every
candidate fitted on its own, as scikit-learn does), which separates what the
engine gains from what shared work gains; ``--unshared`` adds it everywhere.

The table shows median wall times (of ``fit``, refit included, as a user sees
it), the ratio sklearn/gridfold (> 1: gridfold is faster; the median of each
repeat's own ratio, since the two sides of a repeat run back to back and this
machine's speed drifts by +-20% over a case) against the case's target, the
same ratio without the refit (``refit_time_`` subtracted on both sides: the
refit is one ordinary fit that nothing can share, so it caps the ratio of
cases whose fits are expensive) and whether the results are
identical: ``mean_test_score`` and ``rank_test_score`` exactly equal
(``np.array_equal``), the same ``best_params_`` and the same ``best_estimator_``
predictions (``predict_proba`` where there is one) on the first rows of ``X``,
bit for bit, checked on every repeat and for every gridfold side. The refit
columns give each side's median ``refit_time_``: gridfold grows a forest's
trees on the search's idle cores (:mod:`gridfold.refit`).

The script exits with status 1 if any identity check fails or a fit raises;
ratios are reported, never asserted (absolute seconds drift on shared
machines; ratios of interleaved runs hold better). Results are also written to
``benchmarks/results.json``.

scikit-learn runs on joblib's loky pool (loky's process-global reusable
executor); gridfold keeps its own fault-tolerant pool
(``gridfold.executors.local._process_pool``), so the two never shut each
other's workers down. The harness checks that neither pool was restarted
during a case's timed repeats and says so under the table if one was.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from joblib import cpu_count
from joblib.externals.loky import reusable_executor as _loky_slot
from sklearn.datasets import load_digits, load_wine, make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.model_selection._search_successive_halving import (
    HalvingGridSearchCV as SkHalvingGridSearchCV,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import gridfold
from gridfold.cost import Plan, makespan, plan_study
from gridfold.tasks import Model, Study, StudyData

HERE = Path(__file__).resolve().parent
SUITES = ("engine", "sharing", "halving")

Data = tuple[np.ndarray, np.ndarray]
Fitted = Any


@dataclasses.dataclass
class Case:
    """One benchmark: an estimator, a grid, data and folds, plus a ratio target.

    ``data`` is called only when the case runs, so that selecting a few cases
    does not build every data set.
    """

    name: str
    suite: str
    estimator: Any
    grid: dict[str, list[Any]]
    data: Callable[[], Data]
    target: float
    note: str
    n_splits: int = 5
    regression: bool = False  # KFold instead of StratifiedKFold
    unshared: bool = False  # also time gridfold with share=False
    sequential_context: bool = False  # also time both with n_jobs=1 (sk1, gf1)
    extra_sides: tuple[str, ...] = ()  # more gridfold sides, e.g. ("gf_threads",)
    # At least this many repeats: a ratio whose floor lies within this machine's drift of
    # its limit needs a steadier median than three runs give.
    min_repeats: int = 0
    # A successive-halving search: HalvingGridSearchCV on both sides, with these arguments.
    halving: dict[str, Any] | None = None

    @property
    def cv(self) -> KFold | StratifiedKFold:
        if self.regression:
            return KFold(n_splits=self.n_splits, shuffle=True, random_state=0)
        return StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=0)

    @property
    def n_fits(self) -> int:
        """Fits of a grid search (a halving search counts its own: :func:`halving_fits`)."""
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n * self.n_splits


def _classification(n_samples: int, n_features: int, **kwargs: Any) -> Callable[[], Data]:
    def make() -> Data:
        X, y = make_classification(n_samples=n_samples, n_features=n_features, **kwargs)
        return X, y

    return make


def _regression(n_samples: int, n_features: int, **kwargs: Any) -> Callable[[], Data]:
    def make() -> Data:
        X, y = make_regression(n_samples=n_samples, n_features=n_features, **kwargs)
        return X, y

    return make


def _wine() -> Data:
    X, y = load_wine(return_X_y=True)
    return X, y


def _digits() -> Data:
    X, y = load_digits(return_X_y=True)
    return X, y


def _scale_pca_svc() -> Pipeline:
    # svd_solver="full" for every n_components: "auto" may pick the randomized
    # solver, whose result depends on n_components (not a shareable path).
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(svd_solver="full")),
            ("svc", SVC()),
        ]
    )


def make_cases(quick: bool) -> list[Case]:
    """The benchmark grids; ``quick`` shrinks the data, never the grids' shape."""

    def size(full: int, small: int) -> int:
        return small if quick else full

    n_svc, n_pipe, n_knn = size(2000, 1500), size(2000, 1500), size(8000, 4000)
    n_knn_path, n_ridge = size(8000, 3000), size(20000, 6000)
    n_forest, n_hgb, n_prefix = size(3000, 1000), size(6000, 2000), size(1500, 800)
    n_hgb_es = size(15000, 13000)  # early_stopping="auto" needs > 10000 training samples
    n_svc_c = size(3000, 2000)
    n_halving_forest, n_halving_svc = size(1000, 600), size(4000, 2000)
    return [
        # -- engine: plain grids, or little to share; gridfold must not lose. --
        Case(
            name="svc_C_gamma",
            suite="engine",
            estimator=SVC(),
            grid={"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.003, 0.01, 0.03]},
            data=_classification(n_svc, 40, n_informative=15, random_state=0),
            target=0.95,
            note=f"SVC, 3 C x 4 gamma, ({n_svc}, 40): plain grid, nothing shared",
            unshared=True,
        ),
        Case(
            name="pipeline_pca_svc",
            suite="engine",
            estimator=_scale_pca_svc(),
            grid={"pca__n_components": [10, 20, 40], "svc__C": [0.1, 1.0, 10.0]},
            data=_classification(n_pipe, 60, n_informative=20, random_state=1),
            target=0.95,
            note=f"StandardScaler->PCA->SVC, 3 n_components x 3 C, ({n_pipe}, 60)",
        ),
        Case(
            name="tiny_trees",
            suite="engine",
            estimator=DecisionTreeClassifier(random_state=0),
            grid={
                "max_depth": list(range(1, 11)),
                "min_samples_split": [2, 3, 4, 5, 6, 8, 10, 12, 16, 20],
                "criterion": ["gini", "entropy"],
                "splitter": ["best", "random"],
            },
            data=_wine,
            target=1.3,
            note="DecisionTreeClassifier on wine, 400 candidates x 5 folds",
            sequential_context=True,
        ),
        Case(
            name="svc_small",
            suite="engine",
            estimator=SVC(),
            grid={"C": [0.1, 1.0, 10.0], "gamma": [1e-4, 1e-3, 1e-2]},
            data=_digits,
            target=1.0,
            note="SVC, 3 C x 3 gamma on digits: a small plain grid (fixed costs), "
            "processes and threads",
            sequential_context=True,
            extra_sides=("gf_threads",),
        ),
        Case(
            name="svc_C_range",
            suite="engine",
            estimator=SVC(),
            # Noisy rows (flip_y) and few features: libsvm's iterations grow steeply with C,
            # so the largest C (last in scikit-learn's order) takes ~20-40x the others.
            grid={"C": list(np.logspace(-2, 4, 7))},
            data=_classification(n_svc_c, 5, n_informative=3, flip_y=0.1, random_state=0),
            target=1.1,
            min_repeats=5,
            note=f"SVC, C logspace(-2, 4, 7), ({n_svc_c}, 5) noisy: the slowest candidate last "
            "in study order (longest first)",
        ),
        Case(
            name="knn_n_neighbors",
            suite="engine",
            estimator=KNeighborsClassifier(),
            grid={"n_neighbors": list(range(1, 21))},
            data=_classification(n_knn, 60, n_informative=20, random_state=2),
            target=0.95,
            note=f"KNeighborsClassifier, n_neighbors 1..20, ({n_knn}, 60)",
        ),
        # -- sharing: "never fit twice" (share=True, gridfold's default). --
        Case(
            name="knn_path",
            suite="sharing",
            estimator=KNeighborsClassifier(),
            grid={"n_neighbors": list(range(1, 41))},
            data=_classification(n_knn_path, 60, random_state=0),
            target=8.0,
            note=f"KNeighborsClassifier, n_neighbors 1..40, ({n_knn_path}, 60): "
            "one neighbour query per fold",
        ),
        Case(
            name="ridge_path",
            suite="sharing",
            estimator=Ridge(),
            grid={"alpha": list(np.logspace(-3, 3, 30))},
            data=_regression(n_ridge, 200, random_state=0),
            target=8.0,
            note=f"Ridge, 30 alphas logspace(-3, 3), ({n_ridge}, 200), KFold: "
            "one Gram matrix per fold",
            regression=True,
        ),
        Case(
            name="forest_path",
            suite="sharing",
            estimator=RandomForestClassifier(random_state=0),
            grid={"n_estimators": [25, 50, 100, 200]},
            data=_classification(n_forest, 20, n_informative=10, random_state=0),
            target=1.7,
            note=f"RandomForestClassifier, n_estimators 25..200, ({n_forest}, 20): "
            "200 trees per fold, scored by prefix",
        ),
        Case(
            name="hgb_path",
            suite="sharing",
            estimator=HistGradientBoostingClassifier(random_state=0, early_stopping=False),
            grid={"max_iter": [50, 100, 200, 400]},
            data=_classification(n_hgb, 20, n_informative=10, random_state=0),
            target=2.5,
            note=f"HistGradientBoostingClassifier, max_iter 50..400, ({n_hgb}, 20): "
            "400 iterations per fold, staged scores",
        ),
        Case(
            name="hgb_path_default",
            suite="sharing",
            # The estimator's defaults: early_stopping='auto' turns on above 10000 samples,
            # so every max_iter stops where the longest run stops (min(k, stop)).
            estimator=HistGradientBoostingClassifier(random_state=0),
            grid={"max_iter": [50, 100, 200, 400]},
            data=_classification(n_hgb_es, 20, n_informative=10, random_state=0),
            target=2.5,
            note="HistGradientBoostingClassifier defaults (early stopping), max_iter 50..400, "
            f"({n_hgb_es}, 20)",
        ),
        Case(
            name="pipeline_prefix",
            suite="sharing",
            estimator=_scale_pca_svc(),
            grid={"pca__n_components": [10, 20, 40], "svc__C": [0.1, 1.0, 10.0]},
            data=_classification(n_prefix, 500, n_informative=20, random_state=0),
            target=1.8,
            note=f"StandardScaler->PCA->SVC, 3 n_components x 3 C, ({n_prefix}, 500): "
            "scaler and PCA fitted once per fold",
        ),
        # -- halving: successive halving, each rung continuing the last where exact. --
        Case(
            name="halving_forest",
            suite="halving",
            estimator=RandomForestClassifier(random_state=0),
            grid={
                "max_depth": [6, 12, None],
                "max_features": [0.2, 0.4, 0.6],
                "min_samples_leaf": [1, 3, 9],
            },
            data=_classification(n_halving_forest, 20, n_informative=10, random_state=0),
            target=1.25,
            note=f"RandomForestClassifier, 27 candidates, resource n_estimators 9..243, factor 3, "
            f"({n_halving_forest}, 20): survivors grow their last rung's forest",
            halving={
                "resource": "n_estimators",
                "min_resources": 9,
                "max_resources": 243,
                "factor": 3,
            },
        ),
        Case(
            name="halving_svc",
            suite="halving",
            estimator=SVC(),
            grid={"C": [0.1, 1.0, 10.0, 100.0], "gamma": [0.001, 0.01, 0.1, 1.0]},
            data=_classification(n_halving_svc, 20, n_informative=10, random_state=0),
            target=1.0,
            note=f"SVC, 4 C x 4 gamma, resource n_samples (exhaust), factor 3, "
            f"({n_halving_svc}, 20): scikit-learn's subsamples, nothing to continue",
            halving={"random_state": 0, "factor": 3},
        ),
    ]


#: Timed sides: label -> (search class, n_jobs, extra keyword arguments).
SIDES: dict[str, tuple[Callable[..., Any], int, dict[str, Any]]] = {
    "sk": (SkGridSearchCV, -1, {}),
    "gf": (gridfold.GridSearchCV, -1, {}),
    "gf_noshare": (gridfold.GridSearchCV, -1, {"share": False}),
    "sk1": (SkGridSearchCV, 1, {}),
    "gf1": (gridfold.GridSearchCV, 1, {}),
    "gf_threads": (gridfold.GridSearchCV, -1, {"backend": "threads"}),
}


#: The halving search of each side's grid search class.
HALVING_OF: dict[Any, Any] = {
    SkGridSearchCV: SkHalvingGridSearchCV,
    gridfold.GridSearchCV: gridfold.HalvingGridSearchCV,
}


def fit_once(side: str, case: Case, X: np.ndarray, y: np.ndarray) -> tuple[float, Fitted]:
    cls, n_jobs, extra = SIDES[side]
    if case.halving is not None:
        cls, extra = HALVING_OF[cls], {**extra, **case.halving}
    search = cls(sklearn.clone(case.estimator), case.grid, cv=case.cv, n_jobs=n_jobs, **extra)
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search


def pools() -> dict[str, Any]:
    """Each side's worker pool (to check that none was restarted mid-case)."""
    from gridfold.executors import local

    return {"sk": getattr(_loky_slot, "_executor", None), "gf": getattr(local, "_pool", None)}


#: Rows of ``X`` on which both sides' ``best_estimator_`` must predict the same, bit for bit.
N_PREDICT_ROWS = 500


def identical(a: Fitted, b: Fitted, X: np.ndarray) -> tuple[bool, str]:
    """Exact equality of mean/rank test scores, best params and best estimator's
    predictions on ``X[:N_PREDICT_ROWS]``; why not, if not."""
    ra, rb = a.cv_results_, b.cv_results_
    problems = []
    if not np.array_equal(ra["mean_test_score"], rb["mean_test_score"], equal_nan=True):
        diff = np.nanmax(np.abs(ra["mean_test_score"] - rb["mean_test_score"]))
        problems.append(f"mean_test_score differs (max |diff| {diff:.3g})")
    if not np.array_equal(ra["rank_test_score"], rb["rank_test_score"]):
        problems.append("rank_test_score differs")
    if a.best_params_ != b.best_params_:
        problems.append(f"best_params_ {a.best_params_} != {b.best_params_}")
    elif not np.array_equal(_predictions(a, X), _predictions(b, X)):
        problems.append("best_estimator_ predictions differ")
    return not problems, "; ".join(problems)


def _predictions(search: Fitted, X: np.ndarray) -> np.ndarray:
    """The refitted model's probabilities (or predictions) on the first rows of ``X``."""
    best, rows = search.best_estimator_, X[:N_PREDICT_ROWS]
    return best.predict_proba(rows) if hasattr(best, "predict_proba") else best.predict(rows)


def order_limit(search: Fitted, n_splits: int, n_workers: int) -> float:
    """What ordering alone can give: scikit-learn's measured fits in its own order
    against the same fits longest first, list-scheduled on ``n_workers``.

    Each candidate's fits are taken to last its ``mean_fit_time + mean_score_time``
    (``cv_results_`` keeps no per-split times); longest-first is within 4/3 of the
    best order (Graham), and equal to it on grids like ``svc_C_range``.
    """
    results = search.cv_results_
    per_fit = np.asarray(results["mean_fit_time"]) + np.asarray(results["mean_score_time"])
    study_order = [float(t) for t in per_fit for _ in range(n_splits)]
    longest_first = sorted(study_order, reverse=True)
    return makespan(study_order, n_workers) / makespan(longest_first, n_workers)


#: Seconds ``gridfold plan`` may spend fitting units of a case to calibrate its prediction
#: (the CLI's default).
PLAN_PROBE_SECONDS = 5.0


def plan_case(case: Case, X: np.ndarray, y: np.ndarray) -> Plan:
    """What ``gridfold plan`` predicts for the case's grid on this machine's cores."""
    from sklearn.metrics import check_scoring
    from sklearn.model_selection import ParameterGrid

    estimator = sklearn.clone(case.estimator)
    model = Model(case.name, estimator, tuple(ParameterGrid(case.grid)), check_scoring(estimator))
    study = Study(models=(model,), data=StudyData(X, y, tuple(case.cv.split(X, y))))
    # refit_model=0: a search may refit during the search, which its wall time then includes.
    return plan_study(study, cpu_count(), probe_budget=PLAN_PROBE_SECONDS, refit_model=0)


def _plan_line(plan: Plan) -> str:
    return (
        f"  plan: {plan.n_units} units, predicted {plan.wall_seconds:.2f}s on {cpu_count()} "
        f"workers ({plan.total_seconds:.2f}s of work; {plan.probes} probe fits, "
        f"{plan.probe_seconds:.1f}s)"
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def halving_row(sk: Fitted, gf: Fitted) -> dict[str, Any]:
    """A halving case's fits, and, for ``n_estimators`` as the resource, its trees.

    The limit of continuing rungs is the ratio of trees grown per split in the
    cross-validation: scikit-learn grows every rung's forests afresh
    (sum of candidates x budget over the rungs); continuing rungs grow each
    candidate's largest forest once (those dropped after a rung, that rung's
    budget; the survivors of the last, its budget). The refit (one forest of
    the best candidate on all rows, on both sides) is not counted in it.
    """
    n_candidates, n_resources = list(sk.n_candidates_), list(sk.n_resources_)
    out: dict[str, Any] = {
        "n_fits": sum(n_candidates) * sk.n_splits_,
        "n_candidates": n_candidates,
        "n_resources": n_resources,
        "continued_per_rung": list(getattr(gf, "_continued_per_rung", [])),
        "trees_sklearn": None,
        "trees_continuing": None,
        "tree_limit": None,
    }
    if sk.resource == "n_estimators":
        afresh = sum(c * r for c, r in zip(n_candidates, n_resources, strict=True))
        dropped = [c - n for c, n in zip(n_candidates, n_candidates[1:], strict=False)]
        dropped.append(n_candidates[-1])  # the last rung's grow to its budget
        grown = sum(d * r for d, r in zip(dropped, n_resources, strict=True))
        out.update(trees_sklearn=afresh, trees_continuing=grown, tree_limit=afresh / grown)
    return out


def run_case(case: Case, repeats: int, unshared: bool, log: Callable[[str], None]) -> dict:
    sides = ["sk", "gf"] + (["gf_noshare"] if unshared or case.unshared else [])
    sides += [*case.extra_sides, *(["sk1", "gf1"] if case.sequential_context else [])]
    times: dict[str, list[float]] = {side: [] for side in sides}
    search_times: dict[str, list[float]] = {side: [] for side in sides}
    refit_times: dict[str, list[float]] = {side: [] for side in sides}
    refits_in_search: dict[str, list[bool]] = {side: [] for side in sides}
    order_limits: list[float] = []
    failures: list[str] = []
    row: dict[str, Any] = {
        "name": case.name,
        "suite": case.suite,
        "note": case.note,
        "n_fits": case.n_fits,
        "target": case.target,
        "sides": sides,
    }
    try:
        X, y = case.data()
        row["shape"] = list(X.shape)
        # Warm-ups: absorb pool start-up and first-import costs on each side.
        warm: dict[str, float] = {}
        reference = None
        for side in sides:
            warm[side], fitted = fit_once(side, case, X, y)
            if reference is None:
                reference = fitted
            else:
                ok, why = identical(reference, fitted, X)
                if not ok:
                    failures.append(f"warm-up {side}: {why}")
        log("  warm-up  " + "  ".join(f"{s} {t:.2f}s" for s, t in warm.items()))
        row["warmup"] = warm
        pools_after_warmup = pools()

        plans: list[Plan] = []
        for r in range(max(repeats, case.min_repeats)):
            # The plan is made once per repeat, between the sides, so that its probe fits
            # and the runs it predicts sample the same minutes: this machine's speed drifts
            # by +-20% over a minute (python benchmarks/plan_noise.py), which no prediction
            # made earlier can know.
            if case.halving is None:  # gridfold plan plans grid searches
                plans.append(plan_case(case, X, y))
                log(_plan_line(plans[-1]))
            # sk gf | gf sk | sk gf ...: interleaved, and neither side always goes first.
            order = sides if r % 2 == 0 else sides[::-1]
            fitted_by_side = {}
            for side in order:
                t, fitted_by_side[side] = fit_once(side, case, X, y)
                times[side].append(t)
                fitted = fitted_by_side[side]
                refit_times[side].append(fitted.refit_time_)
                # A refit a worker did alongside the folds (gridfold's early refit) took
                # none of the wall time after the search: nothing to subtract.
                # (refit_during_search_ before it became private: benchmarks/against.py)
                in_search = bool(
                    getattr(fitted, "_refit_during_search", None)
                    or getattr(fitted, "refit_during_search_", False)
                )
                refits_in_search[side].append(in_search)
                search_times[side].append(t - (0.0 if in_search else refit_times[side][-1]))
            if case.halving is None:
                order_limits.append(order_limit(fitted_by_side["sk"], case.n_splits, cpu_count()))
            else:
                row.update(halving_row(fitted_by_side["sk"], fitted_by_side["gf"]))
            for side in sides[1:]:
                ok, why = identical(fitted_by_side["sk"], fitted_by_side[side], X)
                if not ok:
                    failures.append(f"repeat {r} {side}: {why}")
            log(
                f"  repeat {r}  "
                + "  ".join(f"{s} {times[s][-1]:.2f}s" for s in sides)
                + f"  ratio {times['sk'][-1] / times['gf'][-1]:.2f}"
            )

        row["plan_s"] = _median([p.wall_seconds for p in plans])
        row["plan_work_s"] = _median([p.total_seconds for p in plans])
        row["plan_probe_s"] = _median([p.probe_seconds for p in plans])
        row["plans_s"] = [p.wall_seconds for p in plans]
        after = pools()
        row["pool_restarted_during_repeats"] = [
            side
            for side, pool in after.items()
            if pools_after_warmup.get(side) is not None and pool is not pools_after_warmup[side]
        ]
    except Exception as exc:  # reported in the table and the exit status
        failures.append(f"error: {type(exc).__name__}: {exc}")
        log(f"  FAILED: {type(exc).__name__}: {exc}")

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def low(values: list[float]) -> float:
        return min(values) if values else float("nan")

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    def paired(a: list[float], b: list[float]) -> float:
        """The median of the repeats' own ratios: each pair ran back to back, so the
        machine's drift over the case (+-20% here) cancels within a pair, not across."""
        return med([ratio(x, y) for x, y in zip(a, b)])  # noqa: B905 - a failed case has fewer

    row.update(
        sklearn_s=med(times["sk"]),
        gridfold_s=med(times["gf"]),
        ratio=paired(times["sk"], times["gf"]),
        ratio_of_medians=ratio(med(times["sk"]), med(times["gf"])),
        ratio_without_refit=ratio(med(search_times["sk"]), med(search_times["gf"])),
        ratio_of_minima=ratio(low(times["sk"]), low(times["gf"])),
        sklearn_refit_s=med(refit_times["sk"]),
        gridfold_refit_s=med(refit_times["gf"]),
        gridfold_refits_in_search=sum(refits_in_search["gf"]),
        gridfold_noshare_s=med(times["gf_noshare"]) if "gf_noshare" in sides else None,
        gridfold_threads_s=med(times["gf_threads"]) if "gf_threads" in sides else None,
        ratio_threads=(
            ratio(med(times["sk"]), med(times["gf_threads"])) if "gf_threads" in sides else None
        ),
        ratio_noshare=(
            ratio(med(times["sk"]), med(times["gf_noshare"])) if "gf_noshare" in sides else None
        ),
        identical=not failures,
        identity_failures=failures,
        sklearn_n_jobs1_s=med(times["sk1"]) if "sk1" in sides else None,
        gridfold_n_jobs1_s=med(times["gf1"]) if "gf1" in sides else None,
        # The parallel limit of scikit-learn's n_jobs=-1: its n_jobs=1 time over the cores.
        limit=(
            ratio(med(times["sk"]), med(times["sk1"]) / cpu_count()) if "sk1" in sides else None
        ),
        # gridfold n_jobs=-1 throughput as a share of cores x its own n_jobs=1 throughput.
        efficiency=(
            ratio(med(times["gf1"]), cpu_count() * med(times["gf"])) if "gf1" in sides else None
        ),
        order_limit=med(order_limits),
        gridfold_search_s=med(search_times["gf"]),
        plan_vs_measured=paired(row.get("plans_s", []), search_times["gf"])
        if row.get("plans_s")
        else float("nan"),
        times=times,
        search_times=search_times,
        refit_times=refit_times,
        refits_in_search=refits_in_search,
    )
    row["meets_target"] = bool(row["ratio"] >= case.target)
    return row


def format_table(rows: list[dict]) -> str:
    header = [
        "benchmark",
        "n_fits",
        "sklearn s",
        "gridfold s",
        "ratio",
        "target",
        "order limit",
        "plan s",
        "gf search s",
        "plan/gf",
        "identical",
        "w/o refit",
        "of medians",
        "of minima",
        "sk refit s",
        "gf refit s",
        "share=False s",
        "ratio",
        "threads s",
        "ratio",
        "sk n_jobs=1 s",
        "limit",
        "gf n_jobs=1 s",
        "efficiency",
    ]

    def opt(value: float | None, spec: str) -> str:
        return "" if value is None else format(value, spec)

    body = [
        [
            r["name"],
            str(r["n_fits"]),
            f"{r['sklearn_s']:.3f}",
            f"{r['gridfold_s']:.3f}",
            f"{r['ratio']:.2f}",
            f">={r['target']:.2f}" + ("" if r["meets_target"] or np.isnan(r["ratio"]) else " MISS"),
            f"{r['order_limit']:.2f}",
            f"{r.get('plan_s', float('nan')):.3f}",
            f"{r['gridfold_search_s']:.3f}",
            f"{r['plan_vs_measured']:.2f}"
            + ("" if abs(r["plan_vs_measured"] - 1) <= 0.25 else " OFF"),
            "yes" if r["identical"] else "NO",
            f"{r['ratio_without_refit']:.2f}",
            f"{r['ratio_of_medians']:.2f}",
            f"{r['ratio_of_minima']:.2f}",
            f"{r['sklearn_refit_s']:.3f}",
            f"{r['gridfold_refit_s']:.3f}" + ("*" if r["gridfold_refits_in_search"] else ""),
            opt(r["gridfold_noshare_s"], ".3f"),
            opt(r["ratio_noshare"], ".2f"),
            opt(r["gridfold_threads_s"], ".3f"),
            opt(r["ratio_threads"], ".2f"),
            opt(r["sklearn_n_jobs1_s"], ".3f"),
            opt(r["limit"], ".2f"),
            opt(r["gridfold_n_jobs1_s"], ".3f"),
            opt(r["efficiency"], ".2f"),
        ]
        for r in rows
    ]
    return _render(header, body, left={0, 5, 9, 10})


def _render(header: list[str], body: list[list[str]], left: set[int]) -> str:
    """Columns as wide as their widest cell; those in ``left`` left-aligned."""
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), sep, *(fmt(line) for line in body)])


def format_halving_table(rows: list[dict]) -> str:
    """The halving cases: ratio beside its limit (trees grown), and what continued."""
    header = [
        "benchmark",
        "n_fits",
        "sklearn s",
        "gridfold s",
        "ratio",
        "target",
        "limit",
        "trees sk/gf",
        "continued fits",
        "identical",
        "w/o refit",
        "of medians",
        "of minima",
        "sk refit s",
        "gf refit s",
    ]
    body = [
        [
            r["name"],
            str(r["n_fits"]),
            f"{r['sklearn_s']:.3f}",
            f"{r['gridfold_s']:.3f}",
            f"{r['ratio']:.2f}",
            f">={r['target']:.2f}" + ("" if r["meets_target"] or np.isnan(r["ratio"]) else " MISS"),
            "" if r.get("tree_limit") is None else f"{r['tree_limit']:.2f}",
            ""
            if r.get("trees_sklearn") is None
            else f"{r['trees_sklearn']}/{r['trees_continuing']}",
            "+".join(str(n) for n in r.get("continued_per_rung", [])),
            "yes" if r["identical"] else "NO",
            f"{r['ratio_without_refit']:.2f}",
            f"{r['ratio_of_medians']:.2f}",
            f"{r['ratio_of_minima']:.2f}",
            f"{r['sklearn_refit_s']:.3f}",
            f"{r['gridfold_refit_s']:.3f}" + ("*" if r["gridfold_refits_in_search"] else ""),
        ]
        for r in rows
    ]
    return _render(header, body, left={0, 5, 8, 9})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite",
        choices=[*SUITES, "all"],
        default="all",
        help="engine: plain grids; sharing: never-fit-twice paths and prefixes (default all)",
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated benchmark names (within --suite)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per side, after one warm-up (default 3; 2 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller data, same grids")
    parser.add_argument(
        "--unshared",
        action="store_true",
        help="time gridfold share=False in every case (default: only where the table shows it)",
    )
    parser.add_argument(
        "--output", default=str(HERE / "results.json"), help="where to write the JSON results"
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    all_cases = make_cases(args.quick)
    cases = [c for c in all_cases if args.suite in ("all", c.suite)]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {c.name for c in cases})
        if unknown:
            names = [c.name for c in cases]
            parser.error(
                f"unknown benchmark(s) {unknown} in suite {args.suite!r}; expected {names}"
            )
        cases = [c for c in cases if c.name in wanted]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    env = {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "gridfold": getattr(gridfold, "__version__", "?"),
        "numpy": np.__version__,
        "cpu_count": cpu_count(),
        "load_avg_start": os.getloadavg(),
        "repeats": args.repeats,
        "quick": args.quick,
        "suite": args.suite,
    }
    log(f"gridfold benchmarks: {env}")
    rows = []
    started = time.perf_counter()
    for case in cases:
        fits = f"{case.n_fits} fits" if case.halving is None else "halving"
        log(f"{case.name} [{case.suite}]: {case.note} ({fits})")
        rows.append(run_case(case, args.repeats, args.unshared, log))
    env["load_avg_end"] = os.getloadavg()
    env["total_s"] = time.perf_counter() - started

    grid_rows = [r for r in rows if r["suite"] != "halving"]
    halving_rows = [r for r in rows if r["suite"] == "halving"]
    if grid_rows:
        print(format_table(grid_rows))
    if halving_rows:
        print(("\n" if grid_rows else "") + format_halving_table(halving_rows))
    print(
        f"\nratio = the median over {args.repeats} interleaved repeats of each repeat's sklearn "
        "time / gridfold time, the two run back to back (> 1: gridfold faster), refit "
        f"included; both n_jobs=-1 on {cpu_count()} cores\n"
        "  (more repeats where a case asks for them: "
        + (
            ", ".join(f"{c.name} {c.min_repeats}" for c in cases if c.min_repeats > args.repeats)
            or "none"
        )
        + ");\n"
        "w/o refit = the same with each fit's refit_time_ subtracted (the refit is one fit of "
        "the same candidate on both sides);\n"
        "of medians = sklearn median / gridfold median (drift between repeats does not cancel);\n"
        "of minima = fastest sklearn run / fastest gridfold run (less sensitive to other load);\n"
        f"order limit = sklearn's measured fits (mean fit + score time per candidate) in its "
        f"order / longest first, on {cpu_count()} workers: what ordering alone can give;\n"
        f"plan s = gridfold plan's predicted wall time on {cpu_count()} workers (prior calibrated "
        f"by <= {PLAN_PROBE_SECONDS:.0f} s of probe fits; the median of one plan per repeat, "
        "made between the sides), gf search s = gridfold's median time "
        "without the refit after the search, plan/gf = the median of each repeat's plan / "
        "its gridfold search time (OFF: beyond 25%);\n"
        "sk/gf refit s = median refit_time_ of each side (gridfold grows forests on all workers;\n"
        "  * = the refit was one shared fit that a worker ran alongside the folds, in the\n"
        "  search's wall time already: w/o refit subtracts nothing for it);\n"
        "share=False = gridfold fitting every candidate on its own, and sklearn / that;\n"
        "threads = gridfold with backend='threads', and sklearn / that;\n"
        f"limit = sklearn n_jobs=-1 / (sklearn n_jobs=1 / {cpu_count()} cores), the ratio a "
        "perfect split of scikit-learn's own work would give;\n"
        f"efficiency = gridfold n_jobs=1 / ({cpu_count()} x gridfold n_jobs=-1): its parallel "
        "throughput as a share of cores x its sequential throughput\n"
        "  (python benchmarks/parallel_limit.py measures what two processes reach at most here);\n"
        "halving cases: HalvingGridSearchCV on both sides (n_jobs=-1), the same ratio; "
        "limit = trees grown per split in the\n"
        "  cross-validation, scikit-learn (every rung afresh) / continuing rungs (each candidate's "
        "largest forest once), the refit not counted;\n"
        "  continued fits = gridfold's fits per rung that grew from the last rung's fit; "
        "gf refit * = refitted alongside the last rung's folds;\n"
        f"total {env['total_s']:.0f}s; load average {env['load_avg_start'][0]:.1f} at start, "
        f"{env['load_avg_end'][0]:.1f} at end"
    )
    for r in rows:
        for f in r["identity_failures"]:
            print(f"NOT IDENTICAL {r['name']}: {f}")
        if r.get("pool_restarted_during_repeats"):
            restarted = r["pool_restarted_during_repeats"]
            print(f"note {r['name']}: pool restarted during repeats: {restarted}")
    report = {"environment": env, "results": rows}
    Path(args.output).write_text(json.dumps(report, indent=2, default=str))
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
