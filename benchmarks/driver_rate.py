"""How many results per second the driver takes in: 20,000 tiny fits into an SQLite store.

At cluster scale the workers are many and the driver is one: its loop per
arrived batch (ordering, batching, writing the batch to the store in one
transaction, handing results on) bounds the whole study's throughput. This
runs ``gridfold.GridSearchCV`` on a grid of 4000 ``DummyClassifier``
candidates x 5 folds of ``iris`` (a fit and its scoring take ~1 ms) with a
fresh SQLite store, and times, inside the driver process::

    python benchmarks/driver_rate.py [--repeats 3] [--n-jobs -1] [--candidates 4000]

- ``wall s`` and ``results/s``: the study end to end (what the workers and
  the driver together reached on this machine's cores);
- ``driver s``: the driver's own time per result batch, from a result's
  arrival to its hand-over (``_Driver._collect``: measurements, the store
  write, the callbacks) plus dispatch (``_take``: the longest-first queue and
  batching);
- ``intake/s``: results / driver s, the rate one driver could take in if
  workers were unlimited: the limit on a cluster;
- ``store s``: the part of it spent in ``SQLiteStore.put`` (one transaction
  per arrived batch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import StratifiedKFold

import gridfold
import gridfold.engine as engine
from gridfold.store.sqlite import SQLiteStore


class _Timer:
    """Accumulates the seconds spent in wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


def one_study(n_candidates: int, n_jobs: int, folder: Path, index: int) -> dict[str, float]:
    X, y = load_iris(return_X_y=True)
    grid = {
        "strategy": ["most_frequent", "prior", "stratified", "uniform"],
        "random_state": list(range(n_candidates // 4)),
    }
    timer = _Timer()
    originals = (engine._Driver._collect, engine._take, SQLiteStore.put)
    engine._Driver._collect = timer.wrap("collect", originals[0])  # type: ignore[method-assign]
    engine._take = timer.wrap("take", originals[1])
    SQLiteStore.put = timer.wrap("store", originals[2])  # type: ignore[method-assign]
    store = SQLiteStore(folder / f"rate{index}.db")
    try:
        search = gridfold.GridSearchCV(
            DummyClassifier(),
            grid,
            cv=StratifiedKFold(5, shuffle=True, random_state=0),
            n_jobs=n_jobs,
            store=store,
            refit=False,
        )
        start = time.perf_counter()
        search.fit(X, y)
        wall = time.perf_counter() - start
        n_results = len(store)
    finally:
        engine._Driver._collect, engine._take, SQLiteStore.put = originals  # type: ignore[method-assign]
        store.close()
    assert n_results == n_candidates * 5, n_results
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    driver = timer.seconds.get("collect", 0.0) + timer.seconds.get("take", 0.0)
    return {
        "results": float(n_results),
        "wall": wall,
        "driver": driver,
        "store": timer.seconds.get("store", 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--candidates", type=int, default=4000, help="x 5 folds (default 4000)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one_study(40, args.n_jobs, Path(tmp), -1)  # warm-up: the pool, imports
        for r in range(args.repeats):
            rows.append(one_study(args.candidates, args.n_jobs, Path(tmp), r))
            row = rows[-1]
            print(
                f"  repeat {r}: {row['wall']:.2f}s wall, driver {row['driver']:.2f}s, "
                f"store {row['store']:.2f}s",
                file=sys.stderr,
            )

    def med(key: str) -> float:
        return statistics.median(row[key] for row in rows)

    n = med("results")
    header = ["fits", "wall s", "results/s", "driver s", "intake/s", "store s", "store share"]
    values = [
        f"{n:.0f}",
        f"{med('wall'):.2f}",
        f"{n / med('wall'):.0f}",
        f"{med('driver'):.2f}",
        f"{n / med('driver'):.0f}",
        f"{med('store'):.2f}",
        f"{med('store') / med('driver'):.0%}",
    ]
    widths = [max(len(h), len(v)) for h, v in zip(header, values, strict=True)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)))
    print(
        f"\nmedians of {args.repeats} studies (DummyClassifier, {args.candidates} candidates x 5 "
        f"folds, SQLite store, n_jobs={args.n_jobs}); results/s = fits / wall; intake/s = fits / "
        "the driver's own seconds (dispatch, store writes, hand-over): what one driver takes in "
        "when workers are not the limit"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
