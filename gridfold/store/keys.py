"""Content keys: a task's key is a hash of everything that determines its result.

:func:`task_keys` gives every :class:`~gridfold.tasks.Task` of a study a
sha256 hex key built from

- the estimator with the candidate applied: its class (module and qualified
  name) and ``get_params(deep=False)`` of
  ``clone(model.estimator).set_params(**candidate)`` (nested estimators with
  their whole state: parameters, output config, a frozen step's fit);
- the split's train and test indices;
- the data: ``X``, ``y``, fit parameters and score parameters;
- the scorer (``model.scorer``; scikit-learn's default "the estimator's own
  ``score``" scorer is hashed without the base estimator it holds, which the
  estimator's identity covers);
- the study options ``return_train_score`` and ``error_score``;
- the versions of scikit-learn, numpy and scipy, and of every other package
  whose classes or functions appear in the estimator's parameters (xgboost,
  say), and :data:`KEY_VERSION`, the version of this scheme. gridfold's own
  version is not included: results survive an upgrade of gridfold that does
  not change them, and one that does changes :data:`KEY_VERSION`.

Labels are not: the study's label and the model's name do not change a key,
so two studies (or two models) that make the same fit share its row.

Keys are stable across processes and Python runs: parameter values made of
None, bool, int, float, str, numpy numbers, lists, tuples and dicts, and
estimators whose state is made of these, are written out exactly (``repr``);
everything else is hashed with ``joblib.hash`` (content hashes of arrays,
pickles of everything else, dict and set items sorted); never ``hash()`` or
``id()``. As in ``joblib.hash``, the order of a dict's items does not count.

Limits, each of which can only make keys differ for equal results (a missed
reuse, never a wrong one), except the first:

- code is identified by its import name, not its source: a function or an
  estimator class of your own whose code changes keeps its keys (its package
  version is included when it is an installed distribution). Use a new store
  file after changing such code.
- a ``numpy.memmap`` hashes as the ndarray with the same contents, but the
  memory layout counts: a Fortran-ordered or strided ``X`` differs from its
  C-ordered copy, and a DataFrame from its ``to_numpy()``.
- a dict or set whose keys cannot be sorted (mixed types) is ordered by
  ``hash()`` inside joblib, which varies with ``PYTHONHASHSEED`` for strings.
- BLAS and OpenMP libraries are covered only through the numpy and scipy
  versions that ship them.

When ``joblib.hash`` cannot hash a part (a lambda in the grid, a scorer that
cannot be pickled by reference), it is hashed as ``cloudpickle.dumps`` (by
value); when that fails too, the model has no keys: :func:`task_keys` leaves
its tasks out and the engine runs them without storing their results. If the
data or the splits cannot be hashed, no task has a key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
import sys
import types
from collections.abc import Mapping
from typing import Any

import cloudpickle
import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone

from gridfold.tasks import Model, Study, StudyData, Task

__all__ = ["KEY_VERSION", "task_keys", "candidate_repr"]

#: Version of this key scheme. Raise it whenever a change here, or in how
#: gridfold computes results, would make an old key name a different result.
KEY_VERSION = 1

# Their versions are always part of a key; sklearn is versioned as scikit-learn.
_CORE_DISTRIBUTIONS = ("scikit-learn", "numpy", "scipy")
_UNVERSIONED = frozenset({"builtins", "sklearn", "numpy", "scipy", "gridfold", "__main__"})


class _Unhashable(Exception):
    """Neither joblib.hash nor cloudpickle could hash an object."""


def task_keys(study: Study) -> dict[Task, str]:
    """The content key of every task of ``study`` that can be keyed.

    Parameters
    ----------
    study : Study
        The study.

    Returns
    -------
    dict of Task to str
        A sha256 hex key per task. Tasks of a model whose estimator,
        candidates or scorer cannot be hashed are left out; so are all tasks
        if the data or the splits cannot be. Tasks that compute the same
        result (a candidate listed twice, two models with the same estimator)
        have the same key.
    """
    try:
        common = _digest(
            (
                "gridfold-task",
                KEY_VERSION,
                _core_versions(),
                _data_digest(study.data),
                bool(study.return_train_score),
                study.error_score,
            )
        )
        splits = [_digest((train, test)) for train, test in study.data.splits]
    except _Unhashable:
        return {}
    keys: dict[Task, str] = {}
    for m, model in enumerate(study.models):
        candidates = _model_digests(model)
        if candidates is None:
            continue
        for c, candidate in enumerate(candidates):
            prefix = f"{common}|{candidate}|"
            for s, split in enumerate(splits):
                keys[Task(m, c, s)] = hashlib.sha256((prefix + split).encode()).hexdigest()
    return keys


def candidate_repr(params: Mapping[str, Any]) -> str:
    """A readable, deterministic string of a candidate's parameters.

    JSON with sorted keys; numpy scalars as numbers; classes and functions as
    their import names; anything else as its ``repr`` without memory
    addresses.

    Examples
    --------
    >>> candidate_repr({"kernel": "rbf", "C": 10})
    '{"C": 10, "kernel": "rbf"}'
    """
    return json.dumps(_readable(dict(params)), sort_keys=True, allow_nan=True)


# --------------------------------------------------------------------------
# Digests
# --------------------------------------------------------------------------


def _digest(obj: Any) -> str:
    """A deterministic hex digest of ``obj``, tagged with how it was made."""
    try:
        # coerce_mmap: a memmap of the data hashes as the ndarray it equals.
        return "j" + joblib.hash(obj, coerce_mmap=True)
    except Exception:  # joblib raises whatever pickling an object raises
        pass
    try:
        return "c" + hashlib.sha256(cloudpickle.dumps(obj)).hexdigest()
    except Exception as err:
        raise _Unhashable(repr(err)) from err


def _data_digest(data: StudyData) -> str:
    # Plain dicts: scikit-learn's routing hands fit params over in a Bunch.
    return _digest((data.X, data.y, dict(data.fit_params), dict(data.score_params)))


def _model_digests(model: Model) -> list[str] | None:
    """One digest per candidate (estimator, candidate, scorer), or None if unhashable."""
    try:
        scorer = _scorer_digest(model.scorer)
        identity = _EstimatorIdentity(model.estimator)
        return [f"{scorer}|{identity.of(candidate)}" for candidate in model.candidates]
    except Exception:  # _Unhashable, or clone/set_params failed: the fit reports that
        return None


def _scorer_digest(scorer: Any) -> str:
    cls = type(scorer)
    if cls.__name__ == "_PassthroughScorer" and cls.__module__.startswith("sklearn."):
        # scoring=None: calls the fitted estimator's own score(), so the estimator's identity
        # says it all. The object also holds the search's base estimator, whose settings
        # would otherwise keep SVC(C=1) + {"C": 10} from sharing SVC(C=10)'s results.
        return _digest(("sklearn-passthrough-scorer", cls.__module__, cls.__qualname__))
    return _digest(scorer)


class _EstimatorIdentity:
    """Digests of ``clone(estimator).set_params(**clone(candidate, safe=False))``.

    That is the estimator scikit-learn's ``_fit_and_score`` fits. Its identity
    is its class, the digest of each value of ``get_params(deep=False)`` and
    the versions of the packages its code comes from. Each value is digested
    on its own, so that the base estimator's values are digested once per
    model and only the candidate's per candidate: for an estimator whose
    ``get_params`` and ``set_params`` are BaseEstimator's and a candidate of
    top-level names, that gives the same parameters as clone + set_params
    without paying for either (both call ``inspect.signature`` several
    times). Other estimators (pipelines, xgboost's, nested names such as
    ``clf__C``) are cloned per candidate.
    """

    def __init__(self, estimator: Any) -> None:
        self.base = clone(estimator)
        cls = type(self.base)
        self.plain_set_params = (
            cls.set_params is BaseEstimator.set_params
            and cls.get_params is BaseEstimator.get_params
        )
        params = self.base.get_params(deep=False) if self.plain_set_params else {}
        self.values = {name: _value_info(v) for name, v in params.items()}

    def of(self, candidate: Mapping[str, Any]) -> str:
        params = {name: _clone_value(v) for name, v in candidate.items()}
        if self.plain_set_params and all(name in self.values for name in params):
            cls = type(self.base)
            values = {**self.values, **{n: _value_info(v) for n, v in params.items()}}
        else:
            estimator = clone(self.base).set_params(**params)
            cls = type(estimator)
            got = estimator.get_params(deep=False)
            values = {name: _value_info(v) for name, v in got.items()}
        packages = {_top_module(cls)}.union(*(tops for _, tops in values.values()))
        parts = [
            cls.__module__,
            cls.__qualname__,
            *(f"{name}={digest}" for name, (digest, _) in sorted(values.items())),
            *(f"{top}=={_module_version(top)}" for top in sorted(packages - _UNVERSIONED)),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _clone_value(value: Any) -> Any:
    # As _fit_and_score does (clone(parameters, safe=False)); immutable values as they are.
    if value is None or type(value) in (bool, int, float, str):
        return value
    return clone(value, safe=False)


def _value_info(value: Any) -> tuple[str, frozenset[str]]:
    """A parameter value's digest and the top-level modules its code comes from."""
    text = _state_repr(value)
    digest = _digest(value) if text is None else "r" + text
    return digest, frozenset(_code_modules(value))


