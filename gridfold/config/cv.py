"""The ``[cv]`` table: a splitter of ``sklearn.model_selection`` and its arguments."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridfold.config._source import Ctx, Source, check_keys, did_you_mean, expect, kwargs_text

__all__ = ["CVConfig", "parse_cv"]

#: Keys of [cv] without a splitter (scikit-learn's default splitter).
DEFAULT_CV_KEYS = ("n_splits", "shuffle", "random_state")


@dataclass(frozen=True)
class CVConfig:
    """The ``[cv]`` table: a splitter class name of ``sklearn.model_selection`` and its arguments.

    ``splitter=None`` means scikit-learn's default: ``StratifiedKFold`` when
    every model is a classifier and the target is binary or multiclass, else
    ``KFold`` (as ``check_cv``), with ``n_splits`` (default 5) and, if given,
    ``shuffle``/``random_state``.
    """

    splitter: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def make(self, y: Any, classifier: bool) -> Any:
        """The splitter object for target ``y``.

        Parameters
        ----------
        y : array-like
            The target (decides stratification for the default splitter).
        classifier : bool
            Whether every model is a classifier.

        Returns
        -------
        cross-validator
        """
        import sklearn.model_selection as ms

        if self.splitter is not None:
            return getattr(ms, self.splitter)(**self.options)
        cv = ms.check_cv(int(self.options.get("n_splits", 5)), y, classifier=classifier)
        if self.options.get("shuffle"):
            cv = type(cv)(
                n_splits=cv.n_splits, shuffle=True, random_state=self.options.get("random_state")
            )
        return cv

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.splitter or 'default'}({args})"


def _splitter_names() -> list[str]:
    import sklearn.model_selection as ms

    names = []
    for name in ms.__all__:
        try:
            obj = getattr(ms, name)
        except ImportError:  # experimental halving searches
            continue
        if inspect.isclass(obj) and hasattr(obj, "split") and hasattr(obj, "get_n_splits"):
            names.append(name)
    return sorted(names)


def parse_cv(table: Any, src: Source, name: str = "cv") -> CVConfig:
    """Parse the ``[cv]`` table, or another table of the same keys (``[outer_cv]``)."""
    label = f"[{name}]"
    ctx = Ctx(src, src.section(name), label)
    if not isinstance(table, dict):
        raise ctx.error(f"{label} must be a table; got {table!r}.")
    options = {k: v for k, v in table.items() if k != "splitter"}
    splitter = table.get("splitter")
    if splitter is None:
        check_keys(options, DEFAULT_CV_KEYS, ctx)
        n_splits = options.get("n_splits", 5)
        if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
            raise ctx.error(
                f"n_splits must be an integer >= 2; got {n_splits!r}. Fix: e.g. n_splits = 5.",
                "n_splits",
            )
        return CVConfig(None, options)
    expect(splitter, str, "a class name of sklearn.model_selection", "splitter", ctx)
    names = _splitter_names()
    if splitter not in names:
        fix = did_you_mean(splitter, names, "use one of them.")
        raise ctx.error(
            f"unknown splitter {splitter!r}. Expected a splitter of sklearn.model_selection: "
            f"{names}; fix: {fix}",
            "splitter",
        )
    import sklearn.model_selection as ms

    cls = getattr(ms, splitter)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    check_keys(options, accepted, Ctx(src, ctx.span, f"{label} ({splitter})"))
    try:
        cls(**options)
    except (TypeError, ValueError) as exc:
        raise ctx.error(
            f"{splitter}({kwargs_text(options)}) is invalid: {exc}. Fix: correct the arguments.",
            next(iter(options), "splitter"),
        ) from None
    return CVConfig(splitter, options)
