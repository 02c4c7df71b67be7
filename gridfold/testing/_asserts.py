"""Assertions the shipped suites use, with no test framework needed."""

from __future__ import annotations

import pickle
import re
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["raises", "assert_same_state"]


@contextmanager
def raises(expected: type[BaseException], match: str | None = None) -> Iterator[None]:
    """Assert that the block raises ``expected`` whose message matches ``match`` (re.search)."""
    try:
        yield
    except expected as exc:
        if match is not None and not re.search(match, str(exc)):
            message = f"{type(exc).__name__}({str(exc)!r}) does not match {match!r}"
            raise AssertionError(message) from exc
        return
    raise AssertionError(f"the block did not raise {expected.__name__}")


def assert_same_state(
    a: Any, b: Any, where: str = "model", seen: set[tuple[int, int]] | None = None
) -> None:
    """``a`` and ``b`` hold the same state, recursively: arrays bit for bit (and dtype),
    trees' node arrays, estimators' ``vars()``, random generators' states."""
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:  # compared already (models hold cycles: bound methods)
        return
    seen.add((id(a), id(b)))
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where, strict=True)
    elif _is_tree(a):
        assert_same_state(a.__getstate__(), b.__getstate__(), f"{where}.tree_", seen)
    elif isinstance(a, np.random.RandomState):
        assert_same_state(a.get_state(legacy=False), b.get_state(legacy=False), where, seen)
    elif isinstance(a, np.random.Generator):
        assert_same_state(a.bit_generator.state, b.bit_generator.state, where, seen)
    elif isinstance(a, dict):
        assert sorted(a, key=repr) == sorted(b, key=repr), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]", seen)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]", seen)
    elif isinstance(a, types.MethodType):
        # A method stored on the instance (HGB's patched _raw_predict): the same function,
        # bound to the model being compared (whose state is compared anyway).
        assert a.__func__ is b.__func__, where
    elif isinstance(a, float | np.floating) and np.isnan(a):
        assert np.isnan(b), where
    elif hasattr(a, "__dict__") and not isinstance(a, type | types.FunctionType):
        assert_same_state(vars(a), vars(b), where, seen)
    elif type(a).__eq__ is object.__eq__ and hasattr(a, "__reduce__"):
        # Extension types without __dict__ (HGB's Cython losses): their pickled state.
        assert pickle.dumps(a) == pickle.dumps(b), where
    else:
        assert a == b, (where, a, b)


def _is_tree(obj: Any) -> bool:
    """A scikit-learn Cython ``Tree`` (compared through its pickled state)."""
    from gridfold._sklearn import Tree

    return isinstance(obj, Tree)
