"""Cost of the SQLite results store: the same 2000 tiny fits with and without it.

    python benchmarks/store_overhead.py [--repeats 5]

Both runs use gridfold's GridSearchCV(n_jobs=-1) on the ``tiny_trees`` grid of
``benchmarks/run.py`` (DecisionTreeClassifier on iris, 400 candidates x 5
folds); the store run writes to a fresh SQLite file each repeat (nothing to
resume). Repeats are interleaved; the ratio is of medians. It also checks the
two ``cv_results_`` are identical and that the store holds all 2000 fits.
Exits 1 if they differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from gridfold import GridSearchCV
from gridfold.store import SQLiteStore

GRID = {
    "max_depth": list(range(1, 11)),
    "min_samples_split": [2, 3, 4, 5, 6, 8, 10, 12, 16, 20],
    "criterion": ["gini", "entropy"],
    "splitter": ["best", "random"],
}
TIMING = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


def _run(X: np.ndarray, y: np.ndarray, store: object) -> tuple[float, dict]:
    search = GridSearchCV(
        DecisionTreeClassifier(random_state=0), GRID, n_jobs=-1, refit=False, store=store
    )
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search.cv_results_


def _same(a: dict, b: dict) -> bool:
    return all(
        k in b and (k in TIMING or k == "params" and a[k] == b[k] or np.array_equal(a[k], b[k]))
        for k in a
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    X, y = load_iris(return_X_y=True)
    _run(X, y, None)  # warm the worker pool
    plain, stored, identical, complete = [], [], True, True
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            t_plain, r_plain = _run(X, y, None)
            path = Path(tmp) / f"r{i}.db"
            t_store, r_store = _run(X, y, str(path))
            with SQLiteStore(path) as store:
                complete &= len(store) == len(r_plain["params"]) * 5
            plain.append(t_plain)
            stored.append(t_store)
            identical &= _same(r_plain, r_store)
    p, s = statistics.median(plain), statistics.median(stored)
    print(
        f"{'case':<22} {'n_fits':>6} {'no store s':>10} {'sqlite s':>9} {'overhead':>9}"
        f" {'target':>7}  identical  complete"
    )
    print(
        f"{'tiny_trees+store':<22} {2000:>6} {p:>10.3f} {s:>9.3f} {s / p - 1:>8.1%}"
        f" {'<=10%':>7}  {'yes' if identical else 'NO':<9}  {'yes' if complete else 'NO'}"
    )
    rounded = {
        name: [round(t, 3) for t in ts] for name, ts in (("plain", plain), ("sqlite", stored))
    }
    print(f"repeats: no store {rounded['plain']}, sqlite {rounded['sqlite']}")
    return 0 if identical and complete else 1


if __name__ == "__main__":
    sys.exit(main())
