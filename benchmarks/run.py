"""gridfold vs scikit-learn: the same grid search, side by side, in one process.

Run from the repository root::

    python benchmarks/run.py                  # full run, 5 repeats (~5-10 min on 2 cores)
    python benchmarks/run.py --quick          # 3 repeats, smaller data (~2-3 min)
    python benchmarks/run.py --only tiny_trees,knn --repeats 7

For every benchmark, scikit-learn's ``GridSearchCV(n_jobs=-1)`` and
``gridfold.GridSearchCV(n_jobs=-1)`` get the same estimator, grid, data and
folds (an explicit ``StratifiedKFold`` with a fixed ``random_state``). Each
side is warmed up once, then the repeats are interleaved in ABBA order
(sk gf, gf sk, sk gf, ...) so that load from other users of
the machine hits both sides alike and neither side always runs first. The table
shows median wall times (of ``fit``, refit included, as a user sees it), the
ratio sklearn/gridfold (> 1: gridfold is faster) and whether the results are
identical: ``mean_test_score`` and ``rank_test_score`` exactly equal
(``np.array_equal``) and the same ``best_params_``, checked on every repeat.

The script exits with status 1 if any identity check fails; ratios are
reported, never asserted (absolute seconds drift on shared machines; ratios
of interleaved runs hold better). Results are also written to
``benchmarks/results.json``.

Both sides use loky, and loky has a single process-global "reusable executor"
slot. joblib and gridfold both claim it with different arguments, so each
would tear down the other's worker pool (and joblib then fails with
``AttributeError: ... '_temp_folder_manager'`` when gridfold's pool is the one
in the slot). To compare steady states, this harness keeps one pool per side
and puts the right one into the slot before each fit (see :class:`PoolSlots`).
Pass ``--shared-slot`` to run without that, as a plain script would.
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
from sklearn.datasets import load_iris, make_classification
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import gridfold

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class Case:
    """One benchmark: an estimator, a grid, data and folds, plus a ratio target."""

    name: str
    estimator: Any
    grid: dict[str, list[Any]]
    X: np.ndarray
    y: np.ndarray
    target: float
    note: str
    n_splits: int = 5
    sequential_context: bool = False  # also time scikit-learn with n_jobs=1

    @property
    def cv(self) -> StratifiedKFold:
        return StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=0)

    @property
    def n_fits(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n * self.n_splits


def make_cases(quick: bool) -> list[Case]:
    """The benchmark grids; ``quick`` shrinks the data, never the grids' shape."""
    svc_X, svc_y = make_classification(
        n_samples=1500 if quick else 2000, n_features=40, n_informative=15, random_state=0
    )
    pipe_X, pipe_y = make_classification(
        n_samples=1500 if quick else 2000, n_features=60, n_informative=20, random_state=1
    )
    iris_X, iris_y = load_iris(return_X_y=True)
    knn_X, knn_y = make_classification(
        n_samples=4000 if quick else 8000, n_features=60, n_informative=20, random_state=2
    )
    return [
        Case(
            name="svc_C_gamma",
            estimator=SVC(),
            grid={"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.003, 0.01, 0.03]},
            X=svc_X,
            y=svc_y,
            target=0.95,
            note=f"SVC, C x gamma, make_classification {svc_X.shape}",
        ),
        Case(
            name="pipeline_pca_svc",
            estimator=Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("pca", PCA(svd_solver="full")),
                    ("svc", SVC()),
                ]
            ),
            grid={"pca__n_components": [10, 20, 40], "svc__C": [0.1, 1.0, 10.0]},
            X=pipe_X,
            y=pipe_y,
            target=0.95,
            note=f"StandardScaler->PCA->SVC, n_components x C, {pipe_X.shape}",
        ),
        Case(
            name="tiny_trees",
            estimator=DecisionTreeClassifier(random_state=0),
            grid={
                "max_depth": list(range(1, 11)),
                "min_samples_split": [2, 3, 4, 5, 6, 8, 10, 12, 16, 20],
                "criterion": ["gini", "entropy"],
                "splitter": ["best", "random"],
            },
            X=iris_X,
            y=iris_y,
            target=1.5,
            note="DecisionTreeClassifier on iris, 400 candidates x 5 folds",
            sequential_context=True,
        ),
        Case(
            name="knn_n_neighbors",
            estimator=KNeighborsClassifier(),
            grid={"n_neighbors": list(range(1, 21))},
            X=knn_X,
            y=knn_y,
            target=0.95,
            note=f"KNeighborsClassifier, n_neighbors 1..20, {knn_X.shape}",
        ),
    ]


