"""``HalvingGridSearchCV`` and ``HalvingRandomSearchCV``: scikit-learn's, on gridfold's engine.

Successive halving evaluates every candidate with a small budget (the
``resource``: training samples, or an estimator parameter such as
``n_estimators``), keeps the best ``1 / factor`` of them, evaluates those with
``factor`` times the budget, and so on. Both classes subclass scikit-learn's
(``sklearn/model_selection/_search_successive_halving.py``) and keep its
``_run_search``, which plans the rungs, subsamples the rows
(``_SubsampleMetaSplitter``) and keeps the top candidates of each rung: only
``evaluate_candidates`` is gridfold's (:class:`gridfold.searchcv.EngineSearchMixin`),
called once per rung, each call one study on the pool the search keeps open
for the whole ``fit``. So the rungs, their candidates, their training rows and
``cv_results_`` (with ``iter`` and ``n_resources``) are scikit-learn's.

scikit-learn still marks these classes experimental: its own import needs
``from sklearn.experimental import enable_halving_search_cv``, which also puts
them on :mod:`sklearn.model_selection`. gridfold's need no flag and do not do
that: they are built on the private module directly (:mod:`gridfold._sklearn`),
so importing them leaves scikit-learn's namespace as it was.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, ParameterSampler

from gridfold import _sklearn
from gridfold._sklearn import SkHalvingGridSearchCV, SkHalvingRandomSearchCV
from gridfold.report.mixins import SearchReportMixin
from gridfold.search import _DISTRIBUTIONS, _GRID, _SEARCH_PARAMS_DOC
from gridfold.searchcv import (
    EXTRA_CONSTRAINTS,
    EngineSearchMixin,
    _Evaluator,
    sklearn_error_with_fix,
)
from gridfold.sharing.continuation import growth_for
from gridfold.sharing.planner import UNHASHABLE, content_key
from gridfold.tasks import Continuation, KeptFit

__all__ = ["HalvingGridSearchCV", "HalvingRandomSearchCV"]

# The execution parameters as GridSearchCV documents them; what follows them there
# (pre_dispatch, the refit during the search) does not hold for halving, whose
# search has no pre_dispatch and refits after the last rung.
_EXECUTION_PARAMS_DOC = _SEARCH_PARAMS_DOC[: _SEARCH_PARAMS_DOC.index("    ``pre_dispatch``")]

_HALVING_DOC = """\
    The rungs run one after another, each rung's candidates x splits in
    parallel on one pool kept for the whole search. With a ``store``, each
    fit is kept under its estimator, parameters (the resource included),
    training and test rows and scoring, so a second ``fit`` on the same data
    fits nothing, and an interrupted one resumes in the rung it stopped in:
    the earlier rungs are read back and choose the same survivors. With
    ``resource="n_samples"`` the rows of a rung are drawn with
    ``random_state``: give an int for the rows, and so the fits, to repeat.

    With a seeded forest's ``n_estimators`` as the resource, the rungs
    continue each other: a survivor's forest at the next rung grows its last
    rung's forest on the same rows instead of growing every tree again
    (:mod:`gridfold.sharing.continuation`; the conditions are in
    :mod:`gridfold.sharing.forest`). ``share=False`` fits every rung afresh.

    The refit is scikit-learn's, of the best candidate of the last rung; when
    that rung has one candidate (so the refit's is known) whose refit a path
    family answers exactly (a seeded forest, say), a worker may fit it
    alongside the rung's folds (:mod:`gridfold.sharing.early_refit`); else it
    is done after the last rung. ``sklearn.experimental.enable_halving_search_cv``
    is not needed, and importing these classes does not add scikit-learn's
    to :mod:`sklearn.model_selection`.

    Callbacks set with ``set_callbacks`` see the same hooks as on
    scikit-learn's search (a ``"halving-iteration"`` task per rung), on every
    backend; see :mod:`gridfold.callbacks`.
"""


class _RungEvaluator(_Evaluator):
    """``evaluate_candidates`` whose rungs continue the last rung's fits where that is exact.

    With a parameter as the resource and a growth for it
    (:func:`gridfold.sharing.continuation.growth_for`: a seeded forest's
    ``n_estimators``), each rung's fits are sent back while a later rung may
    use more of the resource, and the next rung's fit of the same candidate
    (every parameter but the resource equal) on the same training rows grows
    from it. The fits are matched by content, not by position, so a rung's
    survivors find their fits whatever order ``_top_k`` gives them; a rung
    with a candidate whose parameters cannot be hashed (a lambda) fits
    afresh. Not with ``verbose``: ``_fit_and_score`` prints a line per fit,
    a grown fit does not. The search's ``_continued_per_rung`` counts, per
    rung, the fits handed a start (a fit the store holds is read back instead).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._kept: dict[tuple[str, str], Any] = {}  # (candidate key, train key) -> fit
        self._rung_keys: tuple[list[str], list[str]] = ([], [])
        self.search._continued_per_rung = []
        self._n_rungs = 0

    def _continuation(
        self,
        candidates: list[dict[str, Any]],
        splits: list[tuple[Any, Any]],
        more_results: dict[str, list[Any]],
    ) -> Continuation | None:
        continuation = self._rung(candidates, splits, more_results)
        n_starts = 0 if continuation is None else len(continuation.starts)
        self.search._continued_per_rung.append(n_starts)
        return continuation

    def _rung(
        self,
        candidates: list[dict[str, Any]],
        splits: list[tuple[Any, Any]],
        more_results: dict[str, list[Any]],
    ) -> Continuation | None:
        search = self.search
        resource = search.resource
        kept, self._kept = self._kept, {}  # the earlier rungs' fits: only the last one's count
        if resource == "n_samples" or not more_results.get("n_resources") or search.verbose:
            return None
        growths = {
            growth_for(
                clone(self.base_estimator).set_params(**clone(_without(c, resource), safe=False)),
                resource,
            )
            for c in candidates
        }
        growth = growths.pop() if len(growths) == 1 else None
        if growth is None:  # none applies, or not to every candidate alike
            return None
        keys = [content_key(_without(c, resource), i) for i, c in enumerate(candidates)]
        rows = [content_key(train, s) for s, (train, _) in enumerate(splits)]
        if any(key.startswith(UNHASHABLE) for key in [*keys, *rows]):
            return None  # such a key is a position, and positions change between rungs
        self._rung_keys = (keys, rows)
        starts = {
            (c, s): kept[key, row]
            for c, key in enumerate(keys)
            for s, row in enumerate(rows)
            if (key, row) in kept
        }
        # The last rung, or one at max_resources_ (no rung uses more), has nothing to grow for.
        keep = (
            more_results["iter"][0] + 1 < self._rungs(len(candidates))
            and more_results["n_resources"][0] < search.max_resources_
        )
        return Continuation(growth.name, starts, keep)

    def _rungs(self, n_candidates: int) -> int:
        """The search's number of rungs, from its first rung's candidates."""
        if not self._n_rungs:
            self._n_rungs = _n_iterations(self.search, n_candidates)
        return self._n_rungs

    def _title(self, n_candidates: int, n_splits: int, more_results: dict[str, list[Any]]) -> str:
        """``rung 2/4: 9 candidates x 5 splits`` (the total of rungs as ``_run_search`` has it)."""
        rung = more_results["iter"][0] + 1 if more_results.get("iter") else self.calls
        plural = "s" * (n_candidates != 1)
        title = (
            f"rung {rung}/{self._rungs(n_candidates)}: {n_candidates} candidate{plural}"
            f" x {n_splits} splits"
        )
        opened = getattr(self.search, "_gridfold_session", None)
        return title if opened is None else f"{opened.label}: {title}"

    def _refit_model(self, n_candidates: int, more_results: dict[str, list[Any]]) -> int | None:
        """The last rung holds the refit's candidate (``_select_best_index`` looks only there)."""
        rungs = self._rungs(n_candidates)
        last = bool(more_results.get("iter")) and more_results["iter"][0] + 1 == rungs
        return 0 if self.search.refit and last else None

    def _tail_refit(self, n_splits: int) -> None:
        """No bet on the leader: a last rung holds a few close candidates, the best of the
        one before, so the leader at the tail is a coin toss, and a lost bet costs a worker
        restart (``python benchmarks/run.py --suite halving``: 0.78 with it on halving_svc,
        1.15 without). A last rung of one candidate is refitted early, for sure."""
        return None

    def _keep(self, kept: KeptFit) -> None:
        keys, rows = self._rung_keys
        self._kept[keys[kept.task.candidate], rows[kept.task.split]] = kept.estimator


def _n_iterations(search: Any, n_candidates: int) -> int:
    """The rungs ``BaseSuccessiveHalving._run_search`` runs, from its first rung's candidates.

    Its own computation (scikit-learn 1.9), which sets ``n_iterations_`` only
    after the last rung; ``min_resources_`` is final before the first.
    """
    n_required = 1 + math.floor(math.log(n_candidates, search.factor))
    n_possible = 1 + math.floor(
        math.log(search.max_resources_ // search.min_resources_, search.factor)
    )
    return n_required if search.aggressive_elimination else min(n_possible, n_required)


def _without(candidate: dict[str, Any], param: str) -> dict[str, Any]:
    return {k: v for k, v in candidate.items() if k != param}


class _HalvingFitMixin:
    """``BaseSuccessiveHalving.fit`` around gridfold's ``fit``, in scikit-learn's order."""

    cv_results_: dict[str, Any]
    best_index_: int

    @property
    def _evaluator_type(self) -> type[_Evaluator]:
        return _RungEvaluator

    @_sklearn.fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Run fit with all sets of parameters, rung after rung.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target; None for unsupervised learning.
        **params : dict of str -> object
            Parameters for the estimator's ``fit``, the scorer and the CV
            splitter (``groups``), routed as in scikit-learn.

        Returns
        -------
        self : object
            The fitted search.
        """
        # As BaseSuccessiveHalving.fit: the subsampling fractions are of the rows given.
        self._n_samples_orig = _sklearn.num_samples(X)
        super().fit(X, y, **params)  # type: ignore[misc]
        # As BaseSuccessiveHalving.fit: set whatever refit is (scikit-learn's comment
        # says BaseSearchCV may not have set it).
        self.best_score_ = self.cv_results_["mean_test_score"][self.best_index_]
        return self


class HalvingGridSearchCV(
    SearchReportMixin, _HalvingFitMixin, EngineSearchMixin, SkHalvingGridSearchCV
):
    __doc__ = (
        "Search over a parameter grid with successive halving, run on gridfold's engine.\n\n"
        "Same parameters, attributes and ``cv_results_`` as\n"
        ":class:`sklearn.model_selection.HalvingGridSearchCV` (the same rungs, candidates\n"
        "and subsampled rows), plus:\n" + _EXECUTION_PARAMS_DOC + _HALVING_DOC
    )

    _parameter_constraints: dict = {
        **SkHalvingGridSearchCV._parameter_constraints,
        **EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        factor: float = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "exhaust",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        backend: str | None = None,
        progress: bool = False,
        share: bool = True,
        store: Any = None,
        fit_timeout: float | None = None,
        retries: int = 1,
        scheduler: Any = None,
    ) -> None:
        super().__init__(
            estimator,
            param_grid,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.backend = backend
        self.progress = progress
        self.share = share
        self.store = store
        self.fit_timeout = fit_timeout
        self.retries = retries
        self.scheduler = scheduler

    def _generate_candidate_params(self) -> ParameterGrid:
        """scikit-learn's candidates (the same ``ParameterGrid``), its errors with a fix."""
        with sklearn_error_with_fix(*_GRID):
            return ParameterGrid(self.param_grid)


class HalvingRandomSearchCV(
    SearchReportMixin, _HalvingFitMixin, EngineSearchMixin, SkHalvingRandomSearchCV
):
    __doc__ = (
        "Randomized search with successive halving, run on gridfold's engine.\n\n"
        "Same parameters, attributes and ``cv_results_`` as\n"
        ":class:`sklearn.model_selection.HalvingRandomSearchCV` (the same candidates and\n"
        "subsampled rows for the same ``random_state``), plus:\n"
        + _EXECUTION_PARAMS_DOC
        + _HALVING_DOC
    )

    _parameter_constraints: dict = {
        **SkHalvingRandomSearchCV._parameter_constraints,
        **EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_candidates: Any = "exhaust",
        factor: float = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "smallest",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        backend: str | None = None,
        progress: bool = False,
        share: bool = True,
        store: Any = None,
        fit_timeout: float | None = None,
        retries: int = 1,
        scheduler: Any = None,
    ) -> None:
        super().__init__(
            estimator,
            param_distributions,
            n_candidates=n_candidates,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.backend = backend
        self.progress = progress
        self.share = share
        self.store = store
        self.fit_timeout = fit_timeout
        self.retries = retries
        self.scheduler = scheduler

    def _generate_candidate_params(self) -> ParameterSampler:
        """scikit-learn's candidates, its errors with a fix.

        The sampler itself, not a list: scikit-learn's ``_run_search`` iterates
        it more than once, and with a ``RandomState`` as ``random_state`` each
        pass draws anew; a list would give other candidates than scikit-learn's.
        """
        n_candidates = self.n_candidates
        if n_candidates == "exhaust":
            # As scikit-learn: enough candidates for the last rung to use max_resources.
            n_candidates = self.max_resources_ // self.min_resources_
        with sklearn_error_with_fix(*_DISTRIBUTIONS):
            return ParameterSampler(
                self.param_distributions, n_candidates, random_state=self.random_state
            )
