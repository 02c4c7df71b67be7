"""The ``gridfold`` command: run a study file and print its leaderboard.

Exit codes: 0 success (some fits may have failed; they are summarised),
1 every fit of every model failed, 2 bad input (the study file, the data,
a parameter name, an option: one ``gridfold: error: ...`` line on stderr),
3 the executor failed (a worker pool that broke or could not start, or a fit
that crashed its worker with ``error_score = "raise"``: not the input's fault,
so not 2), 130 interrupted with Ctrl-C, 143 stopped by SIGTERM. Every finished
fit is in the study's results store either way; running the same command
again resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from gridfold.cli_modes import (
    check_mode,
    is_other_mode,
    no_halving,
    results_mode,
    run_mode,
    single_study_only,
)
from gridfold.exceptions import ExecutorError, GridfoldError
from gridfold.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from gridfold.cost import Plan
    from gridfold.runner import PreparedStudy
    from gridfold.store.base import ResultStore
    from gridfold.tasks import Study, Task

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_ALL_FAILED, EXIT_USAGE, EXIT_EXECUTOR = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C (results so far are already stored)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


_DESCRIPTION = """\
Parallel model selection, exact to scikit-learn: compare learning algorithms
with (repeated) k-fold cross-validation and tune their hyperparameters with
grid or random search, described in one TOML study file. Every model is
evaluated on the same splits, in one pool of workers, and all candidates are
ranked on one leaderboard.
"""

_STUDY_FORMAT = """\
study file format (TOML; see examples/*.toml and `pydoc gridfold.config`):

  [data]                         # required: one of
  source = "sklearn:digits"      #   a data set shipped with scikit-learn (iris, digits, wine,
                                 #   breast_cancer, diabetes, linnerud)
  # path = "data.csv"            #   or a .csv/.parquet file relative to the study file,
  # target = "label"             #   with its target column (features = [...], groups = "col")
                                 # or [[data]] tables, one per data set, each with a name:
                                 #   every model on every data set, then Friedman and Nemenyi

  [cv]                           # optional: any splitter of sklearn.model_selection
  splitter = "StratifiedKFold"   # and its arguments; default: 5 folds as check_cv
  n_splits = 5

  [run]                          # optional
  scoring = "accuracy"           # a scorer name or a list; refit = name ranks with several
  n_jobs = -1                    # backend, return_train_score, error_score ("nan"|number|"raise")
  # nested = true                # nested CV: each model's search on [cv] inside the folds of
                                 # [outer_cv] (the keys of [cv]; default: 5 folds)

  [[model]]                      # one or more
  name = "svc"
  estimator = "sklearn.svm.SVC"  # import path (or steps = [{name, estimator, params}, ...])
  params = { kernel = "rbf" }    # fixed arguments ("None" means None)
  grid = { C = [0.1, 1, 10] }    # grid search; or distributions = { C = { loguniform =
                                 # [1e-3, 1e3] } } with n_iter and random_state; neither:
                                 # evaluated once (comparing algorithms)

exit status: 0 done, 1 every fit failed, 2 bad input (one error line), 3 the executor
failed (a broken worker pool, or a crashed fit with error_score = "raise"), 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM); finished fits stay in the store: rerun to resume
"""


def _output_path(value: str) -> Path:
    path = Path(value)
    if path.suffix.lower() not in (".csv", ".json"):
        raise argparse.ArgumentTypeError(
            f"{value!r} must end in .csv or .json (the export format is taken from it)"
        )
    if not path.parent.exists():
        raise argparse.ArgumentTypeError(f"folder {str(path.parent)!r} of {value!r} does not exist")
    return path


def _int_at_least(minimum: int, words: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``, described as ``words`` in errors."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected {words}, got {value!r}")
        return number

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    from gridfold.executors import available_backends

    parser.add_argument(
        "-j",
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="number of parallel workers: -1 all cores, -2 all but one, 1 in-process with no "
        "pool (debuggable), N exactly N. Overrides [run] n_jobs; default: [run] n_jobs, else 1.",
    )
    parser.add_argument(
        "-b",
        "--backend",
        default=None,
        metavar="NAME",
        help=f"where fits run: one of {', '.join(available_backends())}. Overrides [run] "
        "backend; default: sequential for one worker, processes otherwise.",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:port); "
        "implies --backend dask. Overrides [run] scheduler.",
    )
    parser.add_argument(
        "--cluster",
        default=None,
        choices=["slurm"],
        help="start Dask workers as batch jobs of this kind for the run (SLURM through "
        "dask-jobqueue), with the [cluster] table's options; cancelled when the run ends.",
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="batch jobs to ask for with --cluster or a [cluster] table "
        "(default: its jobs, else 1).",
    )


_VERDICT_HELP = (
    "The output shows each model's best candidate first (one row per model, best model "
    "first), then the best candidates overall, and ends with the verdict: the best model's "
    "best candidate against every other model's best (up to 10, the closest first), by the "
    "Nadeau-Bengio corrected t-test on their per-split test scores, p-values Holm-adjusted "
    "over those tests, alpha 0.05."
)


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document to stdout instead of the tables: 'models' (each "
        "model's best candidate: name, params, mean, std, per-split scores), 'verdict' (the "
        "tests: a, b, mean_difference, statistic, pvalue, pvalue_holm, verdict; and notes) "
        "and 'candidates' (every candidate, as -o FILE.json writes them)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gridfold`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    from gridfold import __version__

    parser = argparse.ArgumentParser(
        prog="gridfold",
        description=_DESCRIPTION,
        epilog="Run `gridfold run --help` for the study file format.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"gridfold {__version__} (scikit-learn {_sklearn_version()}, "
        f"Python {platform.python_version()})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run a study file and print its leaderboard",
        description="Run every model of STUDY on the same cross-validation splits and print "
        "a leaderboard of all candidates, best first. The progress bar goes to stderr; the "
        "leaderboard and the summary of failed fits go to stdout. " + _VERDICT_HELP,
        epilog=_STUDY_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("study", metavar="STUDY.toml", help="the study file to run")
    _add_execution_options(run)
    run.add_argument(
        "-o",
        "--output",
        type=_output_path,
        default=None,
        metavar="FILE",
        help="also write the full leaderboard to FILE: .csv (one row per candidate, with "
        "per-split scores) or .json (a list of records, params as a dict, per-split scores)",
    )
    run.add_argument(
        "-n",
        "--top",
        type=_positive_int,
        default=10,
        metavar="N",
        help="show the N best candidates (default: 10); the export always has all of them",
    )
    _add_json_option(run)
    _add_store_options(run)
    run.add_argument(
        "--fit-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="kill a fit that runs longer and record it as failed (runs fits in worker "
        "processes, even with --n-jobs 1)",
    )
    run.add_argument(
        "--retries",
        type=_non_negative_int,
        default=1,
        metavar="N",
        help="rerun a fit whose worker process died (segfault, out of memory) up to N times "
        "before recording it as failed (default: 1); a fit that raises is never rerun",
    )
    run.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    run.add_argument(
        "--no-share",
        action="store_true",
        help="fit every candidate on its own, as scikit-learn does, instead of letting one fit "
        "answer several candidates where that is exact (paths such as n_neighbors or "
        "n_estimators, shared pipeline prefixes); the scores are identical either way",
    )
    run.add_argument(
        "--tracebacks",
        action="store_true",
        help="for failed fits, also print one full traceback per distinct error",
    )
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the leaderboard: no progress bar, no study header or timing line, "
        "no warnings (failed fits are still counted)",
    )

    status = commands.add_parser(
        "status",
        help="show how many fits of a study its results store holds, per model",
        description="Load STUDY's data and splits, and count per model the fits its store "
        "holds (done), the ones that failed with an exception (failed) and the ones still to "
        "run (missing, including crashed and timed-out fits). Runs no fit.",
    )
    status.add_argument("study", metavar="STUDY.toml", help="the study file")
    _add_store_options(status, allow_none=False)

    results = commands.add_parser(
        "results",
        help="print a finished study's leaderboard from its store, without fitting",
        description="Print the leaderboard of STUDY from the results in its store, and "
        "optionally export it. Every fit must be stored: see `gridfold status`. " + _VERDICT_HELP,
    )
    results.add_argument("study", metavar="STUDY.toml", help="the study file")
    _add_store_options(results, allow_none=False)
    results.add_argument(
        "-o",
        "--output",
        type=_output_path,
        default=None,
        metavar="FILE",
        help="also write the full leaderboard to FILE (.csv or .json)",
    )
    results.add_argument(
        "-n",
        "--top",
        type=_positive_int,
        default=10,
        metavar="N",
        help="show the N best candidates (default: 10)",
    )
    _add_json_option(results)

    check = commands.add_parser(
        "check",
        help="validate a study file and print its plan without running any fit",
        description="Parse STUDY, load its data, draw the splits and check every model's "
        "parameter names, then print the models, candidates and number of fits.",
        epilog=_STUDY_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("study", metavar="STUDY.toml", help="the study file to check")

    plan = commands.add_parser(
        "plan",
        help="predict a study's work and wall time on N workers, without running it",
        description="Load STUDY, group its fits into units of work as a run would, and "
        "predict each unit's seconds: a prior from rows, features and the parameters that "
        "scale a fit, calibrated to this machine and these data by fitting a few units here "
        "(--probe seconds at most, one thread). Prints the fits and units, the predicted "
        "total work, the predicted wall time on N workers (units longest first, as a run "
        "dispatches them) and its lower bound, max(longest unit, total work / N), so you "
        "can choose how many workers to ask for. The prediction is kept in the store for "
        "`gridfold status`.",
    )
    plan.add_argument("study", metavar="STUDY.toml", help="the study file to plan")
    plan.add_argument(
        "-w",
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="workers to predict for (default: the study's [run] n_jobs, -1 meaning this "
        "machine's cores)",
    )
    plan.add_argument(
        "--probe",
        type=_non_negative_float,
        default=5.0,
        metavar="SECONDS",
        help="at most this long fitting units here to calibrate the prediction (default: 5; "
        "0: the prior alone, in seconds of the machine gridfold was tuned on)",
    )
    plan.add_argument(
        "--no-share",
        action="store_true",
        help="plan every candidate fitted on its own (as `gridfold run --no-share`)",
    )
    _add_store_options(plan)

    report = commands.add_parser(
        "report",
        help="write an HTML report with plots of a finished study, from its store",
        description="Read STUDY's results from its store (no fit runs) and write one "
        "self-contained HTML file, report.html (plots embedded, no external files), and the "
        "same plots as PNG files, to DIR: each model's best candidate with mean ± std and its "
        "corrected t-test (Holm-adjusted) and Bayesian probabilities against the best; the "
        "per-split scores, splits joined across models; the score against each model's "
        "hyperparameters; the time spent per model; every candidate. Every fit must be "
        "stored: see `gridfold status`.",
    )
    report.add_argument("study", metavar="STUDY.toml", help="the study file")
    report.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="DIR",
        help="the folder to write to, created if missing (default: STUDY's name with "
        "-report, next to it)",
    )
    _add_store_options(report, allow_none=False)
    return parser


def _add_store_options(parser: argparse.ArgumentParser, allow_none: bool = True) -> None:
    parser.add_argument(
        "--store",
        default=None,
        metavar="PATH",
        help="the SQLite results store (default: STUDY's name with .gridfold.db, next to it); "
        "every fit is written there as it ends, and a rerun skips what it holds",
    )
    if allow_none:
        parser.add_argument(
            "--no-store", action="store_true", help="keep results in memory only (no resume)"
        )


def _store_path(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return Path(args.store)
    study = Path(args.study)
    return study.with_name(study.stem + ".gridfold.db")


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return number


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {value!r}")
    return number


def _sklearn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        return "?"


def _stdout_console() -> Console:
    console = Console(soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=120, soft_wrap=False)
    return console


def _cmd_check(args: argparse.Namespace) -> int:
    from gridfold.config import load_config
    from gridfold.runner import prepare

    cfg = load_config(args.study)
    if is_other_mode(cfg):  # nested CV, or several data sets: gridfold.cli_modes
        return check_mode(args, cfg)
    prepared = prepare(cfg)
    out = _stdout_console()
    study = prepared.study
    out.print(f"{cfg.file}: OK")
    out.print(f"data: {prepared.dataset.description}")
    out.print(f"cv: {prepared.splitter!r} -> {study.n_splits} splits")
    for model, spec in zip(study.models, prepared.specs, strict=True):
        out.print(f"model {model.name!r}: {spec}, {len(model.candidates)} candidate(s)")
    for mc in prepared.halving:
        assert mc.halving is not None
        out.print(
            f"model {mc.name!r}: {mc.spec}, halving from {len(mc.candidates())} candidate(s) "
            f"(factor {mc.halving.factor}, resource {mc.halving.resource!r})",
            soft_wrap=True,
        )
    out.print(
        f"{prepared.n_candidates} candidates x {study.n_splits} splits = {study.n_tasks} fits"
    )
    return EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    import time

    from gridfold.config import load_config
    from gridfold.cost import POOL_STARTUP, plan_study
    from gridfold.executors import resolve_n_jobs
    from gridfold.runner import prepare
    from gridfold.store.base import RunRecord

    cfg = load_config(args.study)
    single_study_only(cfg, "plan")
    no_halving(cfg, "plan")
    workers = args.workers or resolve_n_jobs(cfg.run.n_jobs if cfg.run.n_jobs is not None else 1)
    prepared = prepare(cfg)
    study = prepared.study
    store = None if args.no_store else SQLiteStore(_store_path(args))
    try:
        # What a rerun would still fit: a resumed study's plan is of the rest.
        todo = None if store is None else _still_to_run(store, study)
        plan = plan_study(
            study, workers, share=not args.no_share, probe_budget=args.probe, tasks=todo
        )
        # `gridfold run` starts a process pool, unless nothing is left to run.
        startup = POOL_STARTUP if workers > 1 and plan.n_fits else 0.0
        _say_plan(cfg.file, prepared, plan, workers, startup)
        if store is not None:
            store.record_run(
                RunRecord(
                    str(cfg.file),
                    "plan",
                    workers,
                    plan.n_fits,
                    plan.wall_seconds + startup,
                    plan.total_seconds,
                    time.time(),
                )
            )
    finally:
        if store is not None:
            store.close()
    return EXIT_OK


def _still_to_run(store: ResultStore, study: Study) -> list[Task]:
    """The study's fits ``store`` holds no kept result for (as a rerun decides)."""
    from gridfold.engine import reusable_results
    from gridfold.store.keys import task_keys

    tasks = list(study.tasks())
    kept = reusable_results(store, task_keys(study), tasks)
    return [t for t in tasks if t not in kept]


def _say_plan(file: str, prepared: PreparedStudy, plan: Plan, workers: int, startup: float) -> None:
    out = _stdout_console()

    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    study = prepared.study
    n_stored = study.n_tasks - plan.n_fits
    stored = f"; {n_stored} stored, {plan.n_fits} left to run" if n_stored else ""
    say(
        f"{file}: {study.n_tasks} fits ({prepared.n_candidates} candidates x "
        f"{study.n_splits} splits) in {plan.n_units} units of work{stored}"
    )
    if not plan.n_fits:
        say(
            "nothing left to run: the store holds every fit "
            "(gridfold results prints its leaderboard)"
        )
        return
    if plan.probes:
        say(
            f"calibrated by fitting {plan.probes} unit{'s' * (plan.probes != 1)} here "
            f"({_seconds(plan.probe_seconds)} s, one thread)"
        )
    else:
        say("not calibrated (--probe 0): the prior alone, in seconds of a reference core")
    say(f"predicted total work: {_seconds(plan.total_seconds)} s")
    started = f"; {_seconds(startup)} s of it starting the worker processes" if startup else ""
    say(
        f"predicted wall time on {workers} worker{'s' * (workers != 1)}: "
        f"{_seconds(plan.wall_seconds + startup)} s (longest units first{started})"
    )
    say(
        f"lower bound: {_seconds(plan.lower_bound)} s "
        f"(longest unit {_seconds(plan.longest_seconds)} s; "
        f"total work / {workers} = {_seconds(plan.total_seconds / workers)} s)"
    )


def _check_execution_options(args: argparse.Namespace) -> None:
    """Bad --n-jobs or --backend fail before the study is read."""
    from gridfold.exceptions import ParameterError
    from gridfold.executors import available_backends, resolve_n_jobs

    if args.n_jobs is not None:
        try:
            resolve_n_jobs(args.n_jobs)
        except ParameterError:
            raise ParameterError(
                f"--n-jobs {args.n_jobs} is invalid. Expected a positive number of workers, "
                "-1 for all cores or -2 for all but one; fix: e.g. --n-jobs -1."
            ) from None
    if args.backend is not None and args.backend not in available_backends():
        raise ParameterError(
            f"--backend {args.backend!r} is unknown. Expected one of {available_backends()}; "
            "fix: e.g. --backend processes."
        )
    dask_only = [
        flag
        for flag, value in (("--scheduler", args.scheduler), ("--cluster", args.cluster))
        if value is not None
    ]
    if dask_only and args.backend not in (None, "dask"):
        raise ParameterError(
            f"{dask_only[0]} runs on Dask, but --backend is {args.backend!r}. Fix: drop "
            "--backend, or use --backend dask."
        )
    if args.scheduler is not None and args.cluster is not None:
        raise ParameterError(
            "--scheduler and --cluster both say where the workers are. Fix: give one: "
            "--scheduler for a running cluster, --cluster to start one."
        )


def _cmd_run(args: argparse.Namespace) -> int:
    from gridfold.config import load_config
    from gridfold.executors import Executor
    from gridfold.runner import run_config

    _check_execution_options(args)
    if args.quiet:
        warnings.simplefilter("ignore")
        os.environ["PYTHONWARNINGS"] = "ignore"  # inherited by worker processes
    err = Console(stderr=True)
    if not err.is_terminal and "COLUMNS" not in os.environ:
        err = Console(stderr=True, width=160)  # a log: rich would cut the bar's columns at 80
    cfg = load_config(args.study)
    if is_other_mode(cfg):  # nested CV, or several data sets: gridfold.cli_modes
        return run_mode(args, cfg, err)

    def announce(prepared: PreparedStudy, executor: Executor) -> None:
        if args.quiet:
            return
        study = prepared.study
        n_models = len(study.models)
        if prepared.halving:
            names = ", ".join(mc.name for mc in prepared.halving)
            err.print(f"gridfold: halving after the other models: {names}", markup=False)
        err.print(
            f"gridfold: {cfg.file}: {n_models} model{'s' * (n_models != 1)}, "
            f"{prepared.n_candidates} candidates x {study.n_splits} splits = {study.n_tasks} "
            f"fits on {prepared.dataset.description}, {executor.name} x {executor.n_workers}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        link = getattr(executor, "dashboard_link", None)
        if link:
            err.print(f"gridfold: Dask dashboard: {link}", markup=False, highlight=False)

    store = None if args.no_store else SQLiteStore(_store_path(args))
    with keeping_results(store):
        outcome = run_config(
            cfg,
            n_jobs=args.n_jobs,
            backend=args.backend,
            progress=not (args.no_progress or args.quiet),
            share=not args.no_share,
            console=err,
            on_start=announce,
            store=store,
            fit_timeout=args.fit_timeout,
            retries=args.retries,
            scheduler=args.scheduler,
            cluster=_cluster_config(args, cfg),
        )
    _report(args, outcome)
    return EXIT_ALL_FAILED if outcome.n_failed == outcome.n_fits else EXIT_OK


@contextlib.contextmanager
def keeping_results(store: SQLiteStore | None) -> Iterator[None]:
    """Close ``store`` after a run; if the run stops early, say where its results are kept.

    A failed executor becomes one line that also says how to resume; Ctrl-C or
    SIGTERM print the same before they propagate.
    """
    try:
        yield
    except ExecutorError as exc:
        if store is None:
            raise
        raise ExecutorError(
            f"{exc}; {len(store)} results are kept in {store.path}: run the same command "
            "again to resume"
        ) from None
    except (KeyboardInterrupt, _Terminated):
        if store is not None:
            print(
                f"gridfold: stopped; {len(store)} results are kept in {store.path}: run the "
                "same command again to resume",
                file=sys.stderr,
            )
        raise
    finally:
        if store is not None:
            store.close()


def _cluster_config(args: argparse.Namespace, cfg: Any) -> Any:
    """The [cluster] table with --cluster and --jobs applied, or None."""
    from gridfold.config.cluster import ClusterConfig, parse_cluster

    table = cfg.cluster
    if table is None and args.cluster is None:
        if args.jobs is not None:
            from gridfold.exceptions import ParameterError

            raise ParameterError(
                "--jobs needs a cluster to start. Fix: add --cluster slurm, or a [cluster] "
                "table to the study."
            )
        return None
    if table is None:
        from gridfold.config._source import Source

        table = parse_cluster({"kind": args.cluster}, Source(str(cfg.file), ""))
    if args.jobs is not None:
        table = ClusterConfig(kind=table.kind, jobs=args.jobs, options=table.options)
    return table


def _report(args: argparse.Namespace, outcome: object) -> None:
    from gridfold.leaderboard import export, leaderboard, render, render_best
    from gridfold.runner import StudyOutcome
    from gridfold.verdict import verdict

    assert isinstance(outcome, StudyOutcome)
    found = verdict(outcome)
    path = None if args.output is None else export(outcome, args.output)
    if args.json:
        # stdout is the document alone, so that it can be piped into jq or json.load.
        print(json.dumps(_json_document(outcome, found), indent=2))
        return
    quiet = getattr(args, "quiet", False)
    out = _stdout_console()
    if len(outcome.models) > 1:  # one model: its best is the first row below
        out.print(render_best(outcome))
    out.print(render(outcome, top=args.top))
    if not quiet:
        out.print(
            f"{outcome.n_fits} fits ({sum(len(m.candidates) for m in outcome.models)} candidates "
            f"x {outcome.n_splits} splits) on {outcome.dataset}: {outcome.wall_time:.1f} s "
            f"with {outcome.backend} x {outcome.n_workers}"
        )
    _print_failures(out, outcome, getattr(args, "tracebacks", False), quiet)
    if path is not None and not quiet:
        best = leaderboard(outcome).iloc[0]
        out.print(f"wrote {len(leaderboard(outcome))} rows to {path} (best: {best['model']})")
    lines = found.lines()
    if lines:
        out.print()
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def _json_document(outcome: Any, found: Any) -> dict[str, Any]:
    """What ``--json`` prints: the best of each model, the verdict, every candidate."""
    from gridfold.leaderboard import best_records, to_records

    return {
        "study": str(outcome.config.file),
        "dataset": outcome.dataset,
        "metric": found.metric,
        "n_splits": outcome.n_splits,
        "models": best_records(outcome),
        "verdict": found.to_dict(),
        "n_failed_fits": outcome.n_failed,
        "candidates": to_records(outcome),
    }


def _open_existing_store(args: argparse.Namespace) -> SQLiteStore:
    from gridfold.exceptions import StoreError

    path = _store_path(args)
    if not path.exists():
        raise StoreError(
            f"no results store at {str(path)!r}; fix: run `gridfold run {args.study}` first, "
            "or pass the store it used with --store PATH"
        )
    return SQLiteStore(path)


def _cmd_status(args: argparse.Namespace) -> int:
    from gridfold.config import load_config
    from gridfold.runner import prepare, stored_results

    cfg = load_config(args.study)
    single_study_only(cfg, "status")
    no_halving(cfg, "status")
    prepared = prepare(cfg)
    with _open_existing_store(args) as store:
        _, status = stored_results(prepared, store)
        path = store.path
        records = store.run_records(str(cfg.file))
    out = _stdout_console()
    out.print(f"{cfg.file}: results store {path}", markup=False)
    out.print(f"{'model':<24} {'done':>6} {'failed':>6} {'missing':>7}", markup=False)
    for m in status:
        out.print(f"{m.name:<24} {m.done:>6} {m.failed:>6} {m.missing:>7}", markup=False)
    missing = sum(m.missing for m in status)
    out.print(
        f"{missing} fits missing: `gridfold run {args.study}` runs just those"
        if missing
        else "complete: `gridfold results` prints the leaderboard",
        markup=False,
    )
    for line in _prediction_lines(records):
        out.print(line, markup=False, highlight=False)
    return EXIT_OK


def _seconds(value: float) -> str:
    """Seconds as a person reads them: 3 decimals below one second, 1 above."""
    return f"{value:.3f}" if value < 1 else f"{value:.1f}"


def _prediction_lines(records: Sequence[object]) -> list[str]:
    """The last plan's prediction and the last run, one line each (what status shows)."""
    from gridfold.store.base import RunRecord

    last = {r.kind: r for r in records if isinstance(r, RunRecord)}
    lines = []
    plan, run = last.get("plan"), last.get("run")
    if plan is not None:
        lines.append(
            f"plan: predicted {_seconds(plan.wall_seconds)} s on {plan.n_workers} workers "
            f"({_seconds(plan.work_seconds)} s of work, {plan.n_fits} fits)"
        )
    if run is not None:
        lines.append(
            f"last run: took {_seconds(run.wall_seconds)} s on {run.n_workers} workers "
            f"({_seconds(run.work_seconds)} s of work, {run.n_fits} fits run)"
        )
    if plan is not None and run is not None and run.n_fits == plan.n_fits and plan.wall_seconds:
        lines.append(f"run / plan: {run.wall_seconds / plan.wall_seconds:.2f}")
    return lines


def _cmd_results(args: argparse.Namespace) -> int:
    from gridfold.config import load_config
    from gridfold.exceptions import StoreError
    from gridfold.runner import make_outcome, prepare, stored_results

    cfg = load_config(args.study)
    no_halving(cfg, "results")
    if is_other_mode(cfg):  # nested CV, or several data sets: gridfold.cli_modes
        return results_mode(args, cfg)
    prepared = prepare(cfg)
    with _open_existing_store(args) as store:
        results, status = stored_results(prepared, store)
    missing = sum(m.missing for m in status)
    if missing:
        raise StoreError(
            f"{missing} of {prepared.study.n_tasks} fits of {cfg.file} are not in the store yet; "
            f"fix: run `gridfold run {args.study}` to finish them (it skips stored fits)"
        )
    outcome = make_outcome(prepared, results, 0, "store", 0.0)
    args.quiet = True  # no timing line: nothing ran
    _report(args, outcome)
    return EXIT_ALL_FAILED if outcome.n_failed == outcome.n_fits else EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from gridfold.config import load_config
    from gridfold.exceptions import ConfigError, ParameterError
    from gridfold.report.html import write_report
    from gridfold.report.sharing import SharingPlan, last_run_workers, plan_sharing

    cfg = load_config(args.study)
    no_halving(cfg, "report")
    if cfg.run.nested:  # a nested study's outer scores are not reported yet
        raise ConfigError(
            f"{cfg.file}: `gridfold report` does not report a study with [run] nested = true "
            "yet; it reports a study of one [data] table or of [[data]] tables. Fix: "
            f"`gridfold results {args.study}` prints the nested study's outer scores and verdict "
            "(--json for every number)."
        )
    with _open_existing_store(args) as store:
        if cfg.several_datasets:
            from gridfold.datasets_study import datasets_from_store

            outcomes: Any = datasets_from_store(cfg, store, args.study).outcomes
            sharing: SharingPlan | None = None  # not counted across data sets yet
        else:
            outcomes, prepared = _stored_outcome(args, cfg, store)
            # What sharing saved, in fits: the default plan for the last run's workers.
            workers = last_run_workers(store.run_records(str(cfg.file)))
            sharing = plan_sharing(prepared.study, workers)
    study = Path(args.study)
    folder = Path(args.output) if args.output else study.with_name(study.stem + "-report")
    try:
        written = write_report(outcomes, folder, sharing=sharing)
    except OSError as exc:  # -o names a file, a folder without write permission, a full disk
        raise ParameterError(
            f"cannot write the report to {str(folder)!r}: {exc.strerror or exc}. Expected a "
            "folder gridfold can create or write to; fix: pass another one with -o DIR (the "
            "store was only read: nothing in it is lost)."
        ) from None
    print(f"wrote {written.html} and {len(written.images)} PNG files to {folder}")
    return EXIT_OK


def _stored_outcome(args: argparse.Namespace, cfg: Any, store: SQLiteStore) -> tuple[Any, Any]:
    """The outcome of a finished plain study, read from ``store``, and the prepared study.

    No fit runs.
    """
    from gridfold.exceptions import StoreError
    from gridfold.runner import make_outcome, prepare, stored_results

    prepared = prepare(cfg)
    results, status = stored_results(prepared, store)
    missing = sum(m.missing for m in status)
    if missing == prepared.study.n_tasks:
        held = f"it holds {len(store)} results of other studies" if len(store) else "it is empty"
        raise StoreError(
            f"the store {str(store.path)!r} holds none of the fits of {cfg.file} ({held}); fix: "
            f"run `gridfold run {args.study}` first, or pass the store it used with --store PATH"
        )
    if missing:
        raise StoreError(
            f"{missing} of {prepared.study.n_tasks} fits of {cfg.file} are not in the store yet; "
            f"fix: run `gridfold run {args.study}` to finish them (it skips stored fits)"
        )
    return make_outcome(prepared, results, 0, "store", 0.0), prepared


def _print_failures(out: Console, outcome: object, tracebacks: bool, quiet: bool) -> None:
    from gridfold.runner import StudyOutcome

    assert isinstance(outcome, StudyOutcome)
    failed = [m for m in outcome.models if m.failures]
    if not failed:
        return
    error_score = outcome.config.run.error_score
    out.print(
        f"\n{outcome.n_failed} of {outcome.n_fits} fits failed (score set to "
        f"error_score={error_score}):",
        markup=False,
    )
    for m in failed:
        everything = " (all of them)" if m.n_failed == m.n_fits else ""
        out.print(
            f"  model {m.name!r}: {m.n_failed} of {m.n_fits} fits failed{everything}", markup=False
        )
        if quiet:
            continue
        for group in m.failures:
            out.print(f"    {group.count} x {group.message}", markup=False)
            if tracebacks:
                out.print(
                    "      " + group.traceback.strip().replace("\n", "\n      "), markup=False
                )
    if not quiet and not tracebacks:
        out.print(
            "  Show a traceback per error with --tracebacks; debug one fit with "
            '[run] error_score = "raise" and --n-jobs 1.',
            markup=False,
        )


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridfold`` command.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {
        "check": _cmd_check,
        "run": _cmd_run,
        "status": _cmd_status,
        "plan": _cmd_plan,
        "report": _cmd_report,
    }
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return commands.get(args.command, _cmd_results)(args)
    except KeyboardInterrupt:
        print("gridfold: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("gridfold: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except ExecutorError as exc:  # the machinery failed, not the input: its own code
        print(f"gridfold: executor failed: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_EXECUTOR
    except (GridfoldError, FileNotFoundError) as exc:
        print(f"gridfold: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
