"""Nested cross-validation: gridfold.nested_cv against scikit-learn's cross_validate(search).

Run from the repository root::

    python benchmarks/nested.py [--repeats 3] [--quick]

scikit-learn's side is what a user writes today,
``cross_validate(GridSearchCV(SVC(), grid, cv=inner, n_jobs=-1), X, y, cv=outer)``:
three searches one after the other, each a pool of 9 candidates x 5 inner
splits, then its refit on one core. gridfold's side is
``gridfold.nested_cv(GridSearchCV(SVC(), grid, cv=inner), X, y, outer_cv=outer,
n_jobs=-1)``: the 3 x 9 x 5 inner fits as one set of units in one pool, then the
three outer refits side by side. Both get the same data, grid and splitters.

Each side is warmed up once (pool start-up, first imports); the timed repeats
are interleaved (sk gf, gf sk, ...), and the ratio is the median of each
repeat's own sk / gf (the two run back to back). **identical**: the outer test
scores equal (``np.array_equal``) and every outer fold chose the same
parameters, checked on every repeat.

Two grids: ``nested_svc`` (C x gamma, 3000 x 20 rows: 135 short fits of
similar length) and ``nested_svc_C_range`` (C from 1e-2 to 1e3 on noisy rows:
libsvm's iterations grow steeply with C, so each search ends on its slowest
candidate's fits, and scikit-learn's pool idles at the end of each of its three
searches while gridfold's one pool fills those gaps with the next fold's fits).

**limit** = scikit-learn's wall time / (gridfold's own measured work / cores):
the ratio gridfold would reach if it spread every second its fits, refits and
scoring took perfectly on the cores, with no overhead at all (the median over
repeats). gridfold cannot beat it without doing less work, and nested
cross-validation of a plain SVC grid has nothing to share: every inner fit is
on its own rows. **sk work limit** is the same with scikit-learn's measured work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import cpu_count
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.svm import SVC

import gridfold

GRID = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.01, 0.1]}
C_RANGE = {"C": list(np.logspace(-2, 3, 6))}


@dataclass(frozen=True)
class Case:
    name: str
    grid: dict[str, list[Any]]
    data: Callable[[int], tuple[np.ndarray, np.ndarray]]


def _plain(n: int) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n, 20, n_informative=8, flip_y=0.05, random_state=0)


def _noisy(n: int) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n, 5, n_informative=3, flip_y=0.1, random_state=0)


CASES = (Case("nested_svc", GRID, _plain), Case("nested_svc_C_range", C_RANGE, _noisy))


def _splitters() -> tuple[StratifiedKFold, StratifiedKFold]:
    outer = StratifiedKFold(3, shuffle=True, random_state=0)
    inner = StratifiedKFold(5, shuffle=True, random_state=1)
    return outer, inner


def sklearn_side(grid: dict, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, Any]]:
    outer, inner = _splitters()
    search = SkGridSearchCV(SVC(), grid, cv=inner, n_jobs=-1)
    start = time.perf_counter()
    out = cross_validate(search, X, y, cv=outer, return_estimator=True)
    return time.perf_counter() - start, out


def gridfold_side(grid: dict, X: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    outer, inner = _splitters()
    search = gridfold.GridSearchCV(SVC(), grid, cv=inner)
    start = time.perf_counter()
    result = gridfold.nested_cv(search, X, y, outer_cv=outer, n_jobs=-1)
    return time.perf_counter() - start, result


def same(out: dict[str, Any], result: Any) -> str | None:
    """None if both sides scored and chose alike, else what differs."""
    if not np.array_equal(out["test_score"], result.test_score):
        return f"outer scores {out['test_score']} != {result.test_score}"
    theirs = [search.best_params_ for search in out["estimator"]]
    if theirs != list(result.best_params):
        return f"chosen parameters {theirs} != {list(result.best_params)}"
    return None


def _inner_work(cv_results: dict[str, Any], n_splits: int) -> float:
    per_candidate = np.asarray(cv_results["mean_fit_time"]) + cv_results["mean_score_time"]
    return float(per_candidate.sum()) * n_splits


def sklearn_work(out: dict[str, Any]) -> float:
    """Seconds scikit-learn's fits, refits and outer scoring took, as it measured them."""
    inner = sum(_inner_work(s.cv_results_, s.n_splits_) + s.refit_time_ for s in out["estimator"])
    return inner + float(np.sum(out["score_time"]))


