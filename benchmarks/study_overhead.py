"""What a study costs on a warm process pool besides its fits: the plan's fixed terms.

``gridfold plan`` predicts a study's wall time as the list schedule of its
units plus what the run spends around them: writing the data where the
workers map it, the workers mapping it (first touch of its pages), dispatch
and collection. This script times a study whose fits cost nothing
(``DummyClassifier``, 2 candidates x 5 folds) on a warm pool of ``n_jobs=-1``
for data of several sizes, and fits ``seconds = fixed + per_mb x MB`` by least
squares::

    python benchmarks/study_overhead.py [--repeats 9]

The constants :data:`gridfold.cost.STUDY_FIXED` and
:data:`gridfold.cost.STUDY_PER_MB` are this fit on this project's 2-core
machine; the script prints them beside the fit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier

import gridfold
from gridfold.cost import STUDY_FIXED, STUDY_PER_MB

SHAPES = ((150, 4), (2000, 60), (8000, 60), (20000, 200), (40000, 200))


def _time(X: np.ndarray, y: np.ndarray) -> float:
    search = gridfold.GridSearchCV(
        DummyClassifier(), {"strategy": ["prior", "most_frequent"]}, cv=5, n_jobs=-1, refit=False
    )
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    sizes, medians = [], []
    print(f"{'rows x features':>16}  {'MB':>7}  {'median s':>9}  {'plan s':>7}")
    for rows, features in SHAPES:
        X, y = make_classification(rows, features, random_state=0)
        _time(X, y)  # warm-up: the pool's start-up, first calls
        median = statistics.median(_time(X, y) for _ in range(args.repeats))
        mb = X.nbytes / 1e6
        sizes.append(mb)
        medians.append(median)
        plan = STUDY_FIXED + STUDY_PER_MB * mb
        print(f"{rows:>8} x {features:<5}  {mb:7.1f}  {median:9.4f}  {plan:7.4f}")
    per_mb, fixed = np.polyfit(sizes, medians, 1)
    print(f"least squares: fixed {fixed:.4f} s + {per_mb * 1000:.3f} ms/MB")
    print(f"gridfold.cost: fixed {STUDY_FIXED:.4f} s + {STUDY_PER_MB * 1000:.3f} ms/MB")


if __name__ == "__main__":
    main()
