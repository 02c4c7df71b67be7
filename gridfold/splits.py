"""The train and test parts of each split, cut once per process and copied for each fit.

scikit-learn's ``_fit_and_score`` cuts ``X`` and ``y`` with ``_safe_split``
for every fit, twice (train and test). On small data that is a large share of
a tiny fit: 2 x 80 us of a 2 ms decision tree on ``wine``, measured on this
project's 2-core machine. Every candidate of a split is fitted on the same
rows, so a worker cuts each split once and gives every fit its own copy.

Why the copy is the same data a fit would get (checked for each study):

- ``X`` is a NumPy ndarray and ``y`` an ndarray or None. ``_safe_split``
  then returns ``X[indices]`` and ``y[indices]``, or ``X[np.ix_(rows,
  columns)]`` for a pairwise estimator (precomputed kernels); the parts are
  cut by ``_safe_split`` itself, once per split and pairwise flag.
- Each fit gets ``part.copy(order="K")``: a new array that owns its memory,
  writeable, with the cut's values, dtype, shape and memory layout. A fit
  that changes its input in place changes its own copy only, as in
  scikit-learn, where every fit cuts afresh.
- The parts of a study's splits stay under :data:`BUDGET_BYTES`. Above it,
  copying a part costs about as much as cutting it, so nothing is saved,
  and the memory is not spent.

Otherwise (data frames, sparse matrices, lists, array API arrays, large
data) :func:`split_parts` returns None and fits go through scikit-learn's
``_fit_and_score`` unchanged.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from gridfold.tasks import StudyData

__all__ = ["SplitParts", "split_parts", "BUDGET_BYTES"]

#: Bytes the cut parts of one study may take in one process (see the module docstring).
BUDGET_BYTES = 64 * 2**20

Parts = tuple[Any, Any, Any, Any]


class SplitParts:
    """The parts of each split of one study, cut on first use and copied for each fit."""

    def __init__(self) -> None:
        self._parts: dict[tuple[int, bool], Parts] = {}

    def get(self, split: int, pairwise: bool, cut: Callable[[], Parts]) -> Parts:
        """Fresh copies of the parts of ``split``; ``cut()`` makes them the first time.

        ``pairwise`` keys the parts too: a pairwise estimator's are cut in two
        dimensions (``_safe_split``).
        """
        key = (split, pairwise)
        parts = self._parts.get(key)
        if parts is None:
            parts = self._parts.setdefault(key, cut())  # another thread may have cut it first
        return tuple(None if p is None else p.copy(order="K") for p in parts)  # type: ignore[return-value]


_lock = threading.Lock()
_by_data: dict[int, SplitParts | None] = {}


def split_parts(data: StudyData) -> SplitParts | None:
    """The cut parts of ``data``'s splits for this process, or None where they do not apply."""
    key = id(data)
    try:
        return _by_data[key]
    except KeyError:
        pass
    with _lock:
        if key not in _by_data:
            _by_data[key] = SplitParts() if _applies(data) else None
            weakref.finalize(data, _by_data.pop, key, None)  # forgotten with the study
        return _by_data[key]


def _applies(data: StudyData) -> bool:
    X, y = data.X, data.y
    if type(X) is not np.ndarray or not (y is None or type(y) is np.ndarray):
        return False
    row_bytes = X.nbytes / max(1, len(X)) + (0 if y is None else y.nbytes / max(1, len(y)))
    rows = sum(len(train) + len(test) for train, test in data.splits)
    return rows * row_bytes <= BUDGET_BYTES
