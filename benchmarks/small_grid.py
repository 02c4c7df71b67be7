"""The fixed cost of a small study: gridfold, scikit-learn and dask-ml side by side.

An SVC grid of 3 C x 3 gamma on ``digits`` with 5 folds (45 fits, about 2 s
on 2 cores) is small enough that start-up and per-study costs show. Each side
is warmed up once (pools started), then the repeats are interleaved::

    python benchmarks/small_grid.py [--repeats 15]

Sides: scikit-learn's ``GridSearchCV(n_jobs=-1)`` (loky), gridfold's on
processes and on threads, and, if ``dask-ml`` is installed (``pip install
dask-ml``; not a dependency of gridfold), dask-ml's ``GridSearchCV`` on dask's
threaded scheduler, the peer the issue names. The table gives each side's
median time and scikit-learn / that side (> 1: faster than scikit-learn), and
checks that every side found scikit-learn's ``mean_test_score`` exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

import gridfold

GRID = {"C": [0.1, 1.0, 10.0], "gamma": [1e-4, 1e-3, 1e-2]}
CV = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)


def sides() -> dict[str, Callable[[], Any]]:
    found: dict[str, Callable[[], Any]] = {
        "scikit-learn": lambda: SkGridSearchCV(SVC(), GRID, cv=CV, n_jobs=-1),
        "gridfold processes": lambda: gridfold.GridSearchCV(SVC(), GRID, cv=CV, n_jobs=-1),
        "gridfold threads": lambda: gridfold.GridSearchCV(
            SVC(), GRID, cv=CV, n_jobs=-1, backend="threads"
        ),
    }
    try:
        from dask_ml.model_selection import GridSearchCV as DaskGridSearchCV
    except ImportError:
        print("dask-ml is not installed: its side is left out (pip install dask-ml)")
    else:
        found["dask-ml threads"] = lambda: DaskGridSearchCV(SVC(), GRID, cv=CV, n_jobs=-1)
    return found


def _scheduler(name: str) -> contextlib.AbstractContextManager[Any]:
    if not name.startswith("dask"):
        return contextlib.nullcontext()
    import dask

    return dask.config.set(scheduler="threads")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed fits per side")
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    makers = sides()
    reference = None
    identical = {}
    for name, make in makers.items():  # warm-up
        with _scheduler(name):
            fitted = make().fit(X, y)
        scores = np.asarray(fitted.cv_results_["mean_test_score"])
        reference = scores if reference is None else reference
        identical[name] = bool(np.array_equal(scores, reference))
    times: dict[str, list[float]] = {name: [] for name in makers}
    for r in range(args.repeats):
        order = list(makers) if r % 2 == 0 else list(makers)[::-1]
        for name in order:
            search = makers[name]()
            with _scheduler(name):
                start = time.perf_counter()
                search.fit(X, y)
                times[name].append(time.perf_counter() - start)
    sk = statistics.median(times["scikit-learn"])
    print(f"{'side':<20} {'median s':>9} {'sklearn / side':>15}  identical")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<20} {med:9.3f} {sk / med:15.2f}  {'yes' if identical[name] else 'NO'}")
    print(f"\nmedians of {args.repeats} interleaved fits per side, after one warm-up each")
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