def _state_repr(value: Any) -> str | None:
    """An exact, deterministic text of ``value``, or None: then joblib.hash it.

    For None, bool, int, float and str (whose repr is exact), numpy numbers
    (their exact Python value and their type), lists, tuples and str-keyed
    dicts of them, and estimators whose whole state (their
    ``__dict__``: parameters, metadata requests, output config) is made of
    them. Ten to a hundred times cheaper than joblib.hash, which pickles
    through Python code: it matters for a pipeline, hashed again per candidate.
    """
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return repr(value)
    if kind in (list, tuple):
        items = [_state_repr(v) for v in value]
        if any(item is None for item in items):
            return None
        inner = ",".join(item for item in items if item is not None)
        return f"[{inner}]" if kind is list else f"({inner},)"
    if kind is dict:
        return _fields_repr("{", value, "}")
    if isinstance(value, np.number | np.bool_):  # np.logspace grids: C=np.float64(0.001)
        return f"{kind.__module__}.{kind.__qualname__}({value.item()!r})"
    if hasattr(value, "get_params") and _plain_object(kind):
        return _fields_repr(f"<{kind.__module__}.{kind.__qualname__}", vars(value), ">")
    return None


def _fields_repr(opening: str, fields: dict[Any, Any], closing: str) -> str | None:
    if not all(type(name) is str for name in fields):
        return None
    parts = [opening]
    for name in sorted(fields):
        text = _state_repr(fields[name])
        if text is None:
            return None
        parts.append(f"{name!r}:{text}")
    return ",".join(parts) + closing


