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

No limit is printed: scikit-learn's time over its fits' measured seconds spread
evenly on the cores is not one, since dispatch and pool start-up between its
three searches cost more than their fits on small data (``--quick`` printed
1.21 for that quotient and 1.66 for the ratio).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
from joblib import cpu_count
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.svm import SVC

import gridfold

GRID = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.01, 0.1]}


def _splitters() -> tuple[StratifiedKFold, StratifiedKFold]:
    outer = StratifiedKFold(3, shuffle=True, random_state=0)
    inner = StratifiedKFold(5, shuffle=True, random_state=1)
    return outer, inner


def sklearn_side(X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, Any]]:
    outer, inner = _splitters()
    search = SkGridSearchCV(SVC(), GRID, cv=inner, n_jobs=-1)
    start = time.perf_counter()
    out = cross_validate(search, X, y, cv=outer, return_estimator=True)
    return time.perf_counter() - start, out


def gridfold_side(X: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    outer, inner = _splitters()
    search = gridfold.GridSearchCV(SVC(), GRID, cv=inner)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per side")
    parser.add_argument("--quick", action="store_true", help="1000 rows instead of 3000")
    args = parser.parse_args(argv)
    n = 1000 if args.quick else 3000
    X, y = make_classification(n, 20, n_informative=8, flip_y=0.05, random_state=0)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    warm_sk, _ = sklearn_side(X, y)
    warm_gf, _ = gridfold_side(X, y)
    log(f"warm-up  sk {warm_sk:.2f}s  gf {warm_gf:.2f}s")
    sk_times: list[float] = []
    gf_times: list[float] = []
    failures: list[str] = []
    for r in range(args.repeats):
        sides = ("sk", "gf") if r % 2 == 0 else ("gf", "sk")
        for side in sides:
            if side == "sk":
                t, out = sklearn_side(X, y)
                sk_times.append(t)
            else:
                t, result = gridfold_side(X, y)
                gf_times.append(t)
        why = same(out, result)
        if why:
            failures.append(f"repeat {r}: {why}")
        log(f"repeat {r}  sk {sk_times[-1]:.2f}s  gf {gf_times[-1]:.2f}s")

    ratio = statistics.median(s / g for s, g in zip(sk_times, gf_times, strict=True))
    header = ("benchmark", "outer x cand x inner", "sklearn s", "gridfold s", "ratio", "target")
    row = (
        "nested_svc",
        f"3 x {len(GRID['C']) * len(GRID['gamma'])} x 5",
        f"{statistics.median(sk_times):.3f}",
        f"{statistics.median(gf_times):.3f}",
        f"{ratio:.2f}",
        ">=1.30" + ("" if ratio >= 1.3 else " MISS"),
    )
    tail = ("identical",)
    row_tail = ("yes" if not failures else "NO",)
    widths = [max(len(a), len(b)) for a, b in zip(header + tail, row + row_tail, strict=True)]
    for line in (header + tail, row + row_tail):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
    print(
        f"\n{X.shape[0]}x{X.shape[1]} rows; ratio = the median of each repeat's sklearn / gridfold "
        f"over {args.repeats} interleaved repeats, both n_jobs=-1 on {cpu_count()} cores; "
        "identical = equal outer scores and chosen parameters on every repeat"
    )
    for failure in failures:
        print(f"NOT IDENTICAL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
