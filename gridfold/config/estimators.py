"""Estimators named in a study file: import paths, parameters, pipelines.

``estimator = "sklearn.svm.SVC"`` (or a bare scikit-learn class name), ``params``,
``steps = [...]`` for a pipeline, and ``{ estimator = ..., params = ... }`` tables
inside values (to search over pipeline steps).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from gridfold.config._source import NONE, Ctx, check_keys, expect, kwargs_text

__all__ = ["build_estimator", "value_of"]

_STEP_KEYS = ("name", "estimator", "params")


# Searched in this order for a bare class name, most used first; importing
# them one by one is much faster than sklearn.utils.all_estimators().
_SKLEARN_MODULES = (
    "svm",
    "linear_model",
    "ensemble",
    "neighbors",
    "tree",
    "naive_bayes",
    "preprocessing",
    "decomposition",
    "pipeline",
    "discriminant_analysis",
    "neural_network",
    "dummy",
    "feature_selection",
    "impute",
    "compose",
    "kernel_ridge",
    "gaussian_process",
    "cluster",
    "cross_decomposition",
    "isotonic",
    "kernel_approximation",
    "manifold",
    "mixture",
    "multiclass",
    "multioutput",
    "random_projection",
    "semi_supervised",
    "calibration",
    "covariance",
    "feature_extraction",
    "frozen",
)


def _sklearn_class(name: str) -> type | None:
    for module_name in _SKLEARN_MODULES:
        try:
            module = importlib.import_module(f"sklearn.{module_name}")
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if inspect.isclass(cls) and hasattr(cls, "fit"):
            return cls
    return None


def _all_estimators() -> dict[str, type]:
    from sklearn.utils import all_estimators

    return dict(all_estimators())


def resolve_class(path: Any, ctx: Ctx, key: str = "estimator") -> type:
    expect(path, str, 'an import path like "sklearn.svm.SVC"', key, ctx)
    if "." not in path:
        found = _sklearn_class(path)
        if found is not None:
            return found
        classes = _all_estimators()
        if path in classes:
            return classes[path]
        close = difflib.get_close_matches(path, list(classes), n=1)
        fix = (
            f"did you mean {close[0]!r}?"
            if close
            else 'give the full import path, e.g. "sklearn.svm.SVC".'
        )
        raise ctx.error(
            f"unknown estimator {path!r}. Expected an import path (module.Class) or the name of "
            f"a scikit-learn estimator; fix: {fix}",
            path,
            key=False,
        )
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ctx.error(
            f"cannot import module {module_name!r} of estimator {path!r} ({exc}). Expected an "
            'importable path like "sklearn.svm.SVC"; fix: correct the module, or install it.',
            path,
            key=False,
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        public = [n for n in dir(module) if n[:1].isupper()]
        close = difflib.get_close_matches(class_name, public, n=1)
        fix = f'did you mean "{module_name}.{close[0]}"?' if close else "check the class name."
        raise ctx.error(
            f"module {module_name!r} has no {class_name!r} (estimator {path!r}). "
            f"Expected a class of that module; fix: {fix}",
            path,
            key=False,
        )
    if not inspect.isclass(cls) or not hasattr(cls, "fit"):
        raise ctx.error(
            f"{path!r} is not an estimator class (no fit method). Expected a scikit-learn "
            "compatible estimator class; fix: name an estimator.",
            path,
            key=False,
        )
    return cls


def construct(cls: type, params: Mapping[str, Any], path: str, ctx: Ctx) -> Any:
    try:
        return cls(**params)
    except TypeError as exc:
        try:
            valid = sorted(cls().get_params(deep=False))
        except Exception:  # noqa: BLE001 - only for the hint
            valid = []
        unknown = [p for p in params if valid and p not in valid]
        hint = "; ".join(
            f"did you mean {m[0]!r} for {p!r}?"
            for p in unknown
            if (m := difflib.get_close_matches(p, valid, n=1))
        )
        raise ctx.error(
            f"cannot build {path}({kwargs_text(params)}): {exc}. Expected parameters of "
            f"{cls.__name__}: {valid}; fix: {hint or 'correct the params.'}",
            unknown[0] if unknown else path,
            key=bool(unknown),
        ) from None


def value_of(value: Any, ctx: Ctx, key: str) -> Any:
    """A TOML value as a Python parameter value ("None" -> None, estimator tables built)."""
    if value == NONE:
        return None
    if isinstance(value, list):
        return [value_of(v, ctx, key) for v in value]
    if isinstance(value, dict):
        if "estimator" in value:
            return build_step_estimator(value, ctx)
        return {k: value_of(v, ctx, key) for k, v in value.items()}
    return value


def params_of(table: Any, ctx: Ctx, key: str = "params") -> dict[str, Any]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ctx.error(f"{key} must be a table of name = value; got {table!r}.", key)
    return {k: value_of(v, ctx, k) for k, v in table.items()}


def build_step_estimator(table: Mapping[str, Any], ctx: Ctx) -> Any:
    check_keys(table, ("estimator", "params"), ctx)
    cls = resolve_class(table["estimator"], ctx)
    return construct(cls, params_of(table.get("params"), ctx), table["estimator"], ctx)


def build_estimator(table: Mapping[str, Any], ctx: Ctx) -> tuple[Any, str]:
    has_est, has_steps = "estimator" in table, "steps" in table
    if has_est == has_steps:
        raise ctx.error(
            'expected exactly one of estimator = "module.Class" or steps = [...]; got '
            f"{'both' if has_est else 'neither'}. Fix: keep one.",
            "estimator" if has_est else None,
        )
    params = params_of(table.get("params"), ctx)
    if has_est:
        path = table["estimator"]
        return construct(resolve_class(path, ctx), params, path, ctx), path
    steps = table["steps"]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise ctx.error(
            "steps must be a non-empty list of tables { name = ..., estimator = ..., params = "
            f"{{...}} }}; got {steps!r}.",
            "steps",
        )
    built = []
    for i, step in enumerate(steps):
        check_keys(step, _STEP_KEYS, ctx)
        if "estimator" not in step:
            raise ctx.error(f'step {i} has no estimator = "module.Class". Fix: add it.', "steps")
        name = step.get("name", f"step{i}")
        expect(name, str, "a string", "name", ctx)
        built.append(
            (name, build_step_estimator({k: v for k, v in step.items() if k != "name"}, ctx))
        )
    from sklearn.pipeline import Pipeline

    names = [n for n, _ in built]
    if len(set(names)) != len(names) or any("__" in n for n in names):
        raise ctx.error(
            f"step names must be unique and contain no '__'; got {names}. Fix: rename them.",
            "steps",
        )
    try:
        pipe = Pipeline(built).set_params(**params)
    except ValueError as exc:
        raise ctx.error(
            f"cannot set params {params} on the pipeline: {exc}. Fix: use '<step>__<param>' names.",
            "params",
        ) from None
    return pipe, "Pipeline(" + ", ".join(f"{n}={type(e).__name__}" for n, e in built) + ")"