def _plain_object(kind: type) -> bool:
    """Whether an instance's ``__dict__`` is all of its pickled state: no slots, no
    pickling of its own (scikit-learn's ``__getstate__`` only adds its version)."""
    plain = _PLAIN_OBJECTS.get(kind)
    if plain is None:
        getstates = (object.__getstate__, BaseEstimator.__getstate__)
        plain = _PLAIN_OBJECTS[kind] = (
            kind.__reduce_ex__ is object.__reduce_ex__
            and kind.__reduce__ is object.__reduce__
            and getattr(kind, "__getstate__", None) in getstates
            and not any("__slots__" in vars(c) for c in kind.__mro__)
        )
    return plain


_PLAIN_OBJECTS: dict[type, bool] = {}


def _code_modules(value: Any) -> set[str]:
    """Top-level modules of the classes and functions in ``value``, through containers
    (a pipeline's steps) and the state of estimators."""
    if isinstance(value, list | tuple | set | frozenset):
        return set().union(*map(_code_modules, value))
    if isinstance(value, dict):
        return set().union(*map(_code_modules, value.values()))
    tops = {_top_module(value)}
    if hasattr(value, "get_params") and hasattr(value, "__dict__") and not isinstance(value, type):
        tops.update(*map(_code_modules, vars(value).values()))
    return tops


# --------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------


@functools.cache
def _core_versions() -> tuple[tuple[str, str], ...]:
    return tuple((name, _distribution_version(name)) for name in _CORE_DISTRIBUTIONS)


def _top_module(value: Any) -> str:
    code = isinstance(value, type | types.FunctionType | types.BuiltinFunctionType)
    module = getattr(value, "__module__", None) if code else type(value).__module__
    return (module or "builtins").partition(".")[0]


@functools.cache
def _module_version(top: str) -> str:
    """Version of the distribution that installs module ``top``, else its __version__."""
    version = _distribution_version(top)  # usually the same name: xgboost, lightgbm
    for name in _distributions_of(top) if version == "unknown" else ():
        version = _distribution_version(name)
        if version != "unknown":
            break
    if version == "unknown":
        version = str(getattr(sys.modules.get(top), "__version__", "unknown"))
    return version


@functools.cache
def _distributions_of(top: str) -> tuple[str, ...]:
    # Scans every installed distribution's metadata: only for names that are not their own.
    return tuple(importlib.metadata.packages_distributions().get(top, ()))


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------
# Readable parameters
# --------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _readable(value: Any) -> Any:
    """``value`` as JSON-able data a person can read, the same in every process."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {_key(k): _readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_readable(v) for v in value]
    if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
        return f"{value.__module__}.{value.__qualname__}"
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return _readable(value.item())  # numpy scalar
    return _ADDRESS.sub("", repr(value))


def _key(key: Any) -> str:
    return key if isinstance(key, str) else _ADDRESS.sub("", repr(key))
