"""Never fit twice: path families and shared pipeline prefixes.

:func:`plan_units` groups a study's tasks into units of shared work and
:func:`evaluate_unit` runs one unit in a worker. Each family is one module
registered in :mod:`gridfold.sharing.builtin`; the contracts are in
:mod:`gridfold.sharing.base`.
"""

from __future__ import annotations

from gridfold.sharing.base import PathFamily, TransformerPath, families, register
from gridfold.sharing.evaluate import evaluate_unit
from gridfold.sharing.planner import plan_units

__all__ = [
    "PathFamily",
    "TransformerPath",
    "evaluate_unit",
    "families",
    "plan_units",
    "register",
]
