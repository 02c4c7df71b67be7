"""Imports every built-in family module so each registers itself."""

from __future__ import annotations

from gridfold.sharing import forest  # noqa: F401
