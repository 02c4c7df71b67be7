"""Study files: a TOML description of what ``gridfold run`` evaluates.

A study file names a data set, a cross-validation scheme, how to score, and
one or more models. Every model is evaluated on the *same* splits, in one
pool of workers, and ranked on one leaderboard::

    [data]
    source = "sklearn:digits"      # a data set shipped with scikit-learn:
                                   # iris, digits, wine, breast_cancer, diabetes, linnerud
    # or a file, relative to the study file:
    # path = "data.csv"            # .csv, .parquet (needs pyarrow: pip install gridfold[parquet])
    # target = "label"             # the target column (required with path)
    # features = ["a", "b"]        # optional: the feature columns (default: all others)
    # groups = "patient"           # optional: a group column, for Group* splitters

    [cv]                           # optional; default: 5 folds as scikit-learn's check_cv
    splitter = "StratifiedKFold"   # any splitter class of sklearn.model_selection
    n_splits = 5                   # ... and any of its constructor arguments
    shuffle = true
    random_state = 0

    [run]                          # optional
    scoring = "accuracy"           # a scorer name, or a list of names; default: estimator.score
    refit = "accuracy"             # with several scorers, the one that ranks (default: first)
    n_jobs = -1                    # --n-jobs overrides
    backend = "processes"          # sequential | threads | processes; --backend overrides
    return_train_score = false
    error_score = "nan"            # "nan", a number, or "raise"

    [[model]]
    name = "svc"                   # optional, default: the class name; must be unique
    estimator = "sklearn.svm.SVC"  # an import path, or a bare scikit-learn class name ("SVC")
    params = { kernel = "rbf" }    # fixed constructor arguments
    [model.grid]                   # grid search; an array of tables ([[model.grid]]) for
    C = [0.1, 1, 10]               # a list of grids

    [[model]]
    name = "logreg"
    steps = [ { name = "scale", estimator = "sklearn.preprocessing.StandardScaler" },
              { name = "clf", estimator = "sklearn.linear_model.LogisticRegression",
                params = { max_iter = 2000 } } ]
    grid = { clf__C = [0.1, 1.0] }

    [[model]]
    name = "rf"
    estimator = "sklearn.ensemble.RandomForestClassifier"
    n_iter = 8                     # random search: n_iter candidates drawn from distributions
    random_state = 0               # seed of the sampler (as RandomizedSearchCV's)
    [model.distributions]
    n_estimators = { randint = [10, 200] }   # {scipy.stats name = [args]} or {name = {kwargs}}
    max_features = ["sqrt", "log2"]          # a list: uniform choice

A model with neither ``grid`` nor ``distributions`` is evaluated once with its
``params``: that is how algorithms are compared. TOML has no null, so the
string ``"None"`` stands for Python's ``None`` in params, grids and
distributions; a table ``{ estimator = "...", params = {...} }`` in a value
stands for an estimator (to search over pipeline steps, say).

Every error is a :class:`~gridfold.exceptions.ConfigError` whose message starts
with ``<file>: line <N>:`` where the line is known, then says what was
expected, what was given, and the fix. Unknown keys are errors, so a typo is
never silently ignored.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gridfold.exceptions import ConfigError

__all__ = [
    "StudyConfig",
    "DataConfig",
    "CVConfig",
    "RunConfig",
    "ModelConfig",
    "Dataset",
    "load_config",
    "parse_config",
    "sklearn_datasets",
]

SearchKind = Literal["grid", "random", "none"]

_TOP_KEYS = ("data", "cv", "run", "model")
_DATA_KEYS = ("source", "path", "target", "features", "groups")
_RUN_KEYS = ("scoring", "refit", "n_jobs", "backend", "return_train_score", "error_score")
_MODEL_KEYS = (
    "name",
    "estimator",
    "steps",
    "params",
    "grid",
    "distributions",
    "search",
    "n_iter",
    "random_state",
)
_STEP_KEYS = ("name", "estimator", "params")
_DEFAULT_CV_KEYS = ("n_splits", "shuffle", "random_state")
_NONE = "None"


# --------------------------------------------------------------------------- where


class _Source:
    """The study file's text, to point errors at a line."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = text.splitlines()
        header = re.compile(r"^\s*\[\[\s*model\s*\]\]")
        self.model_starts = [i for i, line in enumerate(self.lines) if header.match(line)]

    def section(self, table: str) -> tuple[int, int]:
        """0-based [start, end) line range of ``[table]`` (or the whole file)."""
        pattern = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        for i, line in enumerate(self.lines):
            if pattern.match(line):
                end = next(
                    (j for j in range(i + 1, len(self.lines)) if _is_header(self.lines[j], table)),
                    len(self.lines),
                )
                return i, end
        return 0, len(self.lines)

    def model_section(self, index: int) -> tuple[int, int]:
        if index >= len(self.model_starts):  # inline array of models: search everything
            return 0, len(self.lines)
        start = self.model_starts[index]
        end = (
            self.model_starts[index + 1] if index + 1 < len(self.model_starts) else len(self.lines)
        )
        return start, end

    def find(
        self, needle: str, span: tuple[int, int] | None = None, key: bool = False
    ) -> int | None:
        """1-based line of the first ``needle`` in ``span``; as a key (``needle =``) if ``key``."""
        start, end = span or (0, len(self.lines))
        if key:
            pattern = re.compile(rf"(^|[\s{{,.\[\"']){re.escape(needle)}[\"']?\s*(=|\])")
        else:
            pattern = re.compile(re.escape(needle))
        for i in range(start, end):
            if pattern.search(_strip_comment(self.lines[i])):
                return i + 1
        return None

    def error(self, line: int | None, message: str) -> ConfigError:
        where = f"{self.file}: line {line}: " if line else f"{self.file}: "
        return ConfigError(where + message)


