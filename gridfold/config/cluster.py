"""The ``[cluster]`` table: a batch-queue cluster of Dask workers started for the study."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gridfold.config._source import Ctx, Source, expect

__all__ = ["CLUSTER_KINDS", "ClusterConfig", "parse_cluster"]

#: ``kind`` -> the dask-jobqueue class that starts it.
CLUSTER_KINDS = {"slurm": "SLURMCluster"}
_NAMED = ("cores", "memory", "walltime", "queue")


@dataclass(frozen=True)
class ClusterConfig:
    """Where a study's Dask workers come from: ``jobs`` batch jobs of a ``kind`` cluster.

    Attributes
    ----------
    kind : str
        ``"slurm"`` (dask-jobqueue's ``SLURMCluster``).
    jobs : int
        Batch jobs to ask for; each runs ``processes`` single-threaded workers
        (default: one per core of the job).
    options : dict
        Every other key, given to the cluster class as is (``cores``,
        ``memory``, ``walltime``, ``queue``, ``interface``,
        ``job_extra_directives``, ...).
    """

    kind: str = "slurm"
    jobs: int = 1
    options: dict[str, Any] = field(default_factory=dict)


def parse_cluster(table: Any, src: Source) -> ClusterConfig:
    ctx = Ctx(src, src.section("cluster"), "[cluster]")
    if not isinstance(table, dict):
        raise ctx.error(f"[cluster] must be a table; got {table!r}.")
    kind = table.get("kind", "slurm")
    expect(kind, str, f"one of {sorted(CLUSTER_KINDS)}", "kind", ctx)
    if kind not in CLUSTER_KINDS:
        raise ctx.error(
            f"kind = {kind!r} is not a cluster gridfold can start. Expected one of "
            f'{sorted(CLUSTER_KINDS)}; fix: kind = "slurm", or start the cluster yourself '
            "and give its address as [run] scheduler.",
            "kind",
        )
    jobs = table.get("jobs", 1)
    expect(jobs, int, "a positive number of batch jobs", "jobs", ctx)
    if jobs < 1:
        raise ctx.error(f"jobs = {jobs} is invalid. Expected at least 1; fix: jobs = 2.", "jobs")
    cores = table.get("cores", 1)
    expect(cores, int, "a positive number of cores per job", "cores", ctx)
    if "memory" in table:
        expect(table["memory"], str, 'a size such as "4GB"', "memory", ctx)
    for key in ("walltime", "queue"):
        if key in table:
            expect(table[key], str, "a string", key, ctx)
    options = {k: v for k, v in table.items() if k not in ("kind", "jobs")}
    options.setdefault("cores", cores)
    options.setdefault("memory", "2GB")
    # One single-threaded worker per core: fits are single-threaded units of work.
    options.setdefault("processes", cores)
    return ClusterConfig(kind=kind, jobs=jobs, options=options)
