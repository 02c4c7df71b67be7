"""Batch-queue clusters (SLURM) of Dask workers, started for one run and closed after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from gridfold.config.cluster import CLUSTER_KINDS, ClusterConfig
from gridfold.exceptions import ParameterError

__all__ = ["start_cluster"]


@contextlib.contextmanager
def start_cluster(config: ClusterConfig) -> Iterator[Any]:
    """Start ``config.jobs`` batch jobs of Dask workers; yield a client of their scheduler.

    The scheduler runs in this process (on the login node: keep the store
    there), the workers in the batch jobs. Every job is cancelled when the
    block ends, whether the run finished, failed or was interrupted.

    Raises
    ------
    ParameterError
        If dask-jobqueue is not installed, or the cluster class rejects an option.
    """
    cls = _cluster_class(config.kind)
    try:
        cluster = cls(**config.options)
    except TypeError as exc:
        raise ParameterError(
            f"[cluster] options {sorted(config.options)} were rejected by {cls.__name__}: "
            f"{exc}. Fix: use the keyword arguments of dask_jobqueue.{cls.__name__}."
        ) from None
    try:
        from distributed import Client

        cluster.scale(jobs=config.jobs)
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        with contextlib.suppress(Exception):
            cluster.close()


def _cluster_class(kind: str) -> Any:
    try:
        import dask_jobqueue
    except ImportError:
        raise ParameterError(
            f"a {kind!r} cluster needs dask-jobqueue, which is not installed. Fix: "
            "pip install 'gridfold[slurm]'."
        ) from None
    return getattr(dask_jobqueue, CLUSTER_KINDS[kind])