def _is_header(line: str, table: str) -> bool:
    stripped = line.strip()
    if not stripped.startswith("["):
        return False
    inner = stripped.strip("[] ")
    return not inner.startswith(table + ".")


def _strip_comment(line: str) -> str:
    # Good enough to locate keys: a '#' outside quotes starts a comment.
    out, quote = [], ""
    for ch in line:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


class _Ctx:
    """Locates errors for one table: its line span in the file."""

    def __init__(self, src: _Source, span: tuple[int, int], label: str) -> None:
        self.src = src
        self.span = span
        self.label = label

    def line(self, needle: str | None = None, key: bool = True) -> int | None:
        if needle is not None:
            found = self.src.find(needle, self.span, key=key)
            if found is not None:
                return found
        return self.span[0] + 1 if self.span != (0, len(self.src.lines)) else None

    def error(self, message: str, needle: str | None = None, key: bool = True) -> ConfigError:
        return self.src.error(self.line(needle, key), f"{self.label}: {message}")


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], ctx: _Ctx) -> None:
    for key in table:
        if key not in allowed:
            fix = _did_you_mean(key, allowed, "remove it or fix its spelling.")
            raise ctx.error(
                f"unknown key {key!r}. Expected one of {list(allowed)}; fix: {fix}", key
            )


def _expect(value: Any, types: type | tuple[type, ...], what: str, key: str, ctx: _Ctx) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise ctx.error(f"{key} must be {what}; got {value!r}. Fix: give {key} as {what}.", key)
    return value


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Dataset:
    """Loaded data: features ``X``, target ``y``, optional ``groups``, and a label."""

    X: Any
    y: Any
    groups: Any
    description: str


