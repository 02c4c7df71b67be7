"""svc_C_range: how close gridfold's wall time is to the best any order of its own fits gives.

Run from the repository root::

    python benchmarks/crange_bound.py [--runs 5]

Each run fits ``benchmarks/run.py``'s ``svc_C_range`` grid with
``gridfold.GridSearchCV(n_jobs=-1)`` (after one warm-up run that starts the
pool) and prints its wall time next to a bound computed from that run's own
measured fits (a ``MemoryStore`` keeps every fit's fit and score time): the
longest-first list schedule of its 35 fits on the cores, plus its refit after
the search. No order of the same fits ends sooner than that schedule by more than
Graham's 4/3 - 1/(3m) factor, and on this grid it is the optimum: the five
C=1e4 fits, each ~20x the others, put three on one worker. ``wall / bound``
near 1 says the order is not what keeps the ratio against scikit-learn
(``python benchmarks/run.py --only svc_C_range``) near its order limit.

Since the tail refit (:mod:`gridfold.sharing.tail_refit`), a worker that the
tail leaves idle refits the leader during the search, so that bound is no
longer a floor: the script also prints the longest-first schedule of the fits
with the refit as one more unit (``hidden s``), the best any schedule that
overlaps the refit can do with these fits, and ``wall / hidden``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from joblib import cpu_count

import gridfold
from gridfold.cost import makespan
from gridfold.store import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as suite  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    case = next(c for c in suite.make_cases(False) if c.name == "svc_C_range")
    X, y = case.data()

    def fit() -> tuple[float, gridfold.GridSearchCV, MemoryStore]:
        store = MemoryStore()
        search = gridfold.GridSearchCV(
            sklearn.clone(case.estimator), case.grid, cv=case.cv, n_jobs=-1, store=store
        )
        start = time.perf_counter()
        search.fit(X, y)
        return time.perf_counter() - start, search, store

    fit()  # the pool's start-up
    print(
        "run  wall s  C=1e4 fit s (mean, std)  refit s  in search  bound s  wall/bound"
        "  hidden s  wall/hidden"
    )
    for r in range(args.runs):
        wall, search, store = fit()
        rows = store.rows()
        assert len(rows) == 7 * case.n_splits, "every fit ran (none read from a store)"
        fits = [row.fit_time + row.score_time for row in rows]
        bound = makespan(sorted(fits, reverse=True), cpu_count()) + search.refit_time_
        hidden = makespan(sorted([*fits, search.refit_time_], reverse=True), cpu_count())
        big = np.array([row.fit_time for row in rows if "10000" in row.params])
        taken = "yes" if search._refit_during_search else "no"
        print(
            f"{r:>3}  {wall:6.2f}  {big.mean():6.2f}, {big.std():4.2f}            "
            f"{search.refit_time_:7.2f}  {taken:>9}  {bound:7.2f}  {wall / bound:10.2f}"
            f"  {hidden:8.2f}  {wall / hidden:11.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
