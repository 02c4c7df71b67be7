"""Input checks that run before any fit, with errors that say how to fix them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.utils import indexable
from sklearn.utils.multiclass import type_of_target

from gridfold._sklearn import num_samples
from gridfold.exceptions import DataError, ParameterError

__all__ = ["check_data", "check_candidates", "check_grid_not_empty", "estimator_name"]


def estimator_name(estimator: Any) -> str:
    return type(estimator).__name__


def check_data(X: Any, y: Any, estimator: Any, fit_params: Mapping[str, Any]) -> tuple[Any, Any]:
    """``indexable(X, y)``, with clear errors for mismatched lengths and targets."""
    if X is None:
        raise DataError("X is None. Expected an array-like of shape (n_samples, n_features).")
    lengths = {"X": num_samples(X)}
    if y is not None:
        lengths["y"] = num_samples(y)
    if "sample_weight" in fit_params and fit_params["sample_weight"] is not None:
        lengths["sample_weight"] = num_samples(fit_params["sample_weight"])
    if len(set(lengths.values())) > 1:
        given = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise DataError(
            f"Inconsistent numbers of samples: {given}. Expected one row per sample in each; "
            "fix: pass X, y (and sample_weight) for the same samples, in the same order."
        )
    X, y = indexable(X, y)
    _check_target(y, estimator)
    return X, y


def _check_target(y: Any, estimator: Any) -> None:
    name = estimator_name(estimator)
    if y is None:
        if is_classifier(estimator) or is_regressor(estimator):
            raise DataError(
                f"{name} is supervised but y is None. Expected a target y with one value per "
                "sample; fix: pass y to fit (or use an unsupervised estimator)."
            )
        return
    if is_classifier(estimator):
        kind = type_of_target(y)
        if kind in ("continuous", "continuous-multioutput"):
            example = np.asarray(y).ravel()[:3].tolist()
            raise DataError(
                f"{name} is a classifier but y is continuous (e.g. {example}). Expected class "
                "labels (integers or strings); fix: use a regressor, or discretise y."
            )
    elif is_regressor(estimator):
        arr = np.asarray(y)
        if arr.dtype.kind not in "biuf":
            try:
                arr.astype(np.float64)
            except (TypeError, ValueError):
                example = arr.ravel()[:3].tolist()
                raise DataError(
                    f"{name} is a regressor but y is not numeric (e.g. {example}). Expected "
                    "numbers; fix: use a classifier, or encode y as numbers."
                ) from None


def check_grid_not_empty(
    param_grid: Any, candidates: Sequence[Mapping[str, Any]] | None = None
) -> None:
    """Raise :class:`ParameterError` when the grid yields no candidate.

    With ``candidates=None`` (before they are generated), raise only for a
    parameter with no values, which ``ParameterGrid`` would reject with a
    bare ``ValueError``.
    """
    if candidates is not None and len(candidates) > 0:
        return
    grids = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid or [])
    empty = [
        k
        for g in grids
        if isinstance(g, Mapping)
        for k, v in g.items()
        if hasattr(v, "__len__") and not isinstance(v, str) and len(v) == 0
    ]
    if candidates is None and not empty:
        return
    detail = f"parameter(s) {empty} have no values" if empty else f"the grid is {param_grid!r}"
    raise ParameterError(
        f"The search space is empty: {detail}. Expected at least one value per parameter; "
        "fix: give each parameter a non-empty list, or pass {} to evaluate the defaults."
    )


def check_candidates(estimator: Any, candidates: Sequence[Mapping[str, Any]]) -> None:
    """Raise :class:`ParameterError` for a parameter name the estimator does not have.

    scikit-learn would record such a fit as failed, once per fit, and only
    after running every other candidate; this says so before any fit.
    """
    valid = set(estimator.get_params(deep=True))
    checked: set[frozenset[str]] = set()
    for index, candidate in enumerate(candidates):
        names = frozenset(candidate)
        if names in checked or names <= valid:
            checked.add(names)
            continue
        try:  # a candidate may replace a step, whose own parameters it then sets
            # The values are cloned too, as _fit_and_score clones them: set_params on a
            # step the user put in the grid would otherwise change the user's object.
            clone(estimator).set_params(**clone(dict(candidate), safe=False))
        except ValueError:
            unknown = sorted(names - valid)
            hints = {n: difflib.get_close_matches(n, valid, n=1) for n in unknown}
            hint = "; ".join(f"did you mean {h[0]!r} for {n!r}?" for n, h in hints.items() if h)
            raise ParameterError(
                f"Unknown parameter(s) {unknown} for {estimator_name(estimator)} in candidate "
                f"{index} ({dict(candidate)!r}). Expected names from "
                f"estimator.get_params(): {sorted(valid)[:20]}{'...' if len(valid) > 20 else ''}. "
                f"Fix: {hint or 'check the spelling'}; for a pipeline step use '<step>__<param>'."
            ) from None
        checked.add(names)