def sklearn_datasets() -> list[str]:
    """Names accepted by ``source = "sklearn:NAME"``: the data sets scikit-learn ships."""
    import sklearn.datasets

    return sorted(
        name[len("load_") :]
        for name in dir(sklearn.datasets)
        if name.startswith("load_")
        and "return_X_y" in inspect.signature(getattr(sklearn.datasets, name)).parameters
    )


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` table: a scikit-learn data set or a CSV/Parquet file."""

    source: str | None = None
    path: Path | None = None
    target: str | None = None
    features: tuple[str, ...] | None = None
    groups: str | None = None
    _ctx: _Ctx | None = field(default=None, repr=False, compare=False)

    def _error(self, message: str, needle: str | None = None) -> ConfigError:
        if self._ctx is None:
            return ConfigError(f"[data]: {message}")
        return self._ctx.error(message, needle)

    def load(self) -> Dataset:
        """Load the data set.

        Returns
        -------
        Dataset

        Raises
        ------
        ConfigError
            For a missing file, an unreadable format or a missing column.
        """
        if self.source is not None:
            return self._load_sklearn(self.source)
        assert self.path is not None and self.target is not None
        frame = self._read_frame(self.path)
        columns = [str(c) for c in frame.columns]
        wanted = [(self.target, "target")]
        wanted += [(f, "features") for f in self.features or ()]
        wanted += [(self.groups, "groups")] if self.groups else []
        for name, key in wanted:
            if name not in columns:
                fix = _did_you_mean(name, columns, "use one of the columns.")
                raise self._error(
                    f"column {name!r} ({key}) is not in {self.path.name}. Expected one of its "
                    f"columns: {columns[:30]}{'...' if len(columns) > 30 else ''}; fix: {fix}",
                    key,
                )
        y = frame[self.target].to_numpy()
        groups = frame[self.groups].to_numpy() if self.groups else None
        if self.features is not None:
            X = frame[list(self.features)]
        else:
            X = frame.drop(columns=[c for c in (self.target, self.groups) if c])
        return Dataset(X, y, groups, f"{self.path.name} ({X.shape[0]} x {X.shape[1]})")

    def _load_sklearn(self, name: str) -> Dataset:
        import sklearn.datasets

        loader = getattr(sklearn.datasets, f"load_{name}")
        X, y = loader(return_X_y=True)
        return Dataset(X, y, None, f"sklearn:{name} ({X.shape[0]} x {X.shape[1]})")

    def _read_frame(self, path: Path) -> Any:
        import pandas as pd

        if not path.is_file():
            raise self._error(
                f"data file {str(path)!r} does not exist. Expected a CSV or Parquet file "
                "(relative paths are relative to the study file); fix: correct path.",
                "path",
            )
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            try:
                return pd.read_parquet(path)
            except ImportError:
                raise self._error(
                    f"reading {path.name} needs pyarrow, which is not installed. "
                    "Fix: pip install gridfold[parquet]",
                    "path",
                ) from None
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        raise self._error(
            f"unsupported data file type {suffix!r}. Expected .csv, .tsv or .parquet; "
            "fix: convert the file.",
            "path",
        )


def _parse_data(table: Any, src: _Source, base_dir: Path) -> DataConfig:
    ctx = _Ctx(src, src.section("data"), "[data]")
    if not isinstance(table, dict):
        raise ctx.error(f"[data] must be a table; got {table!r}.")
    _check_keys(table, _DATA_KEYS, ctx)
    source, path = table.get("source"), table.get("path")
    if (source is None) == (path is None):
        raise ctx.error(
            'expected exactly one of source = "sklearn:NAME" or path = "FILE"; '
            f"got {'both' if source else 'neither'}. Fix: keep one."
        )
    if source is not None:
        _expect(source, str, 'a string like "sklearn:iris"', "source", ctx)
        extra = [k for k in ("target", "features", "groups") if k in table]
        if extra:
            raise ctx.error(
                f"{extra} only apply to path = ...; a sklearn data set has its own target. "
                "Fix: remove them.",
                extra[0],
            )
        prefix, _, name = source.partition(":")
        names = sklearn_datasets()
        if prefix != "sklearn" or name not in names:
            close = difflib.get_close_matches(name or source, names, n=1)
            fix = f'source = "sklearn:{close[0]}"' if close else f'one of "sklearn:{names[0]}", ...'
            raise ctx.error(
                f'unknown data source {source!r}. Expected "sklearn:NAME" with NAME one of '
                f'{names} (or path = "FILE" for your own data); fix: {fix}.',
                "source",
            )
        return DataConfig(source=name, _ctx=ctx)
    _expect(path, str, "a file path string", "path", ctx)
    target = table.get("target")
    if target is None:
        raise ctx.error(
            'path = ... needs target = "COLUMN", the column to predict. Fix: add it.', "path"
        )
    _expect(target, str, "a column name string", "target", ctx)
    features = table.get("features")
    if features is not None:
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ctx.error(
                f"features must be a list of column names; got {features!r}.", "features"
            )
        features = tuple(features)
    groups = table.get("groups")
    if groups is not None:
        _expect(groups, str, "a column name string", "groups", ctx)
    resolved = Path(str(path))
    if not resolved.is_absolute():
        resolved = base_dir / resolved
    return DataConfig(path=resolved, target=target, features=features, groups=groups, _ctx=ctx)


# --------------------------------------------------------------------------- cv


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


def _parse_cv(table: Any, src: _Source) -> CVConfig:
    ctx = _Ctx(src, src.section("cv"), "[cv]")
    if not isinstance(table, dict):
        raise ctx.error(f"[cv] must be a table; got {table!r}.")
    options = {k: v for k, v in table.items() if k != "splitter"}
    splitter = table.get("splitter")
    if splitter is None:
        _check_keys(options, _DEFAULT_CV_KEYS, ctx)
        n_splits = options.get("n_splits", 5)
        if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
            raise ctx.error(
                f"n_splits must be an integer >= 2; got {n_splits!r}. Fix: e.g. n_splits = 5.",
                "n_splits",
            )
        return CVConfig(None, options)
    _expect(splitter, str, "a class name of sklearn.model_selection", "splitter", ctx)
    names = _splitter_names()
    if splitter not in names:
        fix = _did_you_mean(splitter, names, "use one of them.")
        raise ctx.error(
            f"unknown splitter {splitter!r}. Expected a splitter of sklearn.model_selection: "
            f"{names}; fix: {fix}",
            "splitter",
        )
    import sklearn.model_selection as ms

    cls = getattr(ms, splitter)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    _check_keys(options, accepted, _Ctx(src, ctx.span, f"[cv] ({splitter})"))
    try:
        cls(**options)
    except (TypeError, ValueError) as exc:
        raise ctx.error(
            f"{splitter}({_kwargs(options)}) is invalid: {exc}. Fix: correct the arguments.",
            next(iter(options), "splitter"),
        ) from None
    return CVConfig(splitter, options)


def _kwargs(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunConfig:
    """The ``[run]`` table: scoring and execution options."""

    scoring: str | tuple[str, ...] | None = None
    refit: str | None = None
    n_jobs: int | None = None
    backend: str | None = None
    return_train_score: bool = False
    error_score: float | str = math.nan

    @property
    def metrics(self) -> tuple[str, ...]:
        """The ``cv_results_`` metric keys: scorer names, or ``("score",)`` for one scorer."""
        return self.scoring if isinstance(self.scoring, tuple) else ("score",)

    @property
    def refit_metric(self) -> str:
        """The metric that ranks the leaderboard."""
        return self.refit or self.metrics[0]


def _parse_run(table: Any, src: _Source) -> RunConfig:
    ctx = _Ctx(src, src.section("run"), "[run]")
    if not isinstance(table, dict):
        raise ctx.error(f"[run] must be a table; got {table!r}.")
    _check_keys(table, _RUN_KEYS, ctx)
    scoring = _parse_scoring(table.get("scoring"), ctx)
    refit = table.get("refit")
    if refit is not None:
        _expect(refit, str, "a scorer name", "refit", ctx)
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
        _expect(n_jobs, int, "an integer (-1 for all cores)", "n_jobs", ctx)
        if n_jobs == 0:
            raise ctx.error(
                "n_jobs = 0 is invalid. Expected a positive number of workers, or -1 for all "
                "cores, -2 for all but one; fix: n_jobs = -1.",
                "n_jobs",
            )
    backend = table.get("backend")
    if backend is not None:
        from gridfold.executors import available_backends

        _expect(backend, str, "a backend name", "backend", ctx)
        if backend not in available_backends():
            raise ctx.error(
                f"unknown backend {backend!r}. Expected one of {available_backends()}; "
                "fix: use one of these names.",
                "backend",
            )
    rts = table.get("return_train_score", False)
    _expect(rts, bool, "true or false", "return_train_score", ctx)
    return RunConfig(
        scoring=scoring,
        refit=refit,
        n_jobs=n_jobs,
        backend=backend,
        return_train_score=rts,
        error_score=_parse_error_score(table.get("error_score", "nan"), ctx),
    )


def _parse_scoring(value: Any, ctx: _Ctx) -> str | tuple[str, ...] | None:
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


def _parse_error_score(value: Any, ctx: _Ctx) -> float | str:
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


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelConfig:
    """One ``[[model]]``: an estimator (or pipeline) and its candidate space.

    Attributes
    ----------
    name : str
        Unique label on the leaderboard.
    estimator : estimator
        The unfitted estimator, with its fixed ``params`` set.
    search : {"grid", "random", "none"}
        Grid search over ``space``, random search with ``n_iter`` draws from
        ``space``, or one evaluation with the fixed params.
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

    def candidates(self) -> list[dict[str, Any]]:
        """The parameter settings to evaluate, in ``cv_results_`` order.

        Returns
        -------
        list of dict
            ``ParameterGrid(space)`` for a grid, ``ParameterSampler(space,
            n_iter, random_state)`` for a random search (the same as
            ``RandomizedSearchCV``'s), ``[{}]`` otherwise.
        """
        from sklearn.model_selection import ParameterGrid, ParameterSampler

        if self.search == "grid":
            return list(ParameterGrid(list(self.space)))
        if self.search == "random":
            return list(
                ParameterSampler(list(self.space), self.n_iter, random_state=self.random_state)
            )
        return [{}]


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


def _resolve_class(path: Any, ctx: _Ctx, key: str = "estimator") -> type:
    _expect(path, str, 'an import path like "sklearn.svm.SVC"', key, ctx)
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


def _construct(cls: type, params: Mapping[str, Any], path: str, ctx: _Ctx) -> Any:
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
            f"cannot build {path}({_kwargs(params)}): {exc}. Expected parameters of "
            f"{cls.__name__}: {valid}; fix: {hint or 'correct the params.'}",
            unknown[0] if unknown else path,
            key=bool(unknown),
        ) from None


def _value(value: Any, ctx: _Ctx, key: str) -> Any:
    """A TOML value as a Python parameter value ("None" -> None, estimator tables built)."""
    if value == _NONE:
        return None
    if isinstance(value, list):
        return [_value(v, ctx, key) for v in value]
    if isinstance(value, dict):
        if "estimator" in value:
            return _build_step_estimator(value, ctx)
        return {k: _value(v, ctx, key) for k, v in value.items()}
    return value


def _params(table: Any, ctx: _Ctx, key: str = "params") -> dict[str, Any]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ctx.error(f"{key} must be a table of name = value; got {table!r}.", key)
    return {k: _value(v, ctx, k) for k, v in table.items()}


def _build_step_estimator(table: Mapping[str, Any], ctx: _Ctx) -> Any:
    _check_keys(table, ("estimator", "params"), ctx)
    cls = _resolve_class(table["estimator"], ctx)
    return _construct(cls, _params(table.get("params"), ctx), table["estimator"], ctx)


def _build_estimator(table: Mapping[str, Any], ctx: _Ctx) -> tuple[Any, str]:
    has_est, has_steps = "estimator" in table, "steps" in table
    if has_est == has_steps:
        raise ctx.error(
            'expected exactly one of estimator = "module.Class" or steps = [...]; got '
            f"{'both' if has_est else 'neither'}. Fix: keep one.",
            "estimator" if has_est else None,
        )
    params = _params(table.get("params"), ctx)
    if has_est:
        path = table["estimator"]
        return _construct(_resolve_class(path, ctx), params, path, ctx), path
    steps = table["steps"]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise ctx.error(
            "steps must be a non-empty list of tables { name = ..., estimator = ..., params = "
            f"{{...}} }}; got {steps!r}.",
            "steps",
        )
    built = []
    for i, step in enumerate(steps):
        _check_keys(step, _STEP_KEYS, ctx)
        if "estimator" not in step:
            raise ctx.error(f'step {i} has no estimator = "module.Class". Fix: add it.', "steps")
        name = step.get("name", f"step{i}")
        _expect(name, str, "a string", "name", ctx)
        built.append(
            (name, _build_step_estimator({k: v for k, v in step.items() if k != "name"}, ctx))
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


def _parse_space(
    value: Any, key: str, ctx: _Ctx, convert: Callable[[Any, str], Any]
) -> tuple[dict[str, Any], ...]:
    tables = value if isinstance(value, list) else [value]
    if not all(isinstance(t, dict) for t in tables):
        raise ctx.error(
            f"{key} must be a table (or an array of tables) of name = values; got {value!r}.",
            key,
        )
    for table in tables:
        misplaced = [k for k in table if k in _MODEL_KEYS]
        if misplaced:
            raise ctx.error(
                f"{misplaced[0]!r} is inside the {key} table, as a parameter to search. "
                f"In TOML, every key after a [model.{key}] header belongs to that table; "
                f"fix: move {misplaced[0]} = ... above the [model.{key}] line.",
                misplaced[0],
            )
    return tuple({k: convert(v, k) for k, v in t.items()} for t in tables)


def _grid_values(ctx: _Ctx) -> Callable[[Any, str], Any]:
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
        return _value(value, ctx, name)

    return convert


def _distribution_values(ctx: _Ctx) -> Callable[[Any, str], Any]:
    def convert(value: Any, name: str) -> Any:
        if isinstance(value, list):
            return _value(value, ctx, name)
        if isinstance(value, dict) and len(value) == 1:
            return _distribution(*next(iter(value.items())), name, ctx)
        raise ctx.error(
            f"distribution of {name!r} must be a list of choices or a one-key table "
            f"{{ scipy_stats_name = [args] }}; got {value!r}. "
            'Fix: e.g. { loguniform = [1e-3, 1e3] } or ["a", "b"].',
            name,
        )

    return convert


def _distribution(dist: str, args: Any, name: str, ctx: _Ctx) -> Any:
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


def _space_lines(space: Any, ctx: _Ctx) -> dict[str, int]:
    tables = space if isinstance(space, list) else [space] if isinstance(space, dict) else []
    lines: dict[str, int] = {}
    for table in tables:
        for key in table if isinstance(table, dict) else ():
            line = ctx.src.find(key, ctx.span, key=True)
            if line is not None:
                lines.setdefault(key, line)
    return lines


def _parse_model(table: Any, index: int, src: _Source) -> ModelConfig:
    span = src.model_section(index)
    label = f"model {index + 1}"
    ctx = _Ctx(src, span, label)
    if not isinstance(table, dict):
        raise ctx.error(f"[[model]] must be a table; got {table!r}.")
    if isinstance(table.get("name"), str):
        ctx = _Ctx(src, span, f"model {table['name']!r}")
    _check_keys(table, _MODEL_KEYS, ctx)
    estimator, spec = _build_estimator(table, ctx)
    name = table.get("name", type(estimator).__name__)
    _expect(name, str, "a string", "name", ctx)
    has_grid, has_dist = "grid" in table, "distributions" in table
    search = table.get("search", "random" if has_dist else "grid" if has_grid else "none")
    if search not in ("grid", "random", "none") or has_grid and has_dist:
        given = "grid and distributions" if has_grid and has_dist else "this model"
        raise ctx.error(
            f"search = {search!r} with {given}. "
            'Expected search = "grid" with a grid table, or "random" with a distributions table '
            "and n_iter; fix: keep one of grid/distributions.",
            "search" if "search" in table else "grid",
        )
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
        n_iter = _expect(table.get("n_iter", 10), int, "a positive integer", "n_iter", ctx)
        if n_iter < 1:
            raise ctx.error(f"n_iter must be >= 1; got {n_iter}. Fix: e.g. n_iter = 10.", "n_iter")
        random_state = table.get("random_state")
        if random_state is not None:
            _expect(random_state, int, "an integer seed", "random_state", ctx)
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


# --------------------------------------------------------------------------- study


@dataclass(frozen=True)
class StudyConfig:
    """A parsed, validated study file.

    Attributes
    ----------
    file : str
        The file name errors are reported against.
    data : DataConfig
    cv : CVConfig
    run : RunConfig
    models : tuple of ModelConfig
    """

    file: str
    data: DataConfig
    cv: CVConfig
    run: RunConfig
    models: tuple[ModelConfig, ...]

    def error(self, message: str, line: int | None = None) -> ConfigError:
        """A :class:`ConfigError` located in this file."""
        where = f"{self.file}: line {line}: " if line else f"{self.file}: "
        return ConfigError(where + message)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or Path
        The TOML study file; data paths in it are relative to its folder.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        When the file is missing, is not valid TOML, or describes an invalid study.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such study file. Expected a TOML file (see examples/); "
            "fix: check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the study file: {exc}.") from None
    return parse_config(text, file=str(path), base_dir=p.resolve().parent)


_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_config(text: str, file: str = "<study>", base_dir: Path | None = None) -> StudyConfig:
    """Parse and validate the text of a study file.

    Parameters
    ----------
    text : str
        TOML text.
    file : str, default="<study>"
        Name used in error messages.
    base_dir : Path, default=None
        Folder that relative data paths are relative to (default: the current one).

    Returns
    -------
    StudyConfig
    """
    src = _Source(file, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = int(match.group(1)) if match else None
        detail = _TOML_LINE.sub("", str(exc)).strip()
        col = f", column {match.group(2)}" if match else ""
        raise src.error(
            line,
            f"invalid TOML{col}: {detail}. Fix: check the syntax of this line "
            "(strings need quotes, tables [name], keys name = value).",
        ) from None
    top = _Ctx(src, (0, len(src.lines)), "study")
    _check_keys(doc, _TOP_KEYS, top)
    if "data" not in doc:
        raise src.error(
            None, 'no [data] table. Expected e.g. [data] source = "sklearn:iris"; fix: add one.'
        )
    models = doc.get("model")
    if not models:
        raise src.error(
            None,
            "no [[model]] table. Expected at least one, e.g. "
            '[[model]] estimator = "sklearn.svm.SVC"; fix: add one (see examples/).',
        )
    if not isinstance(models, list):
        raise src.error(
            src.find("model", key=True),
            "model must be an array of tables: write [[model]], not [model].",
        )
    parsed = tuple(_parse_model(m, i, src) for i, m in enumerate(models))
    names = [m.name for m in parsed]
    for i, model in enumerate(parsed):
        if names.index(model.name) != i:
            raise src.error(
                model.line,
                f"model name {model.name!r} is used twice. Expected unique names; "
                'fix: add name = "..." to tell them apart.',
            )
    return StudyConfig(
        file=file,
        data=_parse_data(doc["data"], src, base_dir or Path.cwd()),
        cv=_parse_cv(doc.get("cv", {}), src),
        run=_parse_run(doc.get("run", {}), src),
        models=parsed,
    )


def _did_you_mean(name: str, choices: Sequence[str], otherwise: str) -> str:
    """The fix to suggest for a misspelt ``name``: the closest choice, else ``otherwise``."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise
