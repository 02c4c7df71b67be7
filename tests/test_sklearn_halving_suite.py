"""scikit-learn's own successive-halving tests, run on gridfold's classes.

As ``tests/test_sklearn_suite.py`` does for ``test_search.py``:
``sklearn/model_selection/tests/test_successive_halving.py`` (shipped in the
wheel) runs twice, in two pytest subprocesses started together: as shipped,
and with ``HalvingGridSearchCV``/``HalvingRandomSearchCV`` (and the other
searches) swapped for gridfold's (:mod:`gridfold.testing.sklearn_swap`).
Every test that passes as shipped must pass swapped in: the issue's floor is
90%, and none is excluded.
"""

from __future__ import annotations

import pytest
from test_sklearn_suite import run_suite

SUITE = "sklearn.model_selection.tests.test_successive_halving"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, str], str]]:
    return run_suite(tmp_path_factory.mktemp("sklearn_halving_suite"), SUITE, timeout=600)


def test_swapped_run_tests_gridfold(runs: dict[str, tuple[dict[str, str], str]]) -> None:
    _, text = runs["gridfold"]
    for name in ("HalvingGridSearchCV", "HalvingRandomSearchCV"):
        assert f"sklearn.model_selection.{name} is gridfold.halving.{name}" in text


def test_every_test_that_passes_as_shipped_passes_on_gridfold(
    runs: dict[str, tuple[dict[str, str], str]],
) -> None:
    shipped, _ = runs["shipped"]
    swapped, text = runs["gridfold"]
    passed = sorted(t for t, outcome in shipped.items() if outcome == "passed")
    assert len(passed) >= 90, "scikit-learn's suite did not run as expected"
    broken = [t for t in passed if swapped.get(t) != "passed"]
    assert not broken, f"{len(broken)} of {len(passed)} fail on gridfold: {broken}\n{text[-5000:]}"
