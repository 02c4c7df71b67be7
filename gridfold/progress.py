"""A progress bar for a running study: done/total, elapsed, ETA, best so far."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from gridfold.tasks import Study, TaskResult

__all__ = ["BestSoFar", "progress_callback"]


class BestSoFar:
    """Tracks each candidate's mean test score once all its splits are in.

    For several scorers the one named ``metric`` (default: the first) counts.
    """

    def __init__(self, study: Study, metric: str | None = None) -> None:
        self.study = study
        self.metric = metric
        self._sums: dict[tuple[int, int], list[float]] = {}
        self.best: tuple[float, str, dict[str, Any]] | None = None

    def _score(self, result: TaskResult) -> float:
        scores = result.test_scores
        if isinstance(scores, dict):
            if self.metric is None:
                self.metric = next(iter(scores))
            return float(scores[self.metric])
        return float(scores)

    def add(self, result: TaskResult) -> None:
        key = (result.task.model, result.task.candidate)
        seen = self._sums.setdefault(key, [])
        seen.append(self._score(result))
        if len(seen) < self.study.n_splits:
            return
        del self._sums[key]
        mean = sum(seen) / len(seen)
        if not math.isnan(mean) and (self.best is None or mean > self.best[0]):
            model = self.study.models[key[0]]
            self.best = (mean, model.name, model.candidates[key[1]])

    def describe(self) -> str:
        if self.best is None:
            return "best: -"
        mean, name, params = self.best
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        shown = shown if len(shown) < 60 else shown[:57] + "..."
        return f"best {mean:.4f} {name}({shown})"


@contextmanager
def progress_callback(
    study: Study,
    enabled: bool = True,
    console: Console | None = None,
    metric: str | None = None,
    total: int | None = None,
    title: str = "fits",
) -> Iterator[Callable[[TaskResult], None] | None]:
    """Yield an ``on_result`` callback that drives a rich progress bar.

    Yields None when ``enabled`` is false, so callers pass it on unchanged.
    ``total`` is the number of fits to expect (default: all of ``study``'s);
    ``title`` is shown before the bar (a halving search's rung, say).
    """
    if not enabled:
        yield None
        return
    best = BestSoFar(study, metric)
    columns = (
        # The title is kept whole (a halving rung's says which rung); the rest gives way.
        TextColumn(
            "[bold]{task.description}", table_column=Column(no_wrap=True, min_width=len(title))
        ),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[best]}"),
    )
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as bar:
        bar_id = bar.add_task(
            title, total=study.n_tasks if total is None else total, best="best: -"
        )

        def on_result(result: TaskResult) -> None:
            best.add(result)
            bar.update(bar_id, advance=1, best=best.describe())

        yield on_result
