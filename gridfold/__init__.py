"""gridfold: parallel model selection, exact to scikit-learn.

Compare learning algorithms with (repeated) k-fold cross-validation and tune
hyperparameters with grid and random search, sequentially, on all cores of one
machine, or on a Dask cluster.
"""

from __future__ import annotations

from gridfold.compare import CompareResult, compare
from gridfold.exceptions import (
    ConfigError,
    DataError,
    ExecutorError,
    GridfoldError,
    ParameterError,
)
from gridfold.executors import available_backends
from gridfold.search import GridSearchCV, RandomizedSearchCV

__version__ = "0.1.0"

__all__ = [
    "GridSearchCV",
    "RandomizedSearchCV",
    "compare",
    "CompareResult",
    "available_backends",
    "GridfoldError",
    "ParameterError",
    "DataError",
    "ConfigError",
    "ExecutorError",
    "__version__",
]
