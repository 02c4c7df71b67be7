"""gridfold at an earlier revision against gridfold now, each against scikit-learn, alternately.

Ratios to scikit-learn drift from run to run on a shared machine. To tell a
regression from noise, this runs ``benchmarks/run.py`` (this tree's harness)
on the gridfold of an earlier commit and on the current one, in alternating
rounds, and prints each case's ratio (scikit-learn / gridfold) on both::

    python benchmarks/against.py REV [--rounds 2] [run.py options, e.g. --only hgb_path]

The earlier revision is checked out with ``git worktree`` in a temporary
folder and imported through ``PYTHONPATH`` (its worker processes inherit it),
so both sides run the same harness, data and scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(pythonpath: Path, args: list[str], output: Path) -> dict[str, float]:
    """One run of the harness on the gridfold found at ``pythonpath``: case -> ratio."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    command = [sys.executable, str(HERE / "run.py"), *args, "--output", str(output)]
    subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    rows = json.loads(output.read_text())["results"]
    return {row["name"]: row["ratio"] for row in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="the earlier commit (e.g. a hash or HEAD~5)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, alternating")
    args, harness = parser.parse_known_args(argv)
    ratios: dict[str, dict[str, list[float]]] = {"then": {}, "now": {}}
    with tempfile.TemporaryDirectory(prefix="gridfold-against-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.revision],
            check=True,
            capture_output=True,
        )
        try:
            for r in range(args.rounds):
                order = [("then", tree), ("now", ROOT)]
                for side, path in order if r % 2 == 0 else order[::-1]:
                    print(f"round {r}: gridfold {side}", file=sys.stderr, flush=True)
                    got = run(path, harness, Path(folder) / f"{side}{r}.json")
                    for case, ratio in got.items():
                        ratios[side].setdefault(case, []).append(ratio)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                check=False,
                capture_output=True,
            )
    print(f"{'benchmark':<18} {'then':>6} {'now':>6}   (sklearn / gridfold, median of rounds)")
    for case in ratios["now"]:
        then = statistics.median(ratios["then"].get(case, [float("nan")]))
        now = statistics.median(ratios["now"][case])
        print(f"{case:<18} {then:6.2f} {now:6.2f}")
    print(f"\ngridfold then = {args.revision}; {args.rounds} alternating runs per side")
    return 0


if __name__ == "__main__":
    sys.exit(main())
