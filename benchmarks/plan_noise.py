"""How much the same plan varies on this machine: the noise floor of ``plan/gf``.

``gridfold plan`` calibrates its prior by timing fits here. If the machine's speed
drifts, the same probe gives different predictions from moment to moment, and
no plan can be closer to a later run than that spread. This script prints:

- the same fit (an RBF SVC on (1600, 40), 5 fits per batch) timed batch after
  batch, right after the machine idled for ``--idle`` seconds: how long fits
  run slow after idle;
- ``benchmarks/run.py``'s ``plan_case`` for each named case, ``--times`` times
  in a row in this process: the predicted work of each call, and max / min::

    python benchmarks/plan_noise.py [svc_C_gamma tiny_trees] [--times 6] [--idle 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sklearn.datasets import make_classification
from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (the suite's cases and its plan_case)


def after_idle(idle: float, batches: int = 12) -> list[float]:
    """Seconds per batch of 5 identical SVC fits, starting after ``idle`` seconds of sleep."""
    X, y = make_classification(2000, 40, random_state=0)
    time.sleep(idle)
    out = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(5):
            SVC(C=1.0).fit(X[:1600], y[:1600])
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["svc_C_gamma", "tiny_trees"])
    parser.add_argument("--times", type=int, default=6)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    batches = after_idle(args.idle)
    print(f"SVC batch after {args.idle:g} s idle: " + " ".join(f"{t:.3f}" for t in batches))
    print(f"first / last batch: {batches[0] / batches[-1]:.2f}")
    cases = {c.name: c for c in run.make_cases(False)}
    for name in args.cases:
        case = cases[name]
        X, y = case.data()
        work = [run.plan_case(case, X, y).total_seconds for _ in range(args.times)]
        print(
            f"{name}: predicted work "
            + " ".join(f"{w:.2f}" for w in work)
            + f" s; max / min {max(work) / min(work):.2f}"
        )


if __name__ == "__main__":
    main()
