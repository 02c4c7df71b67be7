"""How fast can an exact search of the HGB benchmark grids be, at best, on this machine?

Run from the repository root::

    python benchmarks/hgb_bound.py [--case hgb_path|hgb_path_default] [--repeats 3]

``hgb_path`` (``benchmarks/run.py``) is
``HistGradientBoostingClassifier(early_stopping=False)`` on 6000 rows,
``hgb_path_default`` the estimator's defaults (early stopping) on 15000, both with
``max_iter`` in {50, 100, 200, 400} and 5 folds. However the work is shared, an exact
search must still fit the longest candidate on each fold's training part, score every
candidate on its test part, and fit the best candidate on the whole data (the refit),
which may be the longest. This script times exactly that least work, one fit at a time
on one core (HGB's result does not depend on the thread count, see
``gridfold/sharing/boosting.py``), and scikit-learn's ``GridSearchCV(n_jobs=-1)`` on the
same grid, interleaved, and prints the best ratio any exact method could reach on
``cpu_count`` cores: scikit-learn's wall time over the least work spread perfectly over
every core.
"""

from __future__ import annotations

import argparse
import statistics
import time

from joblib import cpu_count
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

GRID = {"max_iter": [50, 100, 200, 400]}
#: case -> (estimator, rows), as in benchmarks/run.py
CASES = {
    "hgb_path": (HistGradientBoostingClassifier(random_state=0, early_stopping=False), 6000),
    "hgb_path_default": (HistGradientBoostingClassifier(random_state=0), 15000),
}


def least_work(estimator: object, X: object, y: object, cv: StratifiedKFold) -> float:
    """Core-seconds of the work no exact method can skip (fits on one thread)."""
    longest = clone(estimator).set_params(max_iter=max(GRID["max_iter"]))
    total = 0.0
    with threadpool_limits(limits=1):
        for train, test in cv.split(X, y):
            start = time.perf_counter()
            model = clone(longest).fit(X[train], y[train])
            model.score(X[test], y[test])  # every candidate's scores, from one pass at best
            total += time.perf_counter() - start
        start = time.perf_counter()
        clone(longest).fit(X, y)  # the refit: the best candidate is at most this long
        total += time.perf_counter() - start
    return total


def sklearn_search(estimator: object, X: object, y: object, cv: StratifiedKFold) -> float:
    start = time.perf_counter()
    GridSearchCV(clone(estimator), GRID, cv=cv, n_jobs=-1).fit(X, y)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="hgb_path")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    estimator, rows = CASES[args.case]
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    sklearn_search(estimator, X, y, cv)  # warm-up: start joblib's workers
    work, sk = [], []
    for _ in range(args.repeats):
        work.append(least_work(estimator, X, y, cv))
        sk.append(sklearn_search(estimator, X, y, cv))
    cores = cpu_count()
    least, sk_s = statistics.median(work), statistics.median(sk)
    print(f"{args.case}: least work of an exact search: {least:.3f} core-s")
    print(f"  (median of {args.repeats})")
    print(f"  on {cores} cores at best:      {least / cores:.3f} s")
    print(f"scikit-learn GridSearchCV(n_jobs=-1): {sk_s:.3f} s")
    print(f"best possible ratio on {cores} cores: {sk_s / (least / cores):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
