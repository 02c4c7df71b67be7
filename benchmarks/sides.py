"""Any two ways of running gridfold (or scikit-learn) on the benchmark grids, side by side.

Two questions of the issue "Scale out and schedule well" are answered here::

    python benchmarks/sides.py gf1 gf                 # n_jobs=-1 never slower than n_jobs=1?
    python benchmarks/sides.py gf gf_dask --only svc_dask_10s   # Dask vs processes, ~10 s SVC grid

The first side is the reference. Every side is warmed up once (pools and
Dask workers started), then the repeats are interleaved (a b, b a, ...). The
table gives each side's median wall time of ``fit``, the ratio reference /
side (> 1: the side is faster), and whether every side's ``mean_test_score``,
``rank_test_score``, ``best_params_`` and ``best_estimator_`` predictions are
identical to the reference's, bit for bit, on every repeat.

Sides: ``sk`` / ``sk1`` (scikit-learn ``n_jobs=-1`` / ``1``), ``gf`` / ``gf1``
(gridfold ``n_jobs=-1`` / ``1``, processes), ``gf_threads``, and ``gf_dask``:
gridfold on a Dask ``LocalCluster`` of one single-threaded worker process per
core, started once for the whole run (a cluster's start-up is not a search's).
Cases: those of ``run.py`` (``--suite``, ``--only``, ``--quick``) plus
``svc_dask_10s``, an RBF SVC grid of about 10 s on two cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (the suite's cases, sides and identity check)

import gridfold  # noqa: E402


def extra_cases(quick: bool) -> list[run.Case]:
    n = 1500 if quick else 3000
    return [
        run.Case(
            name="svc_dask_10s",
            suite="dask",
            estimator=SVC(),
            grid={"C": [0.1, 1.0, 10.0, 100.0], "gamma": ["scale", 0.003, 0.01, 0.03]},
            data=run._classification(n, 40, n_informative=15, flip_y=0.05, random_state=0),
            target=1 / 1.15,  # Dask at most 15% slower than processes
            note=f"SVC, 4 C x 4 gamma, ({n}, 40): about 10 s on 2 cores",
        )
    ]


def start_dask() -> Any:
    """A LocalCluster of single-threaded worker processes, one per core, and its client."""
    from distributed import Client, LocalCluster
    from joblib import cpu_count

    cluster = LocalCluster(
        n_workers=cpu_count(), threads_per_worker=1, processes=True, dashboard_address=None
    )
    run.SIDES["gf_dask"] = (gridfold.GridSearchCV, -1, {"scheduler": Client(cluster)})
    return cluster


def time_case(case: run.Case, sides: list[str], repeats: int) -> dict[str, Any]:
    X, y = case.data()
    times: dict[str, list[float]] = {s: [] for s in sides}
    same = True
    why = ""
    for side in sides:  # warm-up: pools, workers, imports
        run.fit_once(side, case, X, y)
    for r in range(repeats):
        order = sides if r % 2 == 0 else sides[::-1]
        fitted = {}
        for side in order:
            seconds, fitted[side] = run.fit_once(side, case, X, y)
            times[side].append(seconds)
        for side in sides[1:]:
            ok, reason = run.identical(fitted[sides[0]], fitted[side], X)
            if not ok:
                same, why = False, f"{side}: {reason}"
    medians = {s: statistics.median(t) for s, t in times.items()}
    return {"case": case.name, "medians": medians, "identical": same, "why": why}


def format_rows(rows: list[dict[str, Any]], sides: list[str]) -> str:
    ref = sides[0]
    head = ["case", *(f"{s} (s)" for s in sides), *(f"{ref}/{s}" for s in sides[1:]), "identical"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for row in rows:
        m = row["medians"]
        cells = [row["case"], *(f"{m[s]:.2f}" for s in sides)]
        cells += [f"{m[ref] / m[s]:.2f}" for s in sides[1:]]
        cells.append("yes" if row["identical"] else f"NO ({row['why']})")
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sides", nargs="+", help="sides to time; the first is the reference")
    parser.add_argument("--only", default=None, help="comma-separated case names")
    parser.add_argument("--suite", default=None, choices=[*run.SUITES, "dask"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cases = run.make_cases(args.quick) + extra_cases(args.quick)
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    elif args.suite:
        cases = [c for c in cases if c.suite == args.suite]
    else:
        cases = [c for c in cases if c.suite != "dask"]
    cluster = start_dask() if "gf_dask" in args.sides else None
    try:
        rows = []
        for case in cases:
            rows.append(time_case(case, args.sides, args.repeats))
            print(f"  {case.name}: {rows[-1]['medians']}", file=sys.stderr, flush=True)
    finally:
        if cluster is not None:
            cluster.close()
    print(format_rows(rows, args.sides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
