"""The ``[data]`` table: a data set shipped with scikit-learn, or a CSV/Parquet file."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridfold.config._source import Ctx, Source, check_keys, did_you_mean, expect
from gridfold.exceptions import ConfigError

__all__ = ["DATA_KEYS", "DataConfig", "Dataset", "parse_data", "sklearn_datasets"]

DATA_KEYS = ("source", "path", "target", "features", "groups")
#: A [[data]] table (one of several data sets) also has a name.
DATASETS_KEYS = ("name", *DATA_KEYS)


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
    """The ``[data]`` table, or one ``[[data]]`` table: a scikit-learn data set or a file.

    ``name`` is the data set's name among several (``[[data]]``): given, or
    the scikit-learn data set's name, or the file's name without its suffix.
    None for the one ``[data]`` table.
    """

    source: str | None = None
    path: Path | None = None
    target: str | None = None
    features: tuple[str, ...] | None = None
    groups: str | None = None
    name: str | None = None
    _ctx: Ctx | None = field(default=None, repr=False, compare=False)

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
                fix = did_you_mean(name, columns, "use one of the columns.")
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


def parse_data(table: Any, src: Source, base_dir: Path, index: int | None = None) -> DataConfig:
    """Parse the ``[data]`` table, or the ``index``-th ``[[data]]`` table."""
    if index is None:
        ctx = Ctx(src, src.section("data"), "[data]")
    else:
        ctx = Ctx(src, src.data_section(index), f"[[data]] {index + 1}")
    if not isinstance(table, dict):
        raise ctx.error(f"{ctx.label} must be a table; got {table!r}.")
    check_keys(table, DATA_KEYS if index is None else DATASETS_KEYS, ctx)
    config = _parse_data_source(table, ctx, base_dir)
    if index is None:
        return config
    default = config.source if config.path is None else config.path.stem
    name = expect(table.get("name", default), str, "a non-empty string", "name", ctx)
    if not name.strip():
        raise ctx.error('name must not be empty. Fix: e.g. name = "iris".', "name")
    return dataclasses.replace(config, name=name)


def _parse_data_source(table: dict[str, Any], ctx: Ctx, base_dir: Path) -> DataConfig:
    source, path = table.get("source"), table.get("path")
    if (source is None) == (path is None):
        raise ctx.error(
            'expected exactly one of source = "sklearn:NAME" or path = "FILE"; '
            f"got {'both' if source else 'neither'}. Fix: keep one."
        )
    if source is not None:
        expect(source, str, 'a string like "sklearn:iris"', "source", ctx)
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
    expect(path, str, "a file path string", "path", ctx)
    target = table.get("target")
    if target is None:
        raise ctx.error(
            'path = ... needs target = "COLUMN", the column to predict. Fix: add it.', "path"
        )
    expect(target, str, "a column name string", "target", ctx)
    features = table.get("features")
    if features is not None:
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ctx.error(
                f"features must be a list of column names; got {features!r}.", "features"
            )
        features = tuple(features)
    groups = table.get("groups")
    if groups is not None:
        expect(groups, str, "a column name string", "groups", ctx)
    resolved = Path(str(path))
    if not resolved.is_absolute():
        resolved = base_dir / resolved
    return DataConfig(path=resolved, target=target, features=features, groups=groups, _ctx=ctx)
