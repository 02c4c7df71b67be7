"""The ``[run]`` table: scoring and execution options."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from gridfold.config._source import Ctx, Source, check_keys, expect

__all__ = ["RUN_KEYS", "RunConfig", "parse_run"]

RUN_KEYS = (
    "scoring",
    "refit",
    "n_jobs",
    "backend",
    "scheduler",
    "return_train_score",
    "error_score",
    "nested",
)


@dataclass(frozen=True)
class RunConfig:
    """The ``[run]`` table: scoring and execution options."""

    scoring: str | tuple[str, ...] | None = None
    refit: str | None = None
    n_jobs: int | None = None
    backend: str | None = None
    scheduler: str | None = None
    return_train_score: bool = False
    error_score: float | str = math.nan
    #: Nested cross-validation: each model's search runs inside the folds of [outer_cv].
    nested: bool = False

    @property
    def metrics(self) -> tuple[str, ...]:
        """The ``cv_results_`` metric keys: scorer names, or ``("score",)`` for one scorer."""
        return self.scoring if isinstance(self.scoring, tuple) else ("score",)

    @property
    def refit_metric(self) -> str:
        """The metric that ranks the leaderboard."""
        return self.refit or self.metrics[0]


def parse_run(table: Any, src: Source) -> RunConfig:
    ctx = Ctx(src, src.section("run"), "[run]")
    if not isinstance(table, dict):
        raise ctx.error(f"[run] must be a table; got {table!r}.")
    check_keys(table, RUN_KEYS, ctx)
    scoring = _parse_scoring(table.get("scoring"), ctx)
    refit = table.get("refit")
    if refit is not None:
        expect(refit, str, "a scorer name", "refit", ctx)
        allowed = list(scoring) if isinstance(scoring, tuple) else [scoring]
        if refit not in allowed:
            raise ctx.error(
                f"refit = {refit!r} is not one of the scorers {allowed}. Expected the name of "
                "the scorer that ranks the leaderboard; fix: add it to scoring, or remove refit.",
                "refit",
            )
        if not isinstance(scoring, tuple):
            refit = None
    n_jobs = table.get("n_jobs")
    if n_jobs is not None:
        expect(n_jobs, int, "an integer (-1 for all cores)", "n_jobs", ctx)
        if n_jobs == 0:
            raise ctx.error(
                "n_jobs = 0 is invalid. Expected a positive number of workers, or -1 for all "
                "cores, -2 for all but one; fix: n_jobs = -1.",
                "n_jobs",
            )
    backend = table.get("backend")
    if backend is not None:
        from gridfold.executors import available_backends

        expect(backend, str, "a backend name", "backend", ctx)
        if backend not in available_backends():
            raise ctx.error(
                f"unknown backend {backend!r}. Expected one of {available_backends()}; "
                "fix: use one of these names.",
                "backend",
            )
    scheduler = table.get("scheduler")
    if scheduler is not None:
        expect(
            scheduler,
            str,
            'a Dask scheduler address such as "tcp://10.0.0.5:8786"',
            "scheduler",
            ctx,
        )
        if backend not in (None, "dask"):
            raise ctx.error(
                f'scheduler = {scheduler!r} needs backend = "dask"; got backend = '
                f'{backend!r}. Fix: remove backend, or set it to "dask".',
                "scheduler",
            )
    rts = table.get("return_train_score", False)
    expect(rts, bool, "true or false", "return_train_score", ctx)
    nested = table.get("nested", False)
    expect(nested, bool, "true or false", "nested", ctx)
    return RunConfig(
        scoring=scoring,
        refit=refit,
        n_jobs=n_jobs,
        backend=backend,
        scheduler=scheduler,
        return_train_score=rts,
        error_score=_parse_error_score(table.get("error_score", "nan"), ctx),
        nested=nested,
    )


def _parse_scoring(value: Any, ctx: Ctx) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    from sklearn.metrics import get_scorer_names

    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(n, str) for n in names):
        raise ctx.error(
            f"scoring must be a scorer name or a non-empty list of names; got {value!r}. "
            'Fix: e.g. scoring = "accuracy" or scoring = ["accuracy", "f1_macro"].',
            "scoring",
        )
    known = get_scorer_names()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            fix = (
                f"did you mean {close[0]!r}?"
                if close
                else "see sklearn.metrics.get_scorer_names()."
            )
            raise ctx.error(
                f"unknown scorer {name!r}. Expected a name from "
                f"sklearn.metrics.get_scorer_names(); fix: {fix}",
                name,
                key=False,
            )
    if len(set(names)) != len(names):
        raise ctx.error(f"scoring lists a scorer twice: {names}. Fix: remove the duplicate.")
    return tuple(names) if isinstance(value, list) else value


def _parse_error_score(value: Any, ctx: Ctx) -> float | str:
    if value == "raise":
        return "raise"
    if isinstance(value, str) and value.lower() == "nan":
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ctx.error(
        f'error_score must be "nan", "raise" or a number; got {value!r}. '
        'Fix: e.g. error_score = "nan".',
        "error_score",
    )
