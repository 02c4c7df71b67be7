"""Dask distributed: the same studies on a Dask cluster, or on Dask workers started here.

``backend="dask"`` runs each batch of units as one Dask task. Where it runs:

- ``scheduler=None``: a scheduler in this process and ``n_jobs`` single-threaded
  worker processes started with the ``dask worker`` command (not with
  ``multiprocessing``'s spawn, which would re-import the caller's ``__main__``:
  scripts need no main guard, as with the process pool). They are closed with
  the executor;
- ``scheduler="tcp://host:port"``: an existing cluster (closed connection at
  the end, the cluster lives on);
- ``scheduler=<distributed.Client>``: that client's cluster, never closed here.

Data reaches each worker once per study: the study is written once to a
folder every worker can read (``$JOBLIB_TEMP_FOLDER`` on a shared filesystem
for a cluster of several machines) and memory-mapped by each worker process;
tasks carry only its path.

A worker that dies is Dask's to handle: its tasks run again elsewhere, up to
``distributed.scheduler.allowed-failures`` times (0 on the workers started
here, so ``retries`` counts attempts exactly as on the process pool), then
their futures fail with ``KilledWorker``. gridfold then reads which unit the
dead worker was running from a 16-byte note the worker keeps in the study's
folder (the same memory map as the process pool's), and fails the batch with
:class:`~gridfold.executors.pool.WorkerLost` naming that unit; a batch that was
only queued on the dead worker runs again, no attempt spent. Each unit's
results are also appended to a file in that folder as it finishes, so the
units a dead worker had finished are kept, and a task Dask runs again resumes
after them: no fit is done twice. Why the worker
died (``exited with code 7``, ``killed by SIGKILL``) comes from its nanny,
which a small plugin makes publish the exit as a Dask event.

A running fit cannot be stopped on Dask (``fit_timeout`` is refused), and
Ctrl-C cancels what has not started; the workers started here are closed.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import cloudpickle
from joblib import cpu_count

from gridfold.data import FileHandle, StudyHandle, dump_study
from gridfold.exceptions import ExecutorError, ParameterError
from gridfold.executors.base import Executor, resolve_n_jobs
from gridfold.executors.pool import WorkerLost, _Progress, describe_exit
from gridfold.runtime import THREAD_ENV_VARS, init_process_worker
from gridfold.tasks import Result, Study, Unit

try:
    import distributed
    from distributed import Client, KilledWorker
    from distributed.diagnostics.plugin import NannyPlugin
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ParameterError(
        "backend='dask' needs Dask distributed, which is not installed. Fix: "
        "pip install 'gridfold[dask]' (or pip install 'dask[distributed]')."
    ) from exc

__all__ = ["DaskExecutor"]

_EXIT_TOPIC = "gridfold-worker-exit"
_EXIT_WAIT = 10.0  # seconds to wait for the nanny's word on why a worker died
_INNOCENT_RERUNS = 3  # reruns of a batch only queued on dead workers before it is charged
_START_TIMEOUT = 120.0


class DaskExecutor(Executor):
    """Runs batches as tasks on a Dask cluster.

    Parameters
    ----------
    n_jobs : int or None
        Worker processes to start when ``scheduler`` is None (``-1``: one per
        core). With a scheduler, the cluster's own threads are the workers.
    scheduler : str, distributed.Client or None
        The cluster: a scheduler address, a connected client, or None for
        workers started here and closed with the executor.
    """

    name = "dask"
    uses_processes = True
    options = ("scheduler",)

    def __init__(self, n_jobs: int | None = None, scheduler: Any = None) -> None:
        requested = resolve_n_jobs(n_jobs)
        self._lock = threading.Lock()
        self._running: set[Any] = set()  # dask futures in flight (for abort)
        self._serials = itertools.count(1)
        self._cleanups: dict[str, weakref.finalize] = {}
        self._workers: _LocalWorkers | None = None
        self._closed = False
        self._nthreads = (0.0, requested)
        self._host_threads: dict[str, int] = {}
        self._settlers = ThreadPoolExecutor(4, thread_name_prefix="gridfold-dask")
        self._client, self._owns_client = self._connect(scheduler, requested)
        try:
            self._client.register_plugin(_ExitReporter(), name=_ExitReporter.name)
            wanted = requested if self._workers is not None else 1
            self._client.wait_for_workers(wanted, timeout=self._wait_timeout())
        except BaseException:
            self.shutdown()
            raise
        self._nthreads = (0.0, self._count_threads())

    def _connect(self, scheduler: Any, requested: int) -> tuple[Client, bool]:
        if scheduler is None:
            self._workers = _LocalWorkers(requested)
            return Client(self._workers.address, set_as_default=False), True
        if isinstance(scheduler, Client):
            return scheduler, False
        if isinstance(scheduler, str) and scheduler:
            try:
                return Client(scheduler, set_as_default=False, timeout=10), True
            except OSError as exc:  # a wrong address, as the user gave it
                raise ParameterError(
                    f"Could not reach the Dask scheduler at {scheduler!r}: {exc}. Fix: check "
                    "the address (tcp://host:port) and that the scheduler is running."
                ) from exc
        raise ParameterError(
            f"scheduler={scheduler!r} is invalid. Expected a scheduler address such as "
            "'tcp://127.0.0.1:8786', a distributed.Client, or None (workers started here); "
            "fix: pass one of these."
        )

    def _wait_timeout(self) -> float | None:
        # Workers started here come up in seconds; a cluster's may wait in a batch queue.
        return _START_TIMEOUT if self._workers is not None else None

    # -- the contract -------------------------------------------------------

    @property
    def n_workers(self) -> int:
        """Threads of the cluster's workers now (re-read at most once a second).

        Workers that join late (a batch queue, autoscaling) get work too.
        """
        checked, count = self._nthreads
        if not self._closed and time.monotonic() - checked > 1.0:
            with contextlib.suppress(Exception):  # keep the last count if the scheduler is slow
                count = self._count_threads()
            self._nthreads = (time.monotonic(), count)
        return count

    @n_workers.setter
    def n_workers(self, value: int) -> None:  # the base class assigns it
        self._nthreads = (time.monotonic(), value)

    def _count_threads(self) -> int:
        workers = self._client.scheduler_info(n_workers=-1)["workers"].values()
        by_host: dict[str, int] = {}
        for worker in workers:
            host = str(worker.get("host", ""))
            by_host[host] = by_host.get(host, 0) + int(worker.get("nthreads", 1))
        self._host_threads = by_host  # each worker's share of its machine's cores
        return max(1, sum(by_host.values()))

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's address, if the scheduler serves one."""
        try:
            return str(self._client.dashboard_link) if self._has_dashboard() else None
        except Exception:  # noqa: BLE001 - a link is a nicety
            return None

    def _has_dashboard(self) -> bool:
        info = self._client.scheduler_info()
        return bool(info.get("services", {}).get("dashboard"))

    def share(self, study: Study) -> StudyHandle:
        handle, cleanup = dump_study(study)
        self._cleanups[handle.path] = cleanup
        if self._workers is None:
            self._check_visible(handle.path)
        return handle

    def _check_visible(self, path: str) -> None:
        seen = self._client.run(os.path.isdir, path)
        blind = sorted(address for address, ok in seen.items() if not ok)
        if blind:
            self.release(FileHandle(path))
            raise ExecutorError(
                f"Dask workers {blind} cannot read the study's data at {path!r}. Expected a "
                "folder every worker sees; fix: set JOBLIB_TEMP_FOLDER to a folder on a "
                "filesystem shared by this machine and the workers."
            )

    def release(self, handle: StudyHandle) -> None:
        if isinstance(handle, FileHandle) and handle.path in self._cleanups:
            self._cleanups.pop(handle.path)()

    def submit(self, handle: StudyHandle, units: Sequence[Unit]) -> Future[list[Result]]:
        future: Future[list[Result]] = Future()
        future.set_running_or_notify_cancel()
        self._launch(handle, tuple(units), future)
        return future

    def abort(self) -> None:
        with self._lock:
            running = list(self._running)
        if running:
            self._client.cancel(running)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._settlers.shutdown(wait=False, cancel_futures=True)
        for path in list(self._cleanups):
            self._cleanups.pop(path)()
        if self._owns_client:
            with contextlib.suppress(Exception):
                self._client.close()
        if self._workers is not None:
            self._workers.close()

    # -- one batch, one task ------------------------------------------------

    def _launch(
        self,
        handle: StudyHandle,
        units: tuple[Unit, ...],
        target: Future[list[Result]],
        reruns: int = 0,
        serial: int | None = None,
    ) -> None:
        batch = _Batch(handle, units, next(self._serials) if serial is None else serial, target)
        task = self._client.submit(
            _run_batch,
            handle,
            units,
            batch.serial,
            self._host_threads,
            pure=False,
            key=f"gridfold-batch-{uuid.uuid4().hex}",
        )
        with self._lock:
            self._running.add(task)

        def settle(done: Any) -> None:
            with self._lock:
                self._running.discard(done)
            with contextlib.suppress(RuntimeError):  # shut down: nobody waits for it
                self._settlers.submit(self._settle, done, batch, reruns)

        task.add_done_callback(settle)

    def _settle(self, task: Any, batch: _Batch, reruns: int) -> None:
        """The batch's outcome onto its future, in one of this executor's threads.

        Not in Dask's one callback thread: fetching a result may wait (a
        finished result lost with its worker is computed again, and may then
        fail with ``KilledWorker``), and naming a dead worker's unit waits for
        its nanny's word.
        """
        target = batch.target
        if target.done():
            return
        try:
            payload = task.result()
        except KilledWorker as error:
            self._killed(error, batch, reruns)
        except CancelledError:
            target.set_exception(ExecutorError("the batch was cancelled (the run was stopped)"))
        except BaseException as error:  # noqa: BLE001 - a fit's error_score="raise" exception
            target.set_exception(error)
        else:
            try:
                target.set_result(_results(payload))
            except Exception as error:  # noqa: BLE001 - handed to the caller
                target.set_exception(error)

    def _killed(self, exc: KilledWorker, batch: _Batch, reruns: int) -> None:
        """A batch whose workers died: name the unit that was running, or run it again."""
        handle, units, serial, target = batch
        try:
            worker = exc.last_worker
            host, pid = str(worker.host), int(worker.pid)
            note = _read_note(handle, host, pid)
            if note is not None and note[0] == serial and note[1] < len(units):
                index = note[1]  # the unit it was running
            elif note is not None and reruns < _INNOCENT_RERUNS:
                # Only queued there, or finished before its result was reported: run it
                # again under the same serial, which starts after its recorded units.
                self._launch(handle, units, target, reruns + 1, serial)
                return
            elif len(units) > 1:  # no note (a filesystem the driver cannot read back)
                self._one_by_one(handle, units, target)  # find the unit one by one
                return
            else:
                index = 0
            # Units recorded before it are done; the others (not recorded, or after it) rerun.
            records = _read_records(_kept_path(handle, serial))[:index]
            done = [r for record in records for r in pickle.loads(record)]
            rest = units[len(records) : index] + units[index + 1 :]
            reason = self._exit_reason(host, pid, str(worker.address))
            target.set_exception(WorkerLost(done, units[index], rest, reason))
        except BaseException as error:  # noqa: BLE001 - never leave the future pending
            if not target.done():
                target.set_exception(error)

    def _one_by_one(
        self, handle: StudyHandle, units: tuple[Unit, ...], target: Future[list[Result]]
    ) -> None:
        parts: list[Future[list[Result]]] = []
        for unit in units:
            part: Future[list[Result]] = Future()
            part.set_running_or_notify_cancel()
            parts.append(part)
            self._launch(handle, (unit,), part)
        remaining = [len(parts)]
        lock = threading.Lock()

        def one_done(_: Future[list[Result]]) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0]:
                    return
            _combine(parts, target)

        for part in parts:
            part.add_done_callback(one_done)

    def _exit_reason(self, host: str, pid: int, address: str) -> str:
        deadline = time.monotonic() + _EXIT_WAIT
        while True:
            for _, event in reversed(self._client.get_events(_EXIT_TOPIC)):
                if event.get("pid") == pid and event.get("host") in (host, None):
                    return str(describe_exit(event.get("code")))
            if time.monotonic() > deadline:
                return f"died (worker {address}; its log may say why)"
            time.sleep(0.1)


