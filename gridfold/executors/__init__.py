"""Where tasks run. One contract (:class:`Executor`), a name -> factory registry."""

from __future__ import annotations

from gridfold.executors.base import (
    Executor,
    available_backends,
    get_executor,
    register_executor,
    resolve_n_jobs,
)


def _local(name: str):  # type: ignore[no-untyped-def]
    def load():  # type: ignore[no-untyped-def]
        from gridfold.executors import local

        return {
            "sequential": local.SequentialExecutor,
            "threads": local.ThreadExecutor,
            "processes": local.ProcessExecutor,
        }[name]

    return load


def _dask():  # type: ignore[no-untyped-def]
    from gridfold.executors.dask import DaskExecutor  # ParameterError if Dask is missing

    return DaskExecutor


for _name in ("sequential", "threads", "processes"):
    register_executor(_name, _local(_name))
register_executor("dask", _dask)

__all__ = [
    "Executor",
    "available_backends",
    "get_executor",
    "register_executor",
    "resolve_n_jobs",
]