def gridfold_work(result: Any) -> float:
    """The same for gridfold's nested_cv (its refits' fit and outer score times)."""
    _, inner = _splitters()
    n_inner = inner.get_n_splits()
    searches = sum(_inner_work(r, n_inner) for r in result.cv_results if r is not None)
    return searches + float(result.scores["fit_time"].sum() + result.scores["score_time"].sum())


def run_case(case: Case, n: int, repeats: int, log: Callable[[str], None]) -> tuple[str, ...]:
    """Time both sides of ``case``; its table row."""
    X, y = case.data(n)
    grid = case.grid
    log(f"{case.name}: {X.shape[0]}x{X.shape[1]}, grid {grid}")
    warm_sk, _ = sklearn_side(grid, X, y)
    warm_gf, _ = gridfold_side(grid, X, y)
    log(f"  warm-up  sk {warm_sk:.2f}s  gf {warm_gf:.2f}s")
    sk_times: list[float] = []
    gf_times: list[float] = []
    limits: list[float] = []
    sk_limits: list[float] = []
    failures: list[str] = []
    cores = cpu_count()
    for r in range(repeats):
        sides = ("sk", "gf") if r % 2 == 0 else ("gf", "sk")
        for side in sides:
            if side == "sk":
                t, out = sklearn_side(grid, X, y)
                sk_times.append(t)
            else:
                t, result = gridfold_side(grid, X, y)
                gf_times.append(t)
        why = same(out, result)
        if why:
            failures.append(f"{case.name} repeat {r}: {why}")
        limits.append(sk_times[-1] / (gridfold_work(result) / cores))
        sk_limits.append(sk_times[-1] / (sklearn_work(out) / cores))
        log(
            f"  repeat {r}  sk {sk_times[-1]:.2f}s  gf {gf_times[-1]:.2f}s  "
            f"ratio {sk_times[-1] / gf_times[-1]:.2f}  limit {limits[-1]:.2f}"
        )
    ratio = statistics.median(s / g for s, g in zip(sk_times, gf_times, strict=True))
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    return (
        case.name,
        f"3 x {n_candidates} x 5",
        f"{X.shape[0]}x{X.shape[1]}",
        f"{statistics.median(sk_times):.3f}",
        f"{statistics.median(gf_times):.3f}",
        f"{ratio:.2f}",
        ">=1.30" + ("" if ratio >= 1.3 else " MISS"),
        f"{statistics.median(limits):.2f}",
        f"{statistics.median(sk_limits):.2f}",
        "yes" if not failures else "NO: " + "; ".join(failures),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per side")
    parser.add_argument("--quick", action="store_true", help="1000 rows instead of 3000")
    parser.add_argument("--only", help="comma-separated case names")
    args = parser.parse_args(argv)
    n = 1000 if args.quick else 3000
    wanted = set(args.only.split(",")) if args.only else {c.name for c in CASES}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    header = (
        "benchmark",
        "outer x cand x inner",
        "rows",
        "sklearn s",
        "gridfold s",
        "ratio",
        "target",
        "limit",
        "sk work limit",
        "identical",
    )
    rows = [run_case(case, n, args.repeats, log) for case in CASES if case.name in wanted]
    widths = [max(len(line[i]) for line in (header, *rows)) for i in range(len(header))]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
    print(
        f"\nratio = the median of each repeat's sklearn / gridfold over {args.repeats} interleaved "
        f"repeats, both n_jobs=-1 on {cpu_count()} cores; limit = sklearn / (gridfold's measured "
        "fit + refit + score seconds / cores), the ratio with no overhead and perfect packing "
        "(sk work limit: the same with sklearn's measured seconds); identical = equal outer "
        "scores and chosen parameters on every repeat"
    )
    return 1 if any(not row[-1].startswith("yes") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
