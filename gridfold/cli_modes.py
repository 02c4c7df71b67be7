"""``gridfold run``, ``results`` and ``check`` for nested studies and several data sets.

A study file with ``[run] nested = true`` runs :mod:`gridfold.nested_study`;
one with ``[[data]]`` tables runs :mod:`gridfold.datasets_study`. Both keep
the command's contract (:mod:`gridfold.cli`): the same store next to the
study file and resume, the same exit codes, one ``gridfold: error:`` line on
stderr for bad input, ``--json`` for one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from rich.console import Console

from gridfold.exceptions import ConfigError, ParameterError

if TYPE_CHECKING:  # gridfold.cli imports this module: keep `gridfold --version` light
    from gridfold.config import StudyConfig

__all__ = ["check_mode", "is_other_mode", "results_mode", "run_mode", "single_study_only"]

EXIT_OK, EXIT_ALL_FAILED = 0, 1


def is_other_mode(cfg: StudyConfig) -> bool:
    """Whether ``cfg`` is a nested study or one of several data sets (not a plain one)."""
    return cfg.run.nested or cfg.several_datasets


def _mode_name(cfg: StudyConfig) -> str:
    return "[run] nested = true" if cfg.run.nested else "[[data]] tables"


def single_study_only(cfg: StudyConfig, command: str) -> None:
    """Refuse ``command`` (status, plan) for a nested or several-data-set study.

    Raises
    ------
    ConfigError
        Saying which commands do handle such a study.
    """
    if not is_other_mode(cfg):
        return
    raise ConfigError(
        f"{cfg.file}: `gridfold {command}` handles a study of one [data] table, and this study "
        f"has {_mode_name(cfg)}. Fix: use `gridfold run` (it resumes from the store) and "
        "`gridfold results` (and `gridfold check` to validate it)."
    )


def no_halving(cfg: StudyConfig, command: str) -> None:
    """Refuse ``command`` (results, status, plan, report) for a study with a
    ``search = "halving"`` model.

    A halving model's rungs are known only by running the search (a rerun on
    the same store reads every fit back and fits nothing), so commands that
    read the store without running cannot list its fits. (Nested and
    ``[[data]]`` studies refuse halving models when the file is read.)

    Raises
    ------
    ConfigError
    """
    halving = [mc.name for mc in cfg.models if mc.search == "halving"]
    if not halving:
        return
    raise ConfigError(
        f'{cfg.file}: model {halving[0]!r} has search = "halving", which `gridfold {command}` '
        "does not handle (its rungs are known only by running the search); fix: run "
        "`gridfold run` again: it reads the stored fits back, fits nothing and prints the "
        "leaderboard (and use -o to export it)."
    )


def _check_options(args: argparse.Namespace, cfg: StudyConfig) -> None:
    """Options of ``gridfold run`` these studies do not take: an error, not silence."""
    unsupported = [("-o/--output", args.output is not None), ("--cluster", args.cluster)]
    unsupported.append(("--jobs", args.jobs is not None))
    given = [flag for flag, present in unsupported if present]
    if given:
        raise ParameterError(
            f"{given[0]} is not supported for a study with {_mode_name(cfg)}. Expected the "
            "options of a plain run that apply to it; fix: drop "
            f"{given[0]}" + (" (--json prints every number)." if given[0][:2] == "-o" else ".")
        )


def run_mode(args: argparse.Namespace, cfg: StudyConfig, err: Console) -> int:
    """``gridfold run`` for a nested or several-data-set study.

    Parameters
    ----------
    args : argparse.Namespace
        ``gridfold run``'s arguments.
    cfg : StudyConfig
    err : rich.console.Console
        stderr, for the progress bars and the announcement.

    Returns
    -------
    int
        The exit status: 1 when every fit (every outer fold) failed, else 0.
    """
    from gridfold.cli import _store_path, keeping_results
    from gridfold.store.sqlite import SQLiteStore

    _check_options(args, cfg)
    progress = not (args.no_progress or args.quiet)
    store = None if args.no_store else SQLiteStore(_store_path(args))
    with keeping_results(store):
        if cfg.run.nested:
            outcome: Any = _run_nested(args, cfg, err, store, progress)
        else:
            outcome = _run_datasets(args, cfg, err, store, progress)
    _report(args, outcome, quiet=args.quiet)
    return EXIT_ALL_FAILED if outcome.n_failed == outcome.n_fits else EXIT_OK


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _run_nested(
    args: argparse.Namespace, cfg: StudyConfig, err: Console, store: Any, progress: bool
) -> Any:
    from gridfold.nested_study import run_nested

    assert cfg.outer_cv is not None
    if not args.quiet:
        n = len(cfg.models)
        _say(
            err,
            f"gridfold: {cfg.file}: nested cross-validation of {n} model{'s' * (n != 1)}: "
            f"outer {cfg.outer_cv.describe()}, inner (each model's search) {cfg.cv.describe()}",
        )
    return run_nested(
        cfg,
        n_jobs=args.n_jobs,
        backend=args.backend,
        store=store,
        progress=progress,
        share=not args.no_share,
        retries=args.retries,
        fit_timeout=args.fit_timeout,
        scheduler=args.scheduler,
    )


def _run_datasets(
    args: argparse.Namespace, cfg: StudyConfig, err: Console, store: Any, progress: bool
) -> Any:
    from gridfold.datasets_study import run_datasets
    from gridfold.executors import Executor
    from gridfold.lifecycle import Execution
    from gridfold.runner import PreparedStudy

    def announce(name: str, prepared: PreparedStudy, executor: Executor) -> None:
        if args.quiet:
            return
        study = prepared.study
        _say(
            err,
            f"gridfold: {cfg.file} [{name}]: {len(study.models)} models, "
            f"{prepared.n_candidates} candidates x {study.n_splits} splits = {study.n_tasks} "
            f"fits on {prepared.dataset.description}, {executor.name} x {executor.n_workers}",
        )

    execution = Execution(
        n_jobs=args.n_jobs if args.n_jobs is not None else cfg.run.n_jobs,
        backend=args.backend or cfg.run.backend,
        store=store,
        retries=args.retries,
        fit_timeout=args.fit_timeout,
        share=not args.no_share,
        progress=progress,
        scheduler=args.scheduler or cfg.run.scheduler,
    )
    return run_datasets(cfg, execution, console=err, announce=announce)


def results_mode(args: argparse.Namespace, cfg: StudyConfig) -> int:
    """``gridfold results`` for a nested or several-data-set study: from the store, no fit.

    Parameters
    ----------
    args : argparse.Namespace
        ``gridfold results``' arguments.
    cfg : StudyConfig

    Returns
    -------
    int
        The exit status, as :func:`run_mode`'s.
    """
    from gridfold.cli import _open_existing_store

    if args.output is not None:
        raise ParameterError(
            f"-o/--output is not supported for a study with {_mode_name(cfg)}. Fix: drop it "
            "(--json prints every number)."
        )
    with _open_existing_store(args) as store:
        if cfg.run.nested:
            from gridfold.nested_study import nested_from_store

            outcome: Any = nested_from_store(cfg, store, args.study)
        else:
            from gridfold.datasets_study import datasets_from_store

            outcome = datasets_from_store(cfg, store, args.study)
    _report(args, outcome, quiet=True)  # no timing line: nothing ran
    return EXIT_ALL_FAILED if outcome.n_failed == outcome.n_fits else EXIT_OK


def _report(args: argparse.Namespace, outcome: Any, quiet: bool) -> None:
    from gridfold.cli import _stdout_console
    from gridfold.datasets_study import DatasetsOutcome

    if isinstance(outcome, DatasetsOutcome):
        _report_datasets(args, outcome, quiet, _stdout_console())
    else:
        _report_nested(args, outcome, quiet, _stdout_console())


def _timing(outcome: Any) -> str:
    stored = " (every fit was in the store)" if outcome.n_fits_run == 0 else ""
    return (
        f"{outcome.n_fits_run} fits run{stored} in {outcome.wall_time:.1f} s with "
        f"{outcome.backend} x {outcome.n_workers}"
    )


def _report_nested(args: argparse.Namespace, outcome: Any, quiet: bool, out: Console) -> None:
    from gridfold.nested_study import nested_json, nested_verdict, render_nested, verdict_lines

    found = nested_verdict(outcome)
    if args.json:
        # stdout is the document alone, so that it can be piped into jq or json.load.
        print(json.dumps(nested_json(outcome, found), indent=2))
        return
    _say(
        out,
        f"Nested cross-validation on {outcome.dataset}: outer {outcome.outer_splitter}, "
        f"inner (each model's search) {outcome.inner_splitter}",
    )
    for table in render_nested(outcome):
        out.print(table)
    for m in outcome.models:
        if m.error is not None:
            _say(out, f"model {m.name!r}: every outer fold failed: {m.error}")
    if not quiet:
        _say(out, _timing(outcome))
    lines = verdict_lines(found)
    if lines:
        out.print()
    for line in lines:
        _say(out, line)


def _report_datasets(args: argparse.Namespace, outcome: Any, quiet: bool, out: Console) -> None:
    from gridfold.cli import _print_failures
    from gridfold.datasets_study import datasets_json, render_datasets

    if args.json:
        print(json.dumps(datasets_json(outcome), indent=2))
        return
    parts = render_datasets(outcome)
    n_tables = 2 * len(outcome.outcomes)  # a header line and a table per data set
    for part in parts[:n_tables]:
        _print(out, part)
    for name, o in outcome.outcomes.items():
        if o.n_failed:
            _say(out, f"data set {name!r}:")
            _print_failures(out, o, getattr(args, "tracebacks", False), quiet)
    if not quiet:
        _say(out, _timing(outcome))
    out.print()
    for part in parts[n_tables:]:
        _print(out, part)


def _print(out: Console, part: Any) -> None:
    if isinstance(part, str):
        _say(out, part)
    else:
        out.print(part)


def check_mode(args: argparse.Namespace, cfg: StudyConfig) -> int:
    """``gridfold check`` for a nested or several-data-set study: load, split, check; no fit.

    Parameters
    ----------
    args : argparse.Namespace
    cfg : StudyConfig

    Returns
    -------
    int
        0: every data set loads and splits, and every model's parameters fit it.
    """
    from gridfold.cli import _stdout_console

    out = _stdout_console()
    _say(out, f"{cfg.file}: OK")
    if cfg.run.nested:
        _check_nested(cfg, out)
    else:
        _check_datasets(cfg, out)
    return EXIT_OK


def _check_nested(cfg: StudyConfig, out: Console) -> None:
    from sklearn.base import is_classifier

    from gridfold.runner import prepare

    assert cfg.outer_cv is not None
    prepared = prepare(cfg)  # the data loads, [cv] splits it, every model's params fit
    data = prepared.study.data
    classifier = all(is_classifier(mc.estimator) for mc in cfg.models)
    outer = cfg.outer_cv.make(data.y, classifier)
    n_outer = outer.get_n_splits(data.X, data.y, prepared.dataset.groups)
    _say(out, f"data: {prepared.dataset.description}")
    _say(out, f"outer cv: {outer!r} -> {n_outer} splits")
    _say(out, f"inner cv (each model's search): {prepared.splitter!r}")
    # A k-fold inner splitter cuts each outer training part into as many splits as X.
    n_inner = prepared.study.n_splits
    total = 0
    for model, spec in zip(prepared.study.models, prepared.specs, strict=True):
        n_fits = n_outer * (len(model.candidates) * n_inner + 1)  # + each fold's refit
        total += n_fits
        _say(
            out,
            f"model {model.name!r}: {spec}, {len(model.candidates)} candidate(s) -> "
            f"{n_outer} outer x ({len(model.candidates)} x {n_inner} inner + 1 refit) = "
            f"{n_fits} fits",
        )
    _say(out, f"{total} fits (nested cross-validation)")


def _check_datasets(cfg: StudyConfig, out: Console) -> None:
    from gridfold.datasets_study import prepare_datasets

    total = 0
    for name, prepared in prepare_datasets(cfg).items():
        study = prepared.study
        total += study.n_tasks
        _say(
            out,
            f"data set {name!r}: {prepared.dataset.description}; cv: {prepared.splitter!r} -> "
            f"{study.n_splits} splits; {prepared.n_candidates} candidates = {study.n_tasks} fits",
        )
    for mc in cfg.models:
        _say(out, f"model {mc.name!r}: {mc.spec}, {len(mc.candidates())} candidate(s)")
    _say(out, f"{total} fits over {len(cfg.datasets)} data sets")
