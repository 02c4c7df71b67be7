"""A whole study file: read, parse and validate every table."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridfold.config._source import Ctx, Source, check_keys
from gridfold.config.cluster import ClusterConfig, parse_cluster
from gridfold.config.cv import CVConfig, parse_cv
from gridfold.config.data import DataConfig, parse_data
from gridfold.config.models import ModelConfig, parse_model
from gridfold.config.run import RunConfig, parse_run
from gridfold.exceptions import ConfigError

__all__ = ["StudyConfig", "load_config", "parse_config"]

_TOP_KEYS = ("data", "cv", "outer_cv", "run", "cluster", "model")


@dataclass(frozen=True)
class StudyConfig:
    """A parsed, validated study file.

    Attributes
    ----------
    file : str
        The file name errors are reported against.
    data : DataConfig
        The ``[data]`` table; with ``[[data]]`` tables, the first of them.
    cv : CVConfig
        The ``[cv]`` table; with ``[run] nested = true``, the inner splits.
    run : RunConfig
    models : tuple of ModelConfig
    cluster : ClusterConfig or None
        The ``[cluster]`` table: batch jobs of Dask workers to start for the run.
    datasets : tuple of DataConfig
        The ``[[data]]`` tables, each with its ``name``; empty for a study of
        one ``[data]`` table.
    outer_cv : CVConfig or None
        The outer splits of nested cross-validation: the ``[outer_cv]``
        table, or 5 folds as ``nested_cv``'s default when ``[run] nested =
        true`` comes without one; None for a study that is not nested.
    """

    file: str
    data: DataConfig
    cv: CVConfig
    run: RunConfig
    models: tuple[ModelConfig, ...]
    cluster: ClusterConfig | None = None
    datasets: tuple[DataConfig, ...] = ()
    outer_cv: CVConfig | None = None

    @property
    def several_datasets(self) -> bool:
        """Whether the study has ``[[data]]`` tables (every model on every data set)."""
        return bool(self.datasets)

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
    src = Source(file, text)
    _check_one_kind_of_data(src)
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
    top = Ctx(src, (0, len(src.lines)), "study")
    check_keys(doc, _TOP_KEYS, top)
    if "data" not in doc:
        raise src.error(
            None,
            'no [data] table. Expected e.g. [data] source = "sklearn:iris" (or one [[data]] '
            "table per data set); fix: add one.",
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
    parsed = tuple(parse_model(m, i, src) for i, m in enumerate(models))
    names = [m.name for m in parsed]
    for i, model in enumerate(parsed):
        if names.index(model.name) != i:
            raise src.error(
                model.line,
                f"model name {model.name!r} is used twice. Expected unique names; "
                'fix: add name = "..." to tell them apart.',
            )
    run = parse_run(doc.get("run", {}), src)
    data, datasets = _parse_datasets(doc["data"], src, base_dir or Path.cwd())
    outer_cv = _parse_outer_cv(doc, run, src)
    cluster = parse_cluster(doc["cluster"], src) if "cluster" in doc else None
    _check_combination(src, run, datasets, cluster)
    _check_halving(src, run, datasets, parsed)
    return StudyConfig(
        file=file,
        data=data,
        cv=parse_cv(doc.get("cv", {}), src),
        run=run,
        models=parsed,
        cluster=cluster,
        datasets=datasets,
        outer_cv=outer_cv,
    )


def _check_one_kind_of_data(src: Source) -> None:
    """``[data]`` and ``[[data]]`` together: TOML's own error would not say why."""
    header = re.compile(r"^\s*\[\s*data\s*\]")
    single = next((i + 1 for i, line in enumerate(src.lines) if header.match(line)), None)
    if single is None or not src.data_starts:
        return
    several = src.data_starts[0] + 1
    raise src.error(
        min(single, several),
        f"a [data] table (line {single}) and [[data]] tables (line {several}) together. "
        "Expected either one [data] table (one data set) or one [[data]] table per data set "
        "(every model runs on each); fix: write each data set as [[data]] with a name, or "
        "remove the [[data]] tables.",
    )


