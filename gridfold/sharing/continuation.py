"""Rungs that continue: a fit with a larger budget grown from the last rung's fit.

Successive halving fits each surviving candidate again with ``factor`` times
the budget. When the budget is an estimator parameter that grows a model
(``n_estimators`` of a seeded forest), the larger fit begins with the smaller
one: the first 9 trees of a 27-tree forest are the 9-tree forest's trees. A
:class:`Growth` continues the smaller fit (the rung before, on the same
training rows) to the larger budget, and promises that the result equals, in
every fitted attribute, ``clone(estimator).set_params(**candidate).fit(X, y)``;
the conditions are in the growth's own module (``forest.py``).

How it runs: a halving search (:mod:`gridfold.halving`) gives each rung's
:class:`~gridfold.tasks.Model` a :class:`~gridfold.tasks.Continuation`, the
last rung's fits of the same candidates per split. A worker continues each
task's start (:func:`evaluate_grown`), scores it as ``_fit_and_score`` would,
and sends the grown fit back as a :class:`~gridfold.tasks.KeptFit` while later
rungs may need it. A task without a start (the first rung, a fit read back
from a store, a start lost with a worker) is fitted afresh; a continuation
that raises is redone as a plain fit, which records any error exactly as
scikit-learn does. ``fit_time`` is the time this rung's fit took: the growth
only, for a continued one.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sklearn.base import clone

from gridfold import _sklearn
from gridfold.tasks import KeptFit, Result, Study, Task

__all__ = ["Growth", "register_growth", "growth_for", "evaluate_grown"]


class Growth(ABC):
    """Continue a fitted estimator to a larger value of one parameter, exactly.

    Attributes
    ----------
    name : str
        Registry key (a :class:`~gridfold.tasks.Continuation`'s ``kind``).
    param : str
        The budget parameter, as ``estimator.get_params()`` names it.
    estimator_types : tuple of type
        Classes it applies to (exact class match, as the path families).
    """

    name: ClassVar[str]
    param: ClassVar[str]
    estimator_types: ClassVar[tuple[type, ...]]

    def applies(self, estimator: Any) -> bool:
        """Whether fits of ``estimator`` (every parameter but ``param`` set) continue exactly."""
        return type(estimator) in self.estimator_types and self.exact(estimator)

    @abstractmethod
    def exact(self, estimator: Any) -> bool:
        """The growth's conditions on the other parameters (a seeded ``random_state``...)."""

    @abstractmethod
    def grow(self, start: Any, estimator: Any, X: Any, y: Any, fit_params: dict[str, Any]) -> Any:
        """``estimator`` (unfitted, with the larger budget) fitted by continuing ``start``.

        ``start`` is the same settings' fit on the same ``X, y`` and fit
        params with a smaller or equal budget; it must not be changed (a
        retried task starts from it again). The result must equal
        ``clone(estimator).fit(X, y, **fit_params)`` in every fitted attribute.
        """


_GROWTHS: dict[str, Growth] = {}


def register_growth(growth: Growth) -> Growth:
    """Add ``growth`` to the registry; a later one of the same name replaces it."""
    _GROWTHS[growth.name] = growth
    return growth


def growth_for(estimator: Any, param: str) -> Growth | None:
    """The growth that continues ``estimator``'s fits along ``param``, if one applies."""
    from gridfold.sharing import builtin  # noqa: F401 - registers the built-in growths

    for growth in _GROWTHS.values():
        if growth.param == param and growth.applies(estimator):
            return growth
    return None


def _growth(name: str) -> Growth:
    from gridfold.sharing import builtin  # noqa: F401

    return _GROWTHS[name]


def evaluate_grown(study: Study, task: Task) -> list[Result]:
    """``task``'s result, its fit continued from the study's start for it if there is one.

    Then, if the model's continuation keeps fits, the fitted estimator as a
    :class:`~gridfold.tasks.KeptFit`.
    """
    continuation = study.models[task.model].continuation
    assert continuation is not None
    start = continuation.starts.get((task.candidate, task.split))
    if start is None and not continuation.keep:
        return [_sklearn.fit_and_score(study, task)]
    fitted, result = _fit(study, task, _growth(continuation.kind), start)
    if result is None:  # the fit raised: a plain fit records the error exactly
        return [_sklearn.fit_and_score(study, task)]
    if continuation.keep:
        return [result, KeptFit(task, fitted)]
    return [result]


def _fit(study: Study, task: Task, growth: Growth, start: Any) -> tuple[Any, Any]:
    """The task's fit (grown from ``start``, or fresh without one) and its scored result.

    ``(None, None)`` if the fit raised. Scored by :func:`_sklearn.score_fitted`,
    as ``_fit_and_score`` scores a fit that succeeded.
    """
    model = study.models[task.model]
    params = model.candidates[task.candidate]
    X_train, y_train, X_test, y_test = _sklearn.split_data(model.estimator, study, task.split)
    fit_params = _sklearn.train_fit_params(study, task.split)
    begin = time.time()
    try:
        estimator = clone(model.estimator).set_params(**clone(params, safe=False))
        if start is None:
            fitted = estimator.fit(X_train, y_train, **fit_params)
        else:
            fitted = growth.grow(start, estimator, X_train, y_train, fit_params)
    except Exception:  # noqa: BLE001 - the plain fit records the error exactly
        return None, None
    fit_time = time.time() - begin
    result = _sklearn.score_fitted(
        study, task, fitted, (X_train, y_train), (X_test, y_test), fit_time
    )
    return fitted, result
