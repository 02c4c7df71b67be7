"""scikit-learn's own search tests, run on gridfold's classes.

scikit-learn ships ``sklearn/model_selection/tests/test_search.py`` in its
wheel. It is run twice, in two pytest subprocesses started together: as
shipped, and with ``GridSearchCV``/``RandomizedSearchCV`` swapped for
gridfold's (:mod:`gridfold.testing.sklearn_swap`). Every test that passes as
shipped must pass swapped in.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SUITE = "sklearn.model_selection.tests.test_search"


def _outcomes(junit: Path) -> dict[str, str]:
    """Test id -> "passed", "failed" or "skipped", from a JUnit XML report."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "passed"
        if kinds & {"failure", "error"}:
            outcome = "failed"
        elif "skipped" in kinds:
            outcome = "skipped"
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes


def run_suite(folder: Path, suite: str, timeout: float) -> dict[str, tuple[dict[str, str], str]]:
    """Run scikit-learn's test module ``suite`` as shipped and swapped in, at once.

    Returns each run's test outcomes and its output, by "shipped" and "gridfold".
    """
    plugins = {"shipped": [], "gridfold": ["-p", "gridfold.testing.sklearn_swap"]}
    procs = {}
    for name, extra in plugins.items():
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            *extra,
            "--pyargs",
            suite,
            f"--junit-xml={folder / name}.xml",
        ]
        # In a folder of its own: this project's pytest settings must not apply.
        procs[name] = subprocess.Popen(
            command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    out = {}
    for name, proc in procs.items():
        text, _ = proc.communicate(timeout=timeout)
        out[name] = (_outcomes(folder / f"{name}.xml"), text)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, str], str]]:
    return run_suite(tmp_path_factory.mktemp("sklearn_suite"), SUITE, timeout=900)


def test_swapped_run_tests_gridfold(runs: dict[str, tuple[dict[str, str], str]]) -> None:
    _, text = runs["gridfold"]
    assert "sklearn.model_selection.GridSearchCV is gridfold.search.GridSearchCV" in text


def test_every_test_that_passes_as_shipped_passes_on_gridfold(
    runs: dict[str, tuple[dict[str, str], str]],
) -> None:
    shipped, _ = runs["shipped"]
    swapped, text = runs["gridfold"]
    passed = sorted(t for t, outcome in shipped.items() if outcome == "passed")
    assert len(passed) >= 100, "scikit-learn's suite did not run as expected"
    broken = [t for t in passed if swapped.get(t) != "passed"]
    assert not broken, f"{len(broken)} of {len(passed)} fail on gridfold: {broken}\n{text[-5000:]}"