class PoolSlots:
    """One loky reusable executor per side, swapped into loky's global slot.

    ``joblib`` (scikit-learn's side) and ``gridfold`` both call loky's
    ``get_reusable_executor`` with different arguments; left alone, each call
    shuts the other side's pool down and starts a new one. Keeping both pools
    alive and restoring the right one before each fit means every timed fit
    runs on a warm pool of its own side, as it would in a program that uses
    only one of them.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._saved: dict[str, tuple[Any, Any]] = {}
        self._current: str | None = None

    def activate(self, side: str) -> None:
        if not self.enabled or side == self._current:
            return
        with _loky_slot._executor_lock:
            if self._current is not None:
                self._saved[self._current] = (_loky_slot._executor, _loky_slot._executor_kwargs)
            _loky_slot._executor, _loky_slot._executor_kwargs = self._saved.pop(side, (None, None))
        self._current = side

    def pools(self) -> dict[str, Any]:
        """Each side's executor (for a check that nothing was restarted)."""
        out = {side: ex for side, (ex, _) in self._saved.items()}
        if self._current is not None:
            out[self._current] = _loky_slot._executor
        return out


Fitted = Any


def fit_once(side: str, case: Case, n_jobs: int, slots: PoolSlots) -> tuple[float, Fitted]:
    cls: Callable[..., Any] = gridfold.GridSearchCV if side == "gf" else SkGridSearchCV
    slots.activate("sk" if side == "sk1" else side)
    search = cls(sklearn.clone(case.estimator), case.grid, cv=case.cv, n_jobs=n_jobs)
    start = time.perf_counter()
    search.fit(case.X, case.y)
    return time.perf_counter() - start, search


def identical(a: Fitted, b: Fitted) -> tuple[bool, str]:
    """Exact equality of mean/rank test scores and best params; why not, if not."""
    ra, rb = a.cv_results_, b.cv_results_
    problems = []
    if not np.array_equal(ra["mean_test_score"], rb["mean_test_score"], equal_nan=True):
        diff = np.nanmax(np.abs(ra["mean_test_score"] - rb["mean_test_score"]))
        problems.append(f"mean_test_score differs (max |diff| {diff:.3g})")
    if not np.array_equal(ra["rank_test_score"], rb["rank_test_score"]):
        problems.append("rank_test_score differs")
    if a.best_params_ != b.best_params_:
        problems.append(f"best_params_ {a.best_params_} != {b.best_params_}")
    return not problems, "; ".join(problems)


