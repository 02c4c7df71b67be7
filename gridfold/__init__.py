"""gridfold: parallel model selection, exact to scikit-learn.

Compare learning algorithms with (repeated) k-fold cross-validation and tune
hyperparameters with grid, random and successive-halving search, sequentially
or on all cores of one machine (worker processes or threads).

Public names are imported on first use, so ``import gridfold`` (and the
``gridfold`` command's ``--help``) does not pay for importing scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "GridSearchCV": "gridfold.search",
    "RandomizedSearchCV": "gridfold.search",
    "HalvingGridSearchCV": "gridfold.halving",
    "HalvingRandomSearchCV": "gridfold.halving",
    "compare": "gridfold.comparison",
    "CompareResult": "gridfold.comparison",
    "MultiCompareResult": "gridfold.comparison",
    "nested_cv": "gridfold.nested",
    "NestedResult": "gridfold.nested",
    "FiveByTwo": "gridfold.stats",
    "available_backends": "gridfold.executors",
    "GridfoldError": "gridfold.exceptions",
    "ParameterError": "gridfold.exceptions",
    "ParameterTypeError": "gridfold.exceptions",
    "DataError": "gridfold.exceptions",
    "ConfigError": "gridfold.exceptions",
    "ExecutorError": "gridfold.exceptions",
}

__all__ = [
    "GridSearchCV",
    "RandomizedSearchCV",
    "HalvingGridSearchCV",
    "HalvingRandomSearchCV",
    "compare",
    "CompareResult",
    "MultiCompareResult",
    "nested_cv",
    "NestedResult",
    "FiveByTwo",
    "available_backends",
    "GridfoldError",
    "ParameterError",
    "ParameterTypeError",
    "DataError",
    "ConfigError",
    "ExecutorError",
    "__version__",
]

if TYPE_CHECKING:
    from gridfold.comparison import CompareResult, MultiCompareResult, compare
    from gridfold.exceptions import (
        ConfigError,
        DataError,
        ExecutorError,
        GridfoldError,
        ParameterError,
        ParameterTypeError,
    )
    from gridfold.executors import available_backends
    from gridfold.halving import HalvingGridSearchCV, HalvingRandomSearchCV
    from gridfold.nested import NestedResult, nested_cv
    from gridfold.search import GridSearchCV, RandomizedSearchCV
    from gridfold.stats import FiveByTwo


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gridfold' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
