"""``[[model]]`` tables: an estimator or a pipeline, and its grid or distributions."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gridfold.config._source import Ctx, Source, check_keys, did_you_mean, expect
from gridfold.config.estimators import build_estimator, value_of

__all__ = [
    "HALVING_KEYS",
    "MODEL_KEYS",
    "HalvingConfig",
    "ModelConfig",
    "SearchKind",
    "parse_model",
]

SearchKind = Literal["grid", "random", "halving", "none"]

#: A halving search's own keys, with HalvingGridSearchCV's defaults.
HALVING_KEYS = (
    "factor",
    "resource",
    "min_resources",
    "max_resources",
    "aggressive_elimination",
)

MODEL_KEYS = (
    "name",
    "estimator",
    "steps",
    "params",
    "grid",
    "distributions",
    "search",
    "n_iter",
    "random_state",
    *HALVING_KEYS,
)


@dataclass(frozen=True)
class HalvingConfig:
    """A ``search = "halving"`` model's options, as ``HalvingGridSearchCV`` takes them.

    ``random_state`` draws the rows of each rung when the resource is
    ``"n_samples"``.
    """

    factor: float = 3
    resource: str = "n_samples"
    min_resources: int | str = "exhaust"
    max_resources: int | str = "auto"
    aggressive_elimination: bool = False
    random_state: int | None = 0

    def kwargs(self) -> dict[str, Any]:
        """The search's keyword arguments."""
        return {
            "factor": self.factor,
            "resource": self.resource,
            "min_resources": self.min_resources,
            "max_resources": self.max_resources,
            "aggressive_elimination": self.aggressive_elimination,
            "random_state": self.random_state,
        }


@dataclass(frozen=True)
class ModelConfig:
    """One ``[[model]]``: an estimator (or pipeline) and its candidate space.

    Attributes
    ----------
    name : str
        Unique label on the leaderboard.
    estimator : estimator
        The unfitted estimator, with its fixed ``params`` set.
    search : {"grid", "random", "halving", "none"}
        Grid search over ``space``, random search with ``n_iter`` draws from
        ``space``, successive halving over the grid ``space``
        (``HalvingGridSearchCV``, with ``halving``), or one evaluation with
        the fixed params.
    space : list of dict
        Parameter grids or distributions (empty for ``"none"``).
    n_iter, random_state
        Random search only, as ``RandomizedSearchCV``'s.
    spec : str
        What the file asked for, for display.
    line : int or None
        Line of the model's ``[[model]]`` header.
    param_lines : dict
        Line of each parameter name in its grid or distributions, for errors.
    halving : HalvingConfig or None
        The halving options of a ``search = "halving"`` model.
    """

    name: str
    estimator: Any
    search: SearchKind
    space: tuple[dict[str, Any], ...] = ()
    n_iter: int = 10
    random_state: int | None = None
    spec: str = ""
    line: int | None = None
    param_lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    halving: HalvingConfig | None = None

    def candidates(self) -> list[dict[str, Any]]:
        """The parameter settings to evaluate, in ``cv_results_`` order.

        Returns
        -------
        list of dict
            ``ParameterGrid(space)`` for a grid, ``ParameterSampler(space,
            n_iter, random_state)`` for a random search (the same as
            ``RandomizedSearchCV``'s), ``[{}]`` otherwise. A halving
            search's are its first rung's: the whole grid.
        """
        from sklearn.model_selection import ParameterGrid, ParameterSampler

        if self.search in ("grid", "halving"):
            return list(ParameterGrid(list(self.space)))
        if self.search == "random":
            return list(
                ParameterSampler(list(self.space), self.n_iter, random_state=self.random_state)
            )
        return [{}]


def _parse_space(
    value: Any, key: str, ctx: Ctx, convert: Callable[[Any, str], Any]
) -> tuple[dict[str, Any], ...]:
    tables = value if isinstance(value, list) else [value]
    if not all(isinstance(t, dict) for t in tables):
        raise ctx.error(
            f"{key} must be a table (or an array of tables) of name = values; got {value!r}.",
            key,
        )
    for table in tables:
        misplaced = [k for k in table if k in MODEL_KEYS]
        if misplaced:
            raise ctx.error(
                f"{misplaced[0]!r} is inside the {key} table, as a parameter to search. "
                f"In TOML, every key after a [model.{key}] header belongs to that table; "
                f"fix: move {misplaced[0]} = ... above the [model.{key}] line.",
                misplaced[0],
            )
    return tuple({k: convert(v, k) for k, v in t.items()} for t in tables)


def _grid_values(ctx: Ctx) -> Callable[[Any, str], Any]:
    def convert(value: Any, name: str) -> Any:
        if not isinstance(value, list):
            raise ctx.error(
                f"grid value of {name!r} must be a list of values to try; got {value!r}. "
                f"Fix: {name} = [{value!r}], or move it to params.",
                name,
            )
        if not value:
            raise ctx.error(
                f"grid value of {name!r} is an empty list, so the grid has no candidate. "
                f"Expected at least one value; fix: e.g. {name} = [1.0], or remove {name}.",
                name,
            )
        return value_of(value, ctx, name)

    return convert


def _distribution_values(ctx: Ctx) -> Callable[[Any, str], Any]:
    def convert(value: Any, name: str) -> Any:
        if isinstance(value, list):
            return value_of(value, ctx, name)
        if isinstance(value, dict) and len(value) == 1:
            return _distribution(*next(iter(value.items())), name, ctx)
        raise ctx.error(
            f"distribution of {name!r} must be a list of choices or a one-key table "
            f"{{ scipy_stats_name = [args] }}; got {value!r}. "
            'Fix: e.g. { loguniform = [1e-3, 1e3] } or ["a", "b"].',
            name,
        )

    return convert


def _distribution(dist: str, args: Any, name: str, ctx: Ctx) -> Any:
    import scipy.stats

    obj = getattr(scipy.stats, dist, None)
    if obj is None or not hasattr(obj, "rvs"):
        known = [n for n in dir(scipy.stats) if hasattr(getattr(scipy.stats, n), "rvs")]
        close = difflib.get_close_matches(dist, known, n=3)
        fix = f"did you mean {close}?" if close else "see scipy.stats."
        raise ctx.error(
            f"unknown distribution {dist!r} for {name!r}. Expected a scipy.stats distribution "
            f"(randint, uniform, loguniform, ...); fix: {fix}",
            dist,
        )
    try:
        return (
            obj(**args)
            if isinstance(args, dict)
            else obj(*(args if isinstance(args, list) else [args]))
        )
    except (TypeError, ValueError) as exc:
        raise ctx.error(
            f"cannot build scipy.stats.{dist}({args!r}) for {name!r}: {exc}. "
            "Fix: give its arguments as a list (positional) or a table (keywords).",
            dist,
        ) from None


def _space_lines(space: Any, ctx: Ctx) -> dict[str, int]:
    tables = space if isinstance(space, list) else [space] if isinstance(space, dict) else []
    lines: dict[str, int] = {}
    for table in tables:
        for key in table if isinstance(table, dict) else ():
            line = ctx.src.find(key, ctx.span, key=True)
            if line is not None:
                lines.setdefault(key, line)
    return lines


def parse_model(table: Any, index: int, src: Source) -> ModelConfig:
    span = src.model_section(index)
    label = f"model {index + 1}"
    ctx = Ctx(src, span, label)
    if not isinstance(table, dict):
        raise ctx.error(f"[[model]] must be a table; got {table!r}.")
    if isinstance(table.get("name"), str):
        ctx = Ctx(src, span, f"model {table['name']!r}")
    check_keys(table, MODEL_KEYS, ctx)
    estimator, spec = build_estimator(table, ctx)
    name = table.get("name", type(estimator).__name__)
    expect(name, str, "a string", "name", ctx)
    has_grid, has_dist = "grid" in table, "distributions" in table
    search = table.get("search", "random" if has_dist else "grid" if has_grid else "none")
    if search not in ("grid", "random", "halving", "none") or has_grid and has_dist:
        given = "grid and distributions" if has_grid and has_dist else "this model"
        raise ctx.error(
            f"search = {search!r} with {given}. "
            'Expected search = "grid" or "halving" with a grid table, or "random" with a '
            "distributions table and n_iter; fix: keep one of grid/distributions.",
            "search" if "search" in table else "grid",
        )
    halving_keys = [k for k in HALVING_KEYS if k in table]
    if halving_keys and search != "halving":
        raise ctx.error(
            f'{halving_keys} only apply to search = "halving". '
            'Fix: add search = "halving", or remove them.',
            halving_keys[0],
        )
    if search == "halving":
        return _parse_halving(table, ctx, name, estimator, spec, span, has_grid)
    random_keys = [k for k in ("n_iter", "random_state") if k in table]
    lines = _space_lines(table.get("grid", table.get("distributions")), ctx)
    if search == "random":
        if not has_dist:
            raise ctx.error(
                'search = "random" needs a distributions table. Fix: add [model.distributions].',
                "search",
            )
        space = _parse_space(
            table["distributions"], "distributions", ctx, _distribution_values(ctx)
        )
        n_iter = expect(table.get("n_iter", 10), int, "a positive integer", "n_iter", ctx)
        if n_iter < 1:
            raise ctx.error(f"n_iter must be >= 1; got {n_iter}. Fix: e.g. n_iter = 10.", "n_iter")
        random_state = table.get("random_state")
        if random_state is not None:
            expect(random_state, int, "an integer seed", "random_state", ctx)
        return ModelConfig(
            name, estimator, "random", space, n_iter, random_state, spec, span[0] + 1, lines
        )
    if random_keys:
        raise ctx.error(
            f"{random_keys} only apply to a random search (a distributions table). "
            "Fix: remove them, or use distributions instead of grid.",
            random_keys[0],
        )
    if search == "grid":
        if not has_grid:
            raise ctx.error('search = "grid" needs a grid table. Fix: add [model.grid].', "search")
        space = _parse_space(table["grid"], "grid", ctx, _grid_values(ctx))
        return ModelConfig(
            name, estimator, "grid", space, spec=spec, line=span[0] + 1, param_lines=lines
        )
    return ModelConfig(name, estimator, "none", spec=spec, line=span[0] + 1)


def _parse_halving(
    table: dict[str, Any],
    ctx: Ctx,
    name: str,
    estimator: Any,
    spec: str,
    span: tuple[int, int],
    has_grid: bool,
) -> ModelConfig:
    """A ``search = "halving"`` model: its grid and ``HalvingGridSearchCV``'s options."""
    if not has_grid:
        raise ctx.error(
            'search = "halving" needs a grid table (the study file runs HalvingGridSearchCV). '
            "Fix: add [model.grid].",
            "search",
        )
    if "n_iter" in table:
        raise ctx.error(
            'n_iter does not apply to search = "halving": every grid candidate starts. '
            "Fix: remove n_iter.",
            "n_iter",
        )
    factor = expect(table.get("factor", 3), (int, float), "a number above 1", "factor", ctx)
    if not factor > 1:
        raise ctx.error(f"factor must be above 1; got {factor!r}. Fix: e.g. factor = 3.", "factor")
    resource = expect(
        table.get("resource", "n_samples"),
        str,
        'a string: "n_samples" or a parameter of the estimator',
        "resource",
        ctx,
    )
    if resource != "n_samples" and resource not in estimator.get_params():
        fix = did_you_mean(resource, sorted(estimator.get_params()), 'resource = "n_samples"')
        raise ctx.error(
            f"resource = {resource!r} is not a parameter of {type(estimator).__name__}. "
            f'Expected "n_samples" or one of its parameters; fix: {fix}',
            "resource",
        )
    min_resources = _resources(table, "min_resources", ("exhaust", "smallest"), ctx)
    max_resources = _resources(table, "max_resources", ("auto",), ctx)
    aggressive = expect(
        table.get("aggressive_elimination", False),
        bool,
        "true or false",
        "aggressive_elimination",
        ctx,
    )
    random_state = table.get("random_state", 0)  # reruns draw the same rows: resumable
    if random_state is not None:
        expect(random_state, int, "an integer seed", "random_state", ctx)
    space = _parse_space(table["grid"], "grid", ctx, _grid_values(ctx))
    if any(resource in grid for grid in space):
        raise ctx.error(
            f"{resource!r} is the resource and a parameter of the grid. Expected it in one "
            f"place; fix: remove {resource} from [model.grid].",
            resource,
        )
    options = HalvingConfig(
        factor, resource, min_resources, max_resources, aggressive, random_state
    )
    lines = _space_lines(table["grid"], ctx)
    return ModelConfig(
        name,
        estimator,
        "halving",
        space,
        spec=spec,
        line=span[0] + 1,
        param_lines=lines,
        halving=options,
    )


def _resources(table: dict[str, Any], key: str, words: tuple[str, ...], ctx: Ctx) -> int | str:
    default = words[0]
    value = table.get(key, default)
    if (
        isinstance(value, str)
        and value in words
        or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
    ):
        return value
    allowed = " or ".join(f'"{w}"' for w in words)
    raise ctx.error(
        f"{key} must be a positive integer or {allowed}; got {value!r}. "
        f"Fix: e.g. {key} = {default!r}.".replace("'", '"'),
        key,
    )
