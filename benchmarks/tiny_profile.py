"""Where the time of 2000 tiny fits goes, with gridfold's n_jobs=-1 against its n_jobs=1.

The ``tiny_trees`` study (a decision-tree grid of 400 candidates x 5 folds on
``wine``) is fitted with ``n_jobs=1`` and with ``n_jobs=-1`` (processes),
interleaved, and the CPU time of every process is read from ``/proc``
(Linux): the driver (this process: the engine, the pool's manager thread) and
each worker. It prints, per study::

    python benchmarks/tiny_profile.py [--repeats 5]

- ``n_jobs=1 s``: the sequential study's wall time, and its CPU per fit;
- ``n_jobs=-1 s``: the parallel study's wall time;
- ``driver cpu s``: what the driver process spent (dispatch, results, planning);
- ``workers cpu s``: what the workers spent, and per fit;
- ``idle s``: cores x wall - driver - workers: time no process of the study used a core;
- ``efficiency``: n_jobs=1 s / (cores x n_jobs=-1 s).

Per-fit CPU in the workers against the sequential fit shows what running two
fits side by side costs on this machine (shared caches and memory, the
hypervisor); ``benchmarks/parallel_limit.py`` measures the same without gridfold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from joblib import cpu_count

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parallel_limit import data, study  # noqa: E402  (the same study, the same grid)

N_FITS = 400 * 5
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _workers() -> list[int]:
    from gridfold.executors import local

    pool: Any = local._pool
    return [] if pool is None else [w.process.pid for w in pool._workers]


def _timed(search: Any, X: Any, y: Any) -> tuple[float, float, float]:
    """Wall seconds, driver CPU seconds, workers' CPU seconds of one fit of ``search``."""
    workers = _workers()
    before = (_cpu(os.getpid()), sum(_cpu(p) for p in workers))
    start = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - start
    assert _workers() == workers, "a worker was replaced during the study"
    return wall, _cpu(os.getpid()) - before[0], sum(_cpu(p) for p in workers) - before[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="studies per side")
    args = parser.parse_args(argv)
    X, y = data()
    sequential, parallel = study(1), study(-1)
    sequential.fit(X, y)
    parallel.fit(X, y)  # warm-up: starts the pool
    rows: dict[str, list[float]] = {k: [] for k in ("seq", "wall", "driver", "workers")}
    for _ in range(args.repeats):
        rows["seq"].append(_timed(sequential, X, y)[0])
        wall, driver, workers = _timed(parallel, X, y)
        rows["wall"].append(wall)
        rows["driver"].append(driver)
        rows["workers"].append(workers)
    med = {k: statistics.median(v) for k, v in rows.items()}
    cores = cpu_count()
    idle = cores * med["wall"] - med["driver"] - med["workers"]
    print(
        "n_jobs=1 s  per fit ms  n_jobs=-1 s  driver cpu s  workers cpu s  per fit ms  "
        "idle s  efficiency"
    )
    print(
        f"{med['seq']:10.3f}  {med['seq'] / N_FITS * 1e3:10.3f}  {med['wall']:11.3f}  "
        f"{med['driver']:12.3f}  {med['workers']:13.3f}  {med['workers'] / N_FITS * 1e3:10.3f}  "
        f"{idle:6.3f}  {med['seq'] / (cores * med['wall']):10.2f}"
    )
    print(
        f"\nmedians of {args.repeats} studies each ({N_FITS} fits), {cores} cores; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
