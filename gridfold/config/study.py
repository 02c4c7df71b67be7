"""A whole study file: read, parse and validate every table."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gridfold.config._source import Ctx, Source, check_keys
from gridfold.config.cluster import ClusterConfig, parse_cluster
from gridfold.config.cv import CVConfig, parse_cv
from gridfold.config.data import DataConfig, parse_data
from gridfold.config.models import ModelConfig, parse_model
from gridfold.config.run import RunConfig, parse_run
from gridfold.exceptions import ConfigError

__all__ = ["StudyConfig", "load_config", "parse_config"]

_TOP_KEYS = ("data", "cv", "run", "cluster", "model")


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
    cluster : ClusterConfig or None
        The ``[cluster]`` table: batch jobs of Dask workers to start for the run.
    """

    file: str
    data: DataConfig
    cv: CVConfig
    run: RunConfig
    models: tuple[ModelConfig, ...]
    cluster: ClusterConfig | None = None

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
    parsed = tuple(parse_model(m, i, src) for i, m in enumerate(models))
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
        data=parse_data(doc["data"], src, base_dir or Path.cwd()),
        cv=parse_cv(doc.get("cv", {}), src),
        run=parse_run(doc.get("run", {}), src),
        models=parsed,
        cluster=parse_cluster(doc["cluster"], src) if "cluster" in doc else None,
    )
