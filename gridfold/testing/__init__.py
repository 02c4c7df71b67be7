"""Test suites that gridfold ships, for gridfold itself and for third-party extensions.

As optuna ships its storage tests, gridfold ships the contracts of its three
extension points as checks anyone can run on their own implementation, plus
a plugin that runs scikit-learn's own tests on gridfold's searches:

- :func:`check_store` (:mod:`gridfold.testing.stores`): a results store;
- :func:`check_executor` (:mod:`gridfold.testing.executors`): an executor backend;
- :func:`check_family` (:mod:`gridfold.testing.families`): a path family;
- :mod:`gridfold.testing.sklearn_swap`: a pytest plugin that swaps gridfold's
  searches into ``sklearn.model_selection`` for scikit-learn's test suite.

Each ``check_*`` raises ``AssertionError`` naming the check that failed; the
``*_CHECKS`` dicts hold the individual checks, to parametrize tests over.
Importing this package imports nothing heavy until a suite is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "STORE_CHECKS",
    "check_store",
    "EXECUTOR_CHECKS",
    "check_executor",
    "FAMILY_CHECKS",
    "check_family",
]

_HOME = {
    "STORE_CHECKS": "gridfold.testing.stores",
    "check_store": "gridfold.testing.stores",
    "EXECUTOR_CHECKS": "gridfold.testing.executors",
    "check_executor": "gridfold.testing.executors",
    "FAMILY_CHECKS": "gridfold.testing.families",
    "check_family": "gridfold.testing.families",
}

if TYPE_CHECKING:
    from gridfold.testing.executors import EXECUTOR_CHECKS, check_executor
    from gridfold.testing.families import FAMILY_CHECKS, check_family
    from gridfold.testing.stores import STORE_CHECKS, check_store


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'gridfold.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