class _Batch(NamedTuple):
    """One submitted batch: what it runs, under which serial, and whose future it settles."""

    handle: StudyHandle
    units: tuple[Unit, ...]
    serial: int
    target: Future[list[Result]]


def _combine(parts: list[Future[list[Result]]], target: Future[list[Result]]) -> None:
    """One batch's outcome from its units run one by one."""
    done: list[Result] = []
    lost: list[WorkerLost] = []
    again: list[Unit] = []
    for part in parts:
        error = part.exception()
        if error is None:
            done.extend(part.result())
        elif isinstance(error, WorkerLost):
            lost.append(error)
            again.extend(error.rest)
        else:
            target.set_exception(error)
            return
    if not lost:
        target.set_result(done)
        return
    first = lost[0]
    again.extend(other.lost for other in lost[1:])  # charged when they die again alone
    target.set_exception(WorkerLost(done, first.lost, tuple(again), first.reason))


def _read_note(handle: StudyHandle, host: str, pid: int) -> tuple[int, int] | None:
    if not isinstance(handle, FileHandle):
        return None
    return _Progress.peek(_note_path(handle.path, host, pid))


def _note_path(folder: str, host: str, pid: int) -> str:
    return os.path.join(folder, f"running-{host}-{pid}")


# ----------------------------------------------------------------------------
# In the worker
# ----------------------------------------------------------------------------