def run_case(case: Case, repeats: int, slots: PoolSlots, log: Callable[[str], None]) -> dict:
    times: dict[str, list[float]] = {"sk": [], "gf": [], "sk1": []}
    failures: list[str] = []
    row: dict[str, Any] = {
        "name": case.name,
        "note": case.note,
        "n_fits": case.n_fits,
        "target": case.target,
    }
    try:
        # Warm-ups: absorb pool start-up and first-import costs on each side.
        warm = {}
        warm["sk"], reference = fit_once("sk", case, -1, slots)
        warm["gf"], fitted = fit_once("gf", case, -1, slots)
        ok, why = identical(reference, fitted)
        if not ok:
            failures.append(f"warm-up: {why}")
        log(f"  warm-up  sk {warm['sk']:.2f}s  gf {warm['gf']:.2f}s")
        row["warmup"] = warm
        pools_after_warmup = slots.pools()

        for r in range(repeats):
            # sk gf | gf sk | sk gf ...: interleaved, and neither side always goes first.
            if r % 2 == 0:
                t_sk, sk = fit_once("sk", case, -1, slots)
                t_gf, gf = fit_once("gf", case, -1, slots)
            else:
                t_gf, gf = fit_once("gf", case, -1, slots)
                t_sk, sk = fit_once("sk", case, -1, slots)
            times["sk"].append(t_sk)
            times["gf"].append(t_gf)
            ok, why = identical(sk, gf)
            if not ok:
                failures.append(f"repeat {r}: {why}")
            log(f"  repeat {r}  sk {t_sk:.2f}s  gf {t_gf:.2f}s  ratio {t_sk / t_gf:.2f}")

        row["pool_restarted_during_repeats"] = [
            side
            for side, pool in slots.pools().items()
            if pools_after_warmup.get(side) is not None and pool is not pools_after_warmup[side]
        ]
        if case.sequential_context:
            for _ in range(max(1, repeats // 2)):
                t, _fitted = fit_once("sk1", case, 1, slots)
                times["sk1"].append(t)
            log(f"  sklearn n_jobs=1: {statistics.median(times['sk1']):.2f}s")
    except Exception as exc:  # reported in the table and the exit status
        failures.append(f"error: {type(exc).__name__}: {exc}")
        log(f"  FAILED: {type(exc).__name__}: {exc}")

    def med(side: str) -> float:
        return statistics.median(times[side]) if times[side] else float("nan")

    def low(side: str) -> float:
        return min(times[side]) if times[side] else float("nan")

    row.update(
        sklearn_s=med("sk"),
        gridfold_s=med("gf"),
        ratio=med("sk") / med("gf"),
        ratio_of_minima=low("sk") / low("gf"),
        identical=not failures,
        identity_failures=failures,
        sklearn_n_jobs1_s=med("sk1") if times["sk1"] else None,
        times=times,
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
        "identical",
        "ratio of minima",
        "sk n_jobs=1 s",
    ]
    body = [
        [
            r["name"],
            str(r["n_fits"]),
            f"{r['sklearn_s']:.3f}",
            f"{r['gridfold_s']:.3f}",
            f"{r['ratio']:.2f}",
            f">={r['target']:.2f}" + ("" if r["meets_target"] or np.isnan(r["ratio"]) else " MISS"),
            "yes" if r["identical"] else "NO",
            f"{r['ratio_of_minima']:.2f}",
            "" if r["sklearn_n_jobs1_s"] is None else f"{r['sklearn_n_jobs1_s']:.3f}",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    left = {0, 6}

    def fmt(line: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), sep, *(fmt(line) for line in body)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per side (default 5; 3 with --quick)",
    )
    parser.add_argument("--only", default=None, help="comma-separated benchmark names")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller data")
    parser.add_argument(
        "--shared-slot",
        action="store_true",
        help="do not give each side its own loky pool (see the module docstring)",
    )
    parser.add_argument(
        "--output", default=str(HERE / "results.json"), help="where to write the JSON results"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)

    cases = make_cases(args.quick)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {c.name for c in cases})
        if unknown:
            names = [c.name for c in cases]
            parser.error(f"unknown benchmark(s) {unknown}; expected names from {names}")
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
        "repeats": repeats,
        "quick": args.quick,
        "own_pool_per_side": not args.shared_slot,
    }
    log(f"gridfold benchmarks: {env}")
    slots = PoolSlots(enabled=not args.shared_slot)
    rows = []
    started = time.perf_counter()
    for case in cases:
        log(f"{case.name}: {case.note} ({case.n_fits} fits)")
        rows.append(run_case(case, repeats, slots, log))
    env["load_avg_end"] = os.getloadavg()
    env["total_s"] = time.perf_counter() - started

    print(format_table(rows))
    print(
        f"\nratio = sklearn median / gridfold median over {repeats} interleaved repeats "
        f"(> 1: gridfold faster); both n_jobs=-1 on {cpu_count()} cores; "
        f"total {env['total_s']:.0f}s;\n"
        "ratio of minima = fastest sklearn run / fastest gridfold run (less sensitive to load "
        f"from other processes); load average {env['load_avg_start'][0]:.1f} at start, "
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
