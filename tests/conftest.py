"""Shared fixtures. A hung test dumps every thread's stack before the timeout kills it."""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator

import numpy as np
import pytest

HANG_SECONDS = 240


@pytest.fixture(autouse=True)
def _dump_stacks_if_hung() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=False, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------
# Small bundled data sets and helpers shared by the exactness, drop-in,
# executor, error and compare suites. Session-scoped: loaded once.
# --------------------------------------------------------------------------

#: (backend, n_jobs) for every local executor, as the search faces take them.
BACKENDS = [("sequential", 1), ("threads", 2), ("processes", 2)]
BACKEND_IDS = [b for b, _ in BACKENDS]

#: cv_results_ keys whose values are wall-clock times, hence never equal.
TIMING_KEYS = frozenset({"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"})


@pytest.fixture(scope="session")
def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import (
        load_breast_cancer,
        load_diabetes,
        load_digits,
        load_iris,
        load_wine,
    )

    digits_X, digits_y = load_digits(return_X_y=True)
    return {
        "iris": load_iris(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "digits": (digits_X[:300], digits_y[:300]),
        "diabetes": load_diabetes(return_X_y=True),
    }


def assert_cv_results_equal(got: dict, expected: dict) -> None:
    """Same keys and dtypes; masked param columns equal with their masks;
    every non-timing array exactly equal; ``params`` equal."""
    assert sorted(got) == sorted(expected)
    for key in expected:
        a, b = got[key], expected[key]
        if key == "params":
            assert a == b
            continue
        assert type(a) is type(b), key
        assert a.dtype == b.dtype, (key, a.dtype, b.dtype)
        assert a.shape == b.shape, key
        if isinstance(b, np.ma.MaskedArray):
            np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b), key)
            assert list(a.compressed()) == list(b.compressed()), key
            continue
        if key in TIMING_KEYS:
            continue
        np.testing.assert_array_equal(a, b, err_msg=key)


@pytest.fixture(scope="session")
def cv_results_equal():  # type: ignore[no-untyped-def]
    return assert_cv_results_equal
