"""A pytest plugin that runs scikit-learn's own search tests on gridfold's classes.

scikit-learn ships its tests in the wheel. With this plugin, the names
``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingGridSearchCV`` and
``HalvingRandomSearchCV`` of :mod:`sklearn.model_selection` are gridfold's
before any test module is imported, so
``sklearn/model_selection/tests/test_search.py`` and
``test_successive_halving.py`` test gridfold::

    python -m pytest -p gridfold.testing.sklearn_swap --pyargs \\
        sklearn.model_selection.tests.test_search \\
        sklearn.model_selection.tests.test_successive_halving

The halving classes are swapped in after scikit-learn's experimental flag
(``sklearn.experimental.enable_halving_search_cv``) has run, which the halving
tests import: run later, it would put scikit-learn's classes back.

The swap lasts for that pytest process only. After collection the plugin
checks that the test module really holds gridfold's classes, so a run that
would silently test scikit-learn's own classes fails instead.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["SWAPPED", "pytest_configure", "pytest_collection_finish", "pytest_report_header"]

#: The names swapped in ``sklearn.model_selection``, and gridfold's class for each.
SWAPPED = ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV")


def _gridfold_classes() -> dict[str, type]:
    import gridfold

    return {name: getattr(gridfold, name) for name in SWAPPED}


def pytest_configure(config: Any) -> None:
    """Put gridfold's classes in ``sklearn.model_selection`` before tests are imported."""
    # The halving tests import this flag, which sets scikit-learn's halving classes on
    # sklearn.model_selection when it first runs: run it now, so the test's import
    # finds it done and keeps gridfold's classes set below.
    import sklearn.experimental.enable_halving_search_cv  # noqa: F401
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
