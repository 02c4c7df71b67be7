"""The two contracts of shared work, and their registry.

A :class:`PathFamily` answers several candidates of one estimator that differ
only in one parameter (``n_neighbors``, ``alpha``, ``n_estimators``...) with one
fit per split. A :class:`TransformerPath` does the same for a transformer step
inside a pipeline (``PCA.n_components``, ``SelectKBest.k``).

Both promise *exactness*: every view they return predicts (or transforms)
bit for bit as a separately fitted estimator with that parameter value would.
``applies`` must return False whenever that cannot be guaranteed; gridfold
then fits the candidates one by one. A new family is one small module that
subclasses one of these and calls :func:`register` (see ``forest.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "Family",
    "PathFamily",
    "TransformerPath",
    "register",
    "families",
    "family",
    "path_family",
]


class Family(ABC):
    """What both contracts share: which estimators, which parameter, which values.

    Attributes
    ----------
    name : str
        Registry key, also shown in plans.
    param : str
        The path parameter, as ``estimator.get_params()`` names it.
    estimator_types : tuple of type
        Classes the family may apply to (exact class match, not subclasses:
        a subclass may change the behaviour the family relies on).
    """

    name: ClassVar[str]
    param: ClassVar[str]
    estimator_types: ClassVar[tuple[type, ...]]

    def matches(self, estimator: Any) -> bool:
        """Cheap pre-check: is ``estimator`` of one of the family's classes?"""
        return type(estimator) in self.estimator_types

    @abstractmethod
    def partition(self, estimator: Any, values: Sequence[Any], n_train: int) -> list[list[int]]:
        """Split ``values`` into groups one fit answers exactly.

        ``estimator`` carries every parameter of the candidates but ``param``.
        Returns lists of indices into ``values``; an index left out of every
        group, or alone in one, is fitted on its own. Return ``[]`` when the
        path is not exact for these settings (say, no integer random_state).
        """


class PathFamily(Family):
    """Candidates differing only in ``param`` answered by one fit.

    Attributes
    ----------
    shares_scoring : bool
        Whether the views of one fit share scoring work (a cache keyed on
        the array they are scored on, filled by whichever view is scored
        first); their scoring time is then divided equally among them.
    """

    shares_scoring: ClassVar[bool] = False

    @abstractmethod
    def fit_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[Any]:
        """Fit once on ``X, y``; return one fitted estimator per value.

        Each must behave, for every method a scorer may call, exactly as
        ``clone(estimator).set_params(**{param: value}).fit(X, y, **fit_params)``.
        """

    def scoring_views(self, views: list[Any]) -> list[Any]:
        """The views of one :meth:`fit_views` call, as a worker scores them.

        They are scored and thrown away, never returned, so they may share
        work between them (the prefix sums of a boosting run's predictions,
        say), as long as every method still returns, bit for bit, what the
        separately fitted estimator's would. The default shares nothing.
        """
        return views

    def refit_exact(self, estimator: Any, values: Sequence[Any]) -> bool:
        """Whether :meth:`fit_views` on the whole data may stand in for a search's refit.

        True only if every view *is* the separately fitted estimator, not just
        one that predicts the same: equal ``get_params()`` (the very value
        objects) and every fitted attribute, random generators' states
        included, so that anything done with ``best_estimator_`` later (a warm
        start, pickling, reading an attribute) is the same too. The default is
        False. The planner weighs such a refit with :meth:`cost`.
        """
        return False

    def in_caller(self, view: Any) -> Any:
        """A refit view, fitted in a worker, as a fit in the calling process leaves it.

        For what a fit records about where it ran (a thread count, say); called
        in the caller on the view the search keeps. The default changes nothing.
        """
        return view

    def cost(self, values: Sequence[Any]) -> float:
        """Relative cost of one :meth:`fit_views` per training row, for the planner.

        Only ratios between fits of the same family matter (a fold against the
        whole data, a small path against a large one); the default is the
        largest value, right for counts of trees or iterations.
        """
        return float(max(values))


class TransformerPath(Family):
    """A pipeline step whose candidates differ only in ``param``, fitted once."""

    @abstractmethod
    def fit_transform_views(
        self, estimator: Any, values: Sequence[Any], X: Any, y: Any, fit_params: dict[str, Any]
    ) -> list[tuple[Any, Any]]:
        """Fit once; per value, the fitted transformer and its ``fit_transform(X)`` output.

        Both must equal, bit for bit, what a separate
        ``clone(estimator).set_params(**{param: value}).fit_transform(X, y)`` gives.
        """


_FAMILIES: dict[str, PathFamily | TransformerPath] = {}


def register(family: PathFamily | TransformerPath) -> PathFamily | TransformerPath:
    """Add ``family`` to the registry; later registrations replace earlier ones."""
    _FAMILIES[family.name] = family
    return family


def families() -> list[PathFamily | TransformerPath]:
    """Every registered family."""
    _load_builtin()
    return list(_FAMILIES.values())


def family(name: str) -> PathFamily | TransformerPath:
    """The registered family called ``name``."""
    _load_builtin()
    return _FAMILIES[name]


def path_family(name: str) -> PathFamily:
    """The registered :class:`PathFamily` called ``name`` (a unit's ``kind``)."""
    fam = family(name)
    if not isinstance(fam, PathFamily):
        raise TypeError(f"{name!r} is a {type(fam).__name__}, not a PathFamily")
    return fam


def _load_builtin() -> None:
    # Imported on first use so that importing gridfold stays cheap.
    from gridfold.sharing import builtin  # noqa: F401
