"""How much faster can two workers be than one, on this machine, for 2000 tiny fits?

The engine benchmark's ``tiny_trees`` case (a decision-tree grid of 400
candidates x 5 folds on ``wine``: 2000 fits of about 2 ms) asks gridfold's
``n_jobs=-1`` for at least 90% of twice the throughput of its own
``n_jobs=1``. Two workers can only reach 2x if a fit runs as fast beside
another fit as alone. This script measures what two processes reach with no
parallel machinery at all: two independent Python processes, started
together, each running the same study with ``n_jobs=1`` (no pool, no pickling,
no driver). Their throughput, relative to one such process alone, bounds
every two-worker scheme here from above: a pool only adds work to it. Then it
times gridfold's ``n_jobs=-1`` in the same run and prints both::

    python benchmarks/parallel_limit.py [--repeats 9]

Columns: ``alone s`` the median time of one process's study (n_jobs=1, alone);
``side by side s`` the median time of the same study in each of two
processes running at once; ``limit`` = 2 x alone / side by side, the best
speed-up any two workers can give; ``gridfold n_jobs=-1 s`` and its
``speed-up`` over ``alone``; ``efficiency`` = speed-up / 2 (the issue's floor
is 0.90) and ``of limit`` = speed-up / limit.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
from typing import Any

CHILD = """
import sys, time
sys.path.insert(0, {here!r})
from parallel_limit import data, study
search = study(n_jobs={n_jobs})
X, y = data()
search.fit(X, y)  # warm-up: imports, first-call costs, the pool's start-up
print("ready", flush=True)
for line in sys.stdin:  # one study per "go"
    start = time.perf_counter()
    search.fit(X, y)
    print(time.perf_counter() - start, flush=True)
"""


def study(n_jobs: int) -> Any:
    """gridfold's tiny-trees search (the same grid as benchmarks/run.py's ``tiny_trees``)."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier

    import gridfold

    grid = {
        "max_depth": list(range(1, 11)),
        "min_samples_split": [2, 3, 4, 5, 6, 8, 10, 12, 16, 20],
        "criterion": ["gini", "entropy"],
        "splitter": ["best", "random"],
    }
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    return gridfold.GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=cv, n_jobs=n_jobs)


@functools.cache
def data() -> tuple[Any, Any]:
    """The ``wine`` data set, loaded once."""
    from sklearn.datasets import load_wine

    return load_wine(return_X_y=True)


class Side:
    """``copies`` processes, each fitting the study with ``n_jobs`` when told to, together.

    Every side runs in fresh processes set up alike, so that none carries
    another's objects (a larger heap slows Python's garbage collector).
    """

    def __init__(self, n_jobs: int, copies: int = 1) -> None:
        code = CHILD.format(here=os.path.dirname(os.path.abspath(__file__)), n_jobs=n_jobs)
        self.children = [
            subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(copies)
        ]
        for child in self.children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"

    def run(self) -> list[float]:
        """Each process's study time; the processes start together."""
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        return [float(child.stdout.readline()) for child in self.children]  # type: ignore[union-attr]

    def close(self) -> None:
        for child in self.children:
            child.communicate(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="rounds (one study per side)")
    args = parser.parse_args(argv)
    # One of each per round, so that load from elsewhere on the machine hits each alike.
    sides = {"alone": Side(1), "pair": Side(1, copies=2), "pool": Side(-1)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, side in sides.items():
            times[name] += side.run()
    for side in sides.values():
        side.close()
    alone, pair_times, pool = times["alone"], times["pair"], times["pool"]
    t1, t2, tp = (statistics.median(v) for v in (alone, pair_times, pool))
    limit = 2 * t1 / t2
    speedup = t1 / tp
    header = "alone s  side by side s  limit  gridfold n_jobs=-1 s  speed-up  efficiency  of limit"
    print(header)
    print(
        f"{t1:7.3f}  {t2:14.3f}  {limit:5.2f}  {tp:20.3f}  {speedup:8.2f}  "
        f"{speedup / 2:10.2f}  {speedup / limit:8.2f}"
    )
    print(
        f"\nlimit = 2 x alone / side by side: the speed-up two processes give with no parallel "
        f"machinery\n(efficiency at the limit: {limit / 2:.2f}); medians of "
        f"{len(alone)} studies per column; load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
