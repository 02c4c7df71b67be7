"""Imports every built-in family module so each registers itself."""

from __future__ import annotations

import gridfold.sharing.boosting
import gridfold.sharing.forest
import gridfold.sharing.knn
import gridfold.sharing.ridge
import gridfold.sharing.transformers  # noqa: F401