def _parse_datasets(
    value: Any, src: Source, base_dir: Path
) -> tuple[DataConfig, tuple[DataConfig, ...]]:
    """The ``[data]`` table, or the ``[[data]]`` tables (and the first of them)."""
    if not isinstance(value, list):
        return parse_data(value, src, base_dir), ()
    if not value:
        raise src.error(
            None, "data is an empty array. Expected [[data]] tables; fix: add one per data set."
        )
    datasets = tuple(parse_data(table, src, base_dir, index=i) for i, table in enumerate(value))
    names = [d.name for d in datasets]
    for i, name in enumerate(names):
        if names.index(name) != i:
            line = src.data_starts[i] + 1 if i < len(src.data_starts) else None
            raise src.error(
                line,
                f"[[data]]: data set name {name!r} is used twice. Expected unique names (the "
                "default is the sklearn data set's or the file's name); fix: add name = \"...\" "
                "to tell them apart.",
            )
    return datasets[0], datasets


def _parse_outer_cv(doc: dict[str, Any], run: RunConfig, src: Source) -> CVConfig | None:
    if "outer_cv" not in doc:
        # nested_cv's own default (outer_cv=5): 5 folds, stratified for classifiers.
        return CVConfig(None, {}) if run.nested else None
    if not run.nested:
        raise src.error(
            src.section("outer_cv")[0] + 1,
            "[outer_cv] is only used by nested cross-validation, and [run] has no "
            "nested = true. Expected [outer_cv] together with [run] nested = true; fix: add "
            "nested = true to [run], or remove the [outer_cv] table.",
        )
    return parse_cv(doc["outer_cv"], src, name="outer_cv")


def _check_halving(
    src: Source, run: RunConfig, datasets: tuple[DataConfig, ...], models: tuple[Any, ...]
) -> None:
    """``search = "halving"`` runs in a study of one ``[data]`` table, not nested."""
    halving = next((m for m in models if m.search == "halving"), None)
    if halving is None or not (run.nested or datasets):
        return
    mode = "[run] nested = true" if run.nested else f"{len(datasets)} [[data]] tables"
    raise src.error(
        halving.line,
        f'model {halving.name!r}: search = "halving" in a study with {mode}. Expected it in a '
        'study of one [data] table, not nested; fix: use search = "grid" for this model, or '
        "move it to a study of its own.",
    )


def _check_combination(
    src: Source, run: RunConfig, datasets: tuple[DataConfig, ...], cluster: ClusterConfig | None
) -> None:
    """Options that exclude each other: nested CV runs one data set, on this machine or Dask."""
    if not run.nested:
        if datasets and cluster is not None:
            raise src.error(
                src.section("cluster")[0] + 1,
                "[cluster] with [[data]] tables: a study of several data sets does not start "
                "batch jobs yet. Expected a [cluster] table only with one [data] table; fix: "
                'remove [cluster] and pass --scheduler tcp://... (or [run] scheduler = "...") '
                "for a running Dask cluster.",
            )
        return
    nested_line = src.find("nested", src.section("run"), key=True)
    if datasets:
        raise src.error(
            nested_line,
            f"[run] nested = true with {len(datasets)} [[data]] tables. Expected nested "
            "cross-validation on one [data] table; fix: use one [data] table, or remove "
            "nested = true to compare the models across the data sets.",
        )
    if cluster is not None:
        raise src.error(
            nested_line,
            "[run] nested = true with the [cluster] table: nested cross-validation does not "
            "start batch jobs yet. Expected this machine's workers or a running Dask cluster; "
            'fix: remove [cluster] and pass --scheduler tcp://... (or [run] scheduler = "..."), '
            "or remove nested = true.",
        )
