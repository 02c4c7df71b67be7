"""Exceptions raised by gridfold.

Every error gridfold raises on bad input derives from :class:`GridfoldError`
and, where scikit-learn would raise a ``ValueError`` for the same input, also
from ``ValueError`` so that existing ``except ValueError`` code keeps working.
Messages say what was expected, what was given, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "GridfoldError",
    "ParameterError",
    "ParameterTypeError",
    "DataError",
    "ConfigError",
    "ExecutorError",
    "StoreError",
]


class GridfoldError(Exception):
    """Base class of every error gridfold raises on purpose."""


class ParameterError(GridfoldError, ValueError):
    """A search space or an argument is invalid.

    Raised for an unknown parameter name, an empty grid, an invalid ``n_jobs``
    or an unknown backend, before any fit runs.
    """


class ParameterTypeError(ParameterError, TypeError):
    """A search space or an argument has the wrong type.

    Raised where scikit-learn raises a ``TypeError`` for the same input (a
    grid value that is not a list, say), so ``except TypeError`` code keeps
    working; it is also a :class:`ParameterError`.
    """


class DataError(GridfoldError, ValueError):
    """``X``, ``y`` or the fit parameters do not fit together or the task.

    Raised for inconsistent numbers of samples, or a target that does not fit
    the estimator (continuous ``y`` for a classifier, say).
    """


class ConfigError(GridfoldError, ValueError):
    """A study file is malformed or names something that does not exist.

    ``str(err)`` starts with the file name and, where known, the line.
    """


class ExecutorError(GridfoldError, RuntimeError):
    """An executor could not be created or could not run tasks."""


class StoreError(GridfoldError, RuntimeError):
    """A results store could not be opened, read or written.

    Raised for a store path whose folder does not exist, a file that is not a
    gridfold results store (not an SQLite database, another program's database,
    or another schema version), a database that stays locked by other
    processes, or a row that cannot be stored. ``str(err)`` names the store,
    says why, and how to fix it.
    """