_notes: dict[str, _Progress | None] = {}


def _run_batch(
    handle: StudyHandle, units: tuple[Unit, ...], serial: int, host_threads: dict[str, int]
) -> bytes:
    """The task: evaluate ``units`` in order; return one pickled record of results per unit.

    Each unit's record is also appended, as it finishes, to a file in the
    study's folder (a write to the page cache, which outlives the process).
    So when the worker dies, the driver keeps the units that finished before
    the one that killed it; and when Dask runs the task again (a retry after
    a worker died, or a finished result lost with its worker), the new run
    starts after the last recorded unit instead of fitting again.
    """
    _prepare_worker(host_threads)
    kept = _kept_path(handle, serial)
    records = _read_records(kept)[: len(units)] if kept is not None else []
    note = _note(handle)
    for index in range(len(records), len(units)):
        if note is not None:
            note.note(serial, index)
        record = _record(handle, units[index])
        records.append(record)
        if kept is not None:
            _append(kept, record)
    if note is not None:
        note.note(serial, len(units))
    return b"".join(records)


def _record(handle: StudyHandle, unit: Unit) -> bytes:
    from gridfold.worker import run_unit, unpicklable_result

    results = run_unit(handle, unit)
    try:
        return bytes(cloudpickle.dumps(results))
    except Exception as exc:  # noqa: BLE001 - one bad result must not fail the batch
        return bytes(cloudpickle.dumps([unpicklable_result(handle, r, exc) for r in results]))


