"""A pytest plugin that runs scikit-learn's own search tests on gridfold's classes.

scikit-learn ships its tests in the wheel. With this plugin, the names
``GridSearchCV`` and ``RandomizedSearchCV`` of :mod:`sklearn.model_selection`
are gridfold's before any test module is imported, so
``sklearn/model_selection/tests/test_search.py`` tests gridfold::

    python -m pytest -p gridfold.testing.sklearn_swap --pyargs \\
        sklearn.model_selection.tests.test_search

The swap lasts for that pytest process only. After collection the plugin
checks that the test module really holds gridfold's classes, so a run that
would silently test scikit-learn's own classes fails instead.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["SWAPPED", "pytest_configure", "pytest_collection_finish", "pytest_report_header"]

#: The names swapped in ``sklearn.model_selection``, and gridfold's class for each.
SWAPPED = ("GridSearchCV", "RandomizedSearchCV")


def _gridfold_classes() -> dict[str, type]:
    import gridfold

    return {name: getattr(gridfold, name) for name in SWAPPED}


def pytest_configure(config: Any) -> None:
    """Put gridfold's classes in ``sklearn.model_selection`` before tests are imported."""
    import sklearn.model_selection

    for name, cls in _gridfold_classes().items():
        setattr(sklearn.model_selection, name, cls)


def pytest_report_header(config: Any) -> str:
    """Say in the header what is being tested."""
    return "gridfold.testing.sklearn_swap: " + ", ".join(
        f"sklearn.model_selection.{n} is {c.__module__}.{c.__qualname__}"
        for n, c in _gridfold_classes().items()
    )


def pytest_collection_finish(session: Any) -> None:
    """Refuse to run if a collected scikit-learn test module kept scikit-learn's classes."""
    classes = _gridfold_classes()
    for name, module in list(sys.modules.items()):
        if not name.startswith("sklearn.") or ".tests." not in name:
            continue
        for attr, cls in classes.items():
            held = getattr(module, attr, cls)
            if held is not cls:
                raise RuntimeError(
                    f"{name}.{attr} is {held!r}, not gridfold's {cls!r}: the module was imported "
                    "before the swap. Fix: load this plugin with -p on the command line."
                )
