"""Evaluate shared-work units: one result per candidate, as its own fit would give.

Time attribution, as reported in ``cv_results_``: work shared by several
candidates (a path fit, a pipeline prefix fit and its transforms) is divided
equally among them and added to each one's ``fit_time``; a candidate's own
final-step fit is its own. ``score_time`` is the candidate's own, except for
the views of one path fit that share scoring work
(``PathFamily.shares_scoring``: kNN's neighbour query, a boosting run's prefix
sums, done by whichever view is scored first): their scoring time is divided
equally among them too. So ``sum(fit_time)`` over a unit's candidates is the
time the unit took to fit, ``sum(score_time)`` the time it took to score.

Safety: if shared work raises, the candidates it would have answered are
fitted one by one, so failures are recorded exactly as scikit-learn records
them (and ``error_score='raise'`` raises the same exception).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from gridfold import _sklearn
from gridfold.sharing.base import PathFamily, TransformerPath, families, path_family
from gridfold.sharing.continuation import evaluate_grown
from gridfold.sharing.planner import content_key, path_estimator, path_groups
from gridfold.sharing.tail_refit import PLAIN
from gridfold.tasks import (
    RefitResult,
    RefitTask,
    Result,
    SharedTask,
    Study,
    Task,
    TaskResult,
    Unit,
)
from gridfold.warnings_replay import record_warnings

__all__ = ["evaluate_unit"]


def evaluate_unit(study: Study, unit: Unit) -> list[Result]:
    """Results of every task in ``unit`` (for a :class:`RefitTask`, its one result)."""
    if isinstance(unit, Task):
        if study.models[unit.model].continuation is not None:
            return evaluate_grown(study, unit)
        return [_sklearn.fit_and_score(study, unit)]
    if isinstance(unit, RefitTask):
        if unit.kind == PLAIN:
            return [_evaluate_plain_refit(study, unit)]
        return [_evaluate_refit(study, unit, path_family(unit.kind))]
    if unit.kind == "pipeline":
        return list(_PipelineEvaluator(study, unit).run())
    return list(_evaluate_path(study, unit, path_family(unit.kind)))


def _fresh(X: Any) -> Any:
    """A private copy of ``X`` for one consumer (same memory order).

    Siblings in a pipeline trie read the same arrays; a step with
    ``copy=False`` would otherwise change them for the next sibling, while
    each of scikit-learn's separate fits gets its own.
    """
    if X is None:
        return None
    if isinstance(X, np.ndarray):
        return X.copy(order="K")
    return X.copy() if hasattr(X, "copy") else X


def _plain(study: Study, tasks: Sequence[Task]) -> list[TaskResult]:
    return [_sklearn.fit_and_score(study, t) for t in tasks]


def _evaluate_path(study: Study, unit: SharedTask, fam: PathFamily) -> list[TaskResult]:
    model = study.models[unit.model]
    candidates = [model.candidates[c] for c in unit.candidates]
    estimator = path_estimator(model.estimator, candidates[0], fam.param)
    X_train, y_train, X_test, y_test = _sklearn.split_data(estimator, study, unit.split)
    start = time.time()
    try:
        views = fam.fit_views(
            estimator,
            [c[fam.param] for c in candidates],
            X_train,
            y_train,
            _sklearn.train_fit_params(study, unit.split),
        )
    except Exception:  # noqa: BLE001 - each candidate's own fit records its error
        views = None
    if views is None:  # outside the except: no chained traceback in fit_error
        return _plain(study, unit.tasks())
    shared = (time.time() - start) / len(views)
    views = fam.scoring_views(views)
    results = [
        _sklearn.score_fitted(study, task, view, (X_train, y_train), (X_test, y_test), shared)
        for task, view in zip(unit.tasks(), views, strict=True)
    ]
    return _share_score_time(fam, results)


def _share_score_time(fam: PathFamily, results: list[TaskResult]) -> list[TaskResult]:
    """``results`` of one path fit's views, with their mean scoring time if they shared it."""
    if not fam.shares_scoring or not results:
        return results
    mean = sum(r.score_time for r in results) / len(results)
    return [dataclasses.replace(r, score_time=mean) for r in results]


def _evaluate_refit(study: Study, unit: RefitTask, fam: PathFamily) -> RefitResult:
    """One fit on the whole data, viewed as each candidate's refit.

    The data are fresh copies of the study's (as ``_fit_and_score`` slices a
    fold), so no fitted attribute is a memory map of the worker's. Warnings
    are kept for the caller to show where scikit-learn's refit would.
    """
    model = study.models[unit.model]
    candidates = [model.candidates[c] for c in unit.candidates]
    start = time.time()
    with record_warnings() as caught:
        try:  # anything, a MemoryError copying the data too: the refit is only early
            estimator = path_estimator(model.estimator, candidates[0], fam.param)
            X, y, fit_params = _sklearn.whole_data(estimator, study)
            views = fam.fit_views(estimator, [c[fam.param] for c in candidates], X, y, fit_params)
        except Exception:  # noqa: BLE001 - the caller's own refit raises it again
            return RefitResult(unit, (), time.time() - start, traceback.format_exc())
    return RefitResult(unit, tuple(views), time.time() - start, None, tuple(caught))


def _evaluate_plain_refit(study: Study, unit: RefitTask) -> RefitResult:
    """The caller's refit of ``unit``'s one candidate, in a worker (:mod:`.tail_refit`).

    ``clone(estimator).set_params(**params).fit(X, y, **fit_params)`` as the
    search's refit calls it, on private copies of the study's data that keep
    their type and memory order (a worker's arrays are read-only memory maps).
    """
    model = study.models[unit.model]
    (candidate,) = unit.candidates
    start = time.time()
    with record_warnings() as caught:
        try:
            estimator = clone(model.estimator).set_params(
                **clone(model.candidates[candidate], safe=False)
            )
            fit_params = {k: _fresh(v) for k, v in study.data.fit_params.items()}
            estimator.fit(_fresh(study.data.X), _fresh(study.data.y), **fit_params)
        except Exception:  # noqa: BLE001 - the caller's own refit raises it again
            return RefitResult(unit, (), time.time() - start, traceback.format_exc())
    return RefitResult(unit, (estimator,), time.time() - start, None, tuple(caught))


@dataclass(frozen=True)
class _Node:
    """What a trie node hands its children: the data as transformed by the prefix so far.

    ``fit`` feeds the next fit (``fit_transform`` outputs), ``score`` the train
    scores (``transform`` outputs; None without train scores), ``test`` the test
    scores; ``shared`` is the prefix time already charged to each candidate below.
    """

    fit: Any
    score: Any
    test: Any
    shared: float


