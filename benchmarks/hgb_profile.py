"""The HGB facts the sharing code and its cost model rest on, measured on this machine.

Run from the repository root::

    python benchmarks/hgb_profile.py

On the data of ``benchmarks/run.py``'s ``hgb_path`` (6000 rows, early stopping
off) and ``hgb_path_default`` (15000 rows, the defaults), ``max_iter`` in
{50, 100, 200, 400}, 5 stratified folds, it prints:

- the whole-data fit of ``max_iter=400`` on 1 and on 2 OpenMP threads (the
  early refit's cost model counts HGB's refit after the search as one core's,
  ``gridfold/sharing/early_refit.py``);
- per fold, the shared fit's seconds and iterations (early stopping makes
  folds uneven, which no schedule chosen before the fits can know);
- per fold, the seconds to score the four views on the test part, each on its
  own and with their prefix sums shared (``HistGradientBoostingPath.scoring_views``).

Fits run one at a time, on one thread unless said otherwise; each time is the
median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from gridfold.sharing.boosting import HistGradientBoostingPath

VALUES = [50, 100, 200, 400]
CASES = {
    "hgb_path": (HistGradientBoostingClassifier(random_state=0, early_stopping=False), 6000),
    "hgb_path_default": (HistGradientBoostingClassifier(random_state=0), 15000),
}


def timed(repeats: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Median seconds of ``work()`` over ``repeats`` runs, and its last result."""
    seconds, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def score_all(views: list[Any], X: Any, y: Any) -> None:
    for view in views:
        view.score(X, y)


def profile(case: str, repeats: int) -> None:
    estimator, rows = CASES[case]
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    longest = clone(estimator).set_params(max_iter=max(VALUES))
    print(f"{case} ({rows} rows)")
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            seconds, _ = timed(repeats, lambda: clone(longest).fit(X, y))
        print(f"  whole-data fit, {threads} thread(s): {seconds:.3f} s")
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    with threadpool_limits(limits=1):
        for k, (train, test) in enumerate(cv.split(X, y)):
            print(f"  fold {k}: " + fold(estimator, X, y, train, test, repeats))


def fold(estimator: Any, X: Any, y: Any, train: Any, test: Any, repeats: int) -> str:
    """One fold's shared fit and its views' scoring, alone and sharing prefix sums."""
    fam = HistGradientBoostingPath()
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    fit_s, views = timed(repeats, lambda: fam.fit_views(estimator, VALUES, X_train, y_train, {}))
    alone_s, _ = timed(repeats, lambda: score_all(views, X_test, y_test))

    def shared() -> None:  # on copies: scoring_views patches the views it is given
        score_all(fam.scoring_views([copy.copy(v) for v in views]), X_test, y_test)

    shared_s, _ = timed(repeats, shared)
    return (
        f"shared fit {fit_s:.3f} s ({views[-1].n_iter_} iterations), "
        f"scoring 4 views {alone_s:.3f} s alone, {shared_s:.3f} s sharing prefix sums"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for case in CASES:
        profile(case, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
