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

    [[model]]
    name = "forest"
    estimator = "RandomForestClassifier"
    params = { random_state = 0 }  # a seeded forest's rungs continue each other
    search = "halving"             # successive halving over the grid (HalvingGridSearchCV)
    resource = "n_estimators"      # "n_samples" (default) or a parameter of the estimator
    min_resources = 9              # an integer, "exhaust" (default) or "smallest"
    max_resources = 243            # an integer or "auto" (default)
    factor = 3                     # default 3; aggressive_elimination = false;
    [model.grid]                   # random_state = 0 draws the rows of "n_samples" rungs
    max_depth = [4, 8, "None"]     # (default 0, not None: a rerun reads its fits back)

Nested cross-validation: ``[run] nested = true`` makes each model's search
the inner search, on the ``[cv]`` splits of each outer training part, and an
``[outer_cv]`` table (the keys of ``[cv]``; default 5 folds, as
:func:`gridfold.nested_cv`'s ``outer_cv=5``) gives the outer splits.

Several data sets: ``[[data]]`` tables instead of ``[data]``, each with the
keys of ``[data]`` and a ``name`` (default: the scikit-learn data set's or the
file's name), run every model on every data set with the same ``[cv]``
settings. Not together with ``[data]``, nor with ``nested = true``.

A ``search = "halving"`` model runs after the others, on the same splits, pool
and store, one progress bar per rung; the leaderboard shows each of its
candidates once, at the last rung it reached (a ``rung`` column), and its best
candidate is the search's ``best_index_`` (:mod:`gridfold.halving_study`). It
takes one metric, no ``[[data]]`` tables or nested CV, and ``gridfold
results``/``status``/``plan``/``report`` refuse it (rerun ``gridfold run``,
which reads every stored fit back).

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

from gridfold.config.cv import CVConfig
from gridfold.config.data import DataConfig, Dataset, sklearn_datasets
from gridfold.config.models import ModelConfig, SearchKind
from gridfold.config.run import RunConfig
from gridfold.config.study import StudyConfig, load_config, parse_config

__all__ = [
    "StudyConfig",
    "DataConfig",
    "CVConfig",
    "RunConfig",
    "ModelConfig",
    "Dataset",
    "SearchKind",
    "load_config",
    "parse_config",
    "sklearn_datasets",
]