class _PipelineEvaluator:
    """Walks a pipeline's steps as a trie: each distinct prefix is fitted once.

    At every transformer step the candidates are grouped by that step's
    settings; each group fits the step once (a :class:`TransformerPath` fits
    a whole group of ``n_components`` values once) and transforms the train
    and test parts once, then recurses. At the final step, candidates that a
    :class:`PathFamily` can answer share one fit; the others fit alone. The
    final step is scored on the transformed test part, which is what the
    pipeline's own ``predict``/``score`` would feed it.
    """

    def __init__(self, study: Study, unit: SharedTask) -> None:
        self.study = study
        self.unit = unit
        self.model = study.models[unit.model]
        self.pipeline = self.model.estimator
        self.names = [name for name, _ in self.pipeline.steps]

    def run(self) -> list[TaskResult]:
        by_step: list[tuple[Task, list[dict[str, Any]]]] = []
        fallback: list[Task] = []
        for task in self.unit.tasks():
            settings = self._per_step(self.model.candidates[task.candidate])
            if settings is None:
                fallback.append(task)
            else:
                by_step.append((task, settings))
        X_train, y_train, X_test, y_test = _sklearn.split_data(
            self.pipeline, self.study, self.unit.split
        )
        self.y_train, self.y_test = y_train, y_test
        results = _plain(self.study, fallback)
        X_score = X_train if self.study.return_train_score else None
        results += self._step(0, by_step, _Node(X_train, X_score, X_test, 0.0))
        return results

    def _per_step(self, candidate: dict[str, Any]) -> list[dict[str, Any]] | None:
        """``candidate`` as one dict per step (``"__step__"`` replaces the step), or None."""
        steps: list[dict[str, Any]] = [{} for _ in self.names]
        for key, value in candidate.items():
            name, _, param = key.partition("__")
            if name not in self.names:
                return None  # a parameter of the Pipeline itself (memory, verbose...)
            steps[self.names.index(name)][param or "__step__"] = value
        return steps

    def _make_step(self, depth: int, settings: dict[str, Any]) -> Any:
        step = settings.get("__step__", self.pipeline.steps[depth][1])
        if step is None or step == "passthrough":
            return "passthrough"
        params = {k: v for k, v in settings.items() if k != "__step__"}
        return clone(step).set_params(**clone(params, safe=False))

    def _step(
        self, depth: int, group: list[tuple[Task, list[dict[str, Any]]]], node: _Node
    ) -> list[TaskResult]:
        if depth == len(self.names) - 1:
            return self._final(group, node)
        results: list[TaskResult] = []
        for members, outputs in self._fit_transformers(depth, group, node.fit):
            tasks = [t for t, _ in members]
            if outputs is None:
                results += _plain(self.study, tasks)
                continue
            step, Xt_fit, seconds = outputs
            start = time.time()
            try:
                Xt_test, Xt_score = self._transform(step, node.test, node.score)
            except Exception:  # noqa: BLE001 - scikit-learn records it as a scoring failure
                Xt_test = None
            if Xt_test is None:  # outside the except: plain fits record it exactly
                results += _plain(self.study, tasks)
                continue
            seconds += time.time() - start
            child = _Node(Xt_fit, Xt_score, Xt_test, node.shared + seconds / len(members))
            results += self._step(depth + 1, members, child)
        return results

    @staticmethod
    def _transform(step: Any, X_test: Any, X_score: Any) -> tuple[Any, Any]:
        if isinstance(step, str):
            return X_test, X_score
        Xt_score = None if X_score is None else step.transform(_fresh(X_score))
        return step.transform(_fresh(X_test)), Xt_score

    def _fit_transformers(
        self, depth: int, group: list[tuple[Task, list[dict[str, Any]]]], X_fit: Any
    ) -> list[tuple[list[tuple[Task, list[dict[str, Any]]]], tuple[Any, Any, float] | None]]:
        """Per distinct setting of step ``depth``: members and (step, fit_transform output, s)."""
        by_setting: dict[str, list[tuple[Task, list[dict[str, Any]]]]] = {}
        for member in group:
            key = content_key(member[1][depth], member[0])
            by_setting.setdefault(key, []).append(member)
        settings = [members[0][1][depth] for members in by_setting.values()]
        out = []
        done: set[int] = set()
        for path, indices in self._transformer_paths(depth, settings):
            members_list = [list(by_setting.values())[i] for i in indices]
            fitted = self._fit_transformer_path(path, depth, [settings[i] for i in indices], X_fit)
            for j, members in enumerate(members_list):
                out.append((members, None if fitted is None else fitted[j]))
            done.update(indices)
        for i, members in enumerate(by_setting.values()):
            if i not in done:
                out.append((members, self._fit_transformer(depth, settings[i], X_fit)))
        return out

    def _transformer_paths(
        self, depth: int, settings: list[dict[str, Any]]
    ) -> list[tuple[TransformerPath, list[int]]]:
        return self._paths_at(depth, settings, TransformerPath)

    def _paths_at(
        self, depth: int, settings: list[dict[str, Any]], kind: type[Any]
    ) -> list[tuple[Any, list[int]]]:
        """Groups of ``settings`` (indices) that one ``kind`` family answers at step ``depth``."""
        if any("__step__" in s for s in settings):
            return []
        step = self.pipeline.steps[depth][1]
        found: list[tuple[Any, list[int]]] = []
        taken: set[int] = set()
        n_train = len(self.study.data.splits[self.unit.split][0])
        for fam in families():
            if not isinstance(fam, kind) or not fam.matches(step):
                continue
            free = [i for i in range(len(settings)) if i not in taken]
            for g in path_groups(fam, step, settings, free, n_train):
                found.append((fam, g))
                taken.update(g)
        return found

    def _fit_transformer(
        self, depth: int, settings: dict[str, Any], X_fit: Any
    ) -> tuple[Any, Any, float] | None:
        start = time.time()
        try:
            step = self._make_step(depth, settings)
            if isinstance(step, str):
                return step, X_fit, 0.0
            Xt = step.fit_transform(_fresh(X_fit), self.y_train)
        except Exception:  # noqa: BLE001 - plain fits record the error exactly
            return None
        return step, Xt, time.time() - start

    def _fit_path(
        self, fam: PathFamily | TransformerPath, depth: int, settings: list[dict[str, Any]], X: Any
    ) -> tuple[list[Any], float] | None:
        """One shared fit of step ``depth`` for ``settings``: the views and seconds per view.

        None if it raised: the caller then fits those candidates plainly.
        """
        rest = {k: v for k, v in settings[0].items() if k != fam.param}
        values = [s[fam.param] for s in settings]
        start = time.time()
        try:
            step = self._make_step(depth, rest)
            if isinstance(fam, TransformerPath):
                views = fam.fit_transform_views(step, values, _fresh(X), self.y_train, {})
            else:
                views = fam.fit_views(step, values, _fresh(X), self.y_train, {})
        except Exception:  # noqa: BLE001 - plain fits record the error exactly
            return None
        return views, (time.time() - start) / len(views)

    def _fit_transformer_path(
        self, fam: TransformerPath, depth: int, settings: list[dict[str, Any]], X_fit: Any
    ) -> list[tuple[Any, Any, float]] | None:
        fitted = self._fit_path(fam, depth, settings, X_fit)
        if fitted is None:
            return None
        views, seconds = fitted
        return [(view, Xt, seconds) for view, Xt in views]

    def _final(
        self, group: list[tuple[Task, list[dict[str, Any]]]], node: _Node
    ) -> list[TaskResult]:
        depth = len(self.names) - 1
        finals = [settings[depth] for _, settings in group]
        results: list[TaskResult] = []
        paired: set[int] = set()
        for fam, g in self._paths_at(depth, finals, PathFamily):
            members = [group[i] for i in g]
            results += self._final_path(fam, members, node)
            paired.update(g)
        for i, (task, settings) in enumerate(group):
            if i not in paired:
                results += self._final_one(task, settings[depth], node)
        return results

    def _final_one(self, task: Task, settings: dict[str, Any], node: _Node) -> list[TaskResult]:
        start = time.time()
        try:
            final = self._make_step(len(self.names) - 1, settings)
            if not isinstance(final, str):
                final.fit(_fresh(node.fit), self.y_train)
        except Exception:  # noqa: BLE001 - the plain fit records the error exactly
            final = None
        if final is None or isinstance(final, str):  # outside the except: no chained traceback
            return _plain(self.study, [task])
        fit_time = node.shared + time.time() - start
        return [
            _sklearn.score_fitted(
                self.study,
                task,
                final,
                (_fresh(node.score), self.y_train),
                (_fresh(node.test), self.y_test),
                fit_time,
            )
        ]

    def _final_path(
        self, fam: PathFamily, members: list[tuple[Task, list[dict[str, Any]]]], node: _Node
    ) -> list[TaskResult]:
        depth = len(self.names) - 1
        finals = [settings[depth] for _, settings in members]
        fitted = self._fit_path(fam, depth, finals, node.fit)
        if fitted is None:  # outside any except: no chained traceback in fit_error
            return _plain(self.study, [t for t, _ in members])
        views, seconds = fitted
        views = fam.scoring_views(views)
        each = node.shared + seconds
        # One copy for all views: a family may cache work keyed on the array object.
        X_score, X_test = _fresh(node.score), _fresh(node.test)
        results = [
            _sklearn.score_fitted(
                self.study, task, view, (X_score, self.y_train), (X_test, self.y_test), each
            )
            for (task, _), view in zip(members, views, strict=True)
        ]
        return _share_score_time(fam, results)