def _append(path: str, record: bytes) -> None:
    with contextlib.suppress(OSError):  # a read-only share: a rerun fits again
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, record)  # one write: a reader sees whole records, or a torn last one
        finally:
            os.close(fd)


def _read_records(path: str | None) -> list[bytes]:
    """The whole pickled records at ``path`` (a torn last one is dropped)."""
    if path is None:
        return []
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return []
    return _split_records(data)


def _split_records(data: bytes) -> list[bytes]:
    records: list[bytes] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            pickle.load(stream)
        except Exception:  # noqa: BLE001 - torn by a death in mid-write
            break
        records.append(data[start : stream.tell()])
    return records


def _results(payload: bytes) -> list[Result]:
    """The results in a task's payload: its records' lists, concatenated."""
    return [r for record in _split_records(payload) for r in pickle.loads(record)]


def _kept_path(handle: StudyHandle, serial: int) -> str | None:
    return os.path.join(handle.path, f"batch-{serial}") if isinstance(handle, FileHandle) else None


_prepared = False


def _prepare_worker(host_threads: dict[str, int]) -> None:
    """Once per worker process: mark it, cap its inner parallelism at its share of the cores.

    The share is this machine's cores over the threads of every Dask worker
    on it (``host_threads``, from the scheduler), so that workers of one
    node never run more threads than it has cores between them.
    """
    global _prepared
    if _prepared:
        return
    worker = distributed.get_worker()
    host = distributed.comm.get_address_host(worker.address)
    threads = host_threads.get(host, worker.state.nthreads)
    init_process_worker(max(1, _host_cores() // max(1, threads)))
    _prepared = True


def _host_cores() -> int:
    # Not joblib's cpu_count(): LOKY_MAX_CPU_COUNT may already hold the worker's share.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _note(handle: StudyHandle) -> _Progress | None:
    if not isinstance(handle, FileHandle):
        return None
    if handle.path not in _notes:
        while len(_notes) >= 2:  # this study's and the one before
            old = _notes.pop(next(iter(_notes)))
            if old is not None:
                old.close()
        worker = distributed.get_worker()
        host = distributed.comm.get_address_host(worker.address)
        try:
            _notes[handle.path] = _Progress.at(_note_path(handle.path, host, os.getpid()))
        except OSError:  # a read-only share: the driver finds the unit one by one
            _notes[handle.path] = None
    return _notes[handle.path]


class _ExitReporter(NannyPlugin):
    """Makes each nanny publish why its worker process died, as a Dask event.

    The nanny logs ``Worker process N exited with status X`` (or ``was killed
    by signal S``) and nothing else keeps it; the driver reads the event to
    say ``exited with code 7`` rather than "died".
    """

    name = "gridfold-exit-reporter"

    def setup(self, nanny: Any) -> None:
        self._handler = _ExitHandler(nanny)
        logger = logging.getLogger("distributed.nanny")
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)  # the exit line is logged at INFO
        logger.addHandler(self._handler)

    def teardown(self, nanny: Any) -> None:
        logging.getLogger("distributed.nanny").removeHandler(self._handler)


_EXIT_LINE = re.compile(
    r"Worker process (\d+) (?:exited with status (\d+)|was killed by signal (\d+))"
)


class _ExitHandler(logging.Handler):
    def __init__(self, nanny: Any) -> None:
        super().__init__(logging.INFO)
        self.nanny = nanny

    def emit(self, record: logging.LogRecord) -> None:
        match = _EXIT_LINE.match(record.getMessage())
        if match is None:
            return
        pid, status, signal = match.groups()
        code = int(status) if status is not None else -int(signal)
        try:
            host = distributed.comm.get_address_host(self.nanny.address)
        except Exception:  # noqa: BLE001 - the driver then matches on the pid alone
            host = None
        with contextlib.suppress(Exception):
            self.nanny.log_event(_EXIT_TOPIC, {"pid": int(pid), "code": code, "host": host})


# ----------------------------------------------------------------------------
# Workers started here
# ----------------------------------------------------------------------------


class _LocalWorkers:
    """A scheduler in this process and ``n`` worker processes from the ``dask worker`` command."""

    def __init__(self, n: int) -> None:
        import dask

        self._folder = tempfile.mkdtemp(prefix="gridfold-dask-")
        self._log = open(os.path.join(self._folder, "workers.log"), "wb")  # noqa: SIM115
        # 0: the first death fails the task, and gridfold's retries count every attempt.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            self.cluster = distributed.LocalCluster(
                n_workers=0,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0" if _has_bokeh() else None,
            )
        self.address = str(self.cluster.scheduler_address)
        command = [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            self.address,
            "--nworkers",
            str(n),
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
            "--death-timeout",
            "60",  # orphans exit if the driver was killed
            "--local-directory",
            self._folder,
        ]
        self.process = subprocess.Popen(
            command,
            env=_worker_env(n),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,  # Ctrl-C is the driver's to handle
        )

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(Exception):
            self.cluster.close()
        self._log.close()
        shutil.rmtree(self._folder, ignore_errors=True)


def _worker_env(n: int) -> dict[str, str]:
    inner = str(max(1, cpu_count() // n))
    env = dict(os.environ)
    env.update({var: inner for var in THREAD_ENV_VARS})
    env["GRIDFOLD_IN_WORKER"] = "1"
    # What this process can import (a test module, a script's folder), workers can.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
    return env


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True
