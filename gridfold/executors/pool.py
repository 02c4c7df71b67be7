"""A process pool where one dying worker costs one unit of work, not the pool.

loky (and :mod:`concurrent.futures`) mark the whole pool broken when one
worker dies and fail every task in flight without saying which one killed
it (scikit-learn #29579, joblib #812). gridfold needs the opposite: know
exactly which unit a dead worker was running, keep what it had finished,
restart only that worker and let the others carry on. So this module keeps
one pipe per worker and hands each worker one batch at a time:

- the worker notes the unit it starts in a small memory map it shares with
  the driver (a store to memory, no message), and sends results once per
  ``_FLUSH_SECONDS`` of work and at the end of the batch: one message per
  unit would cost the driver a wake-up per tiny fit (a 2000-fit study: 0.17 s
  of driver CPU, 6% of its wall time on two cores). A unit with a time limit
  sends its results as it ends, so the driver knows since when the next one runs;
- a worker that dies (signal, ``os._exit``, OOM killer) is noticed through
  its process sentinel; its batch's future fails with :class:`WorkerLost`
  carrying the results it had sent, the unit it was running (read from the
  memory map) and why it died; units it had finished but not yet reported
  run again, not counted as attempts;
- a unit running past its time limit gets its worker killed (SIGKILL): the
  same path, marked ``timed_out``;
- a result that cannot be pickled becomes a failed fit in the worker.

Workers are started by loky's process launcher (fresh interpreters, safe with
OpenMP and BLAS thread pools, and unlike ``multiprocessing``'s spawn, they do
not re-import the caller's ``__main__``, so scripts need no main guard), with
the thread caps in their environment before numpy loads, and ignore SIGINT:
Ctrl-C is the driver's to handle. They are reused across studies and exit when idle for
``idle_timeout`` seconds, or when the driver goes away (end of file on their
pipe).
"""

from __future__ import annotations

import atexit
import itertools
import math
import mmap
import os
import pickle
import selectors
import signal
import struct
import tempfile
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import cloudpickle
from joblib.externals.loky.backend.context import get_context

from gridfold.exceptions import ExecutorError
from gridfold.tasks import Result, Unit

__all__ = ["WorkerLost", "FaultTolerantPool", "RemoteTraceback", "describe_exit"]


class WorkerLost(ExecutorError):
    """The worker running a batch died (or was killed for its time limit).

    Attributes
    ----------
    done : list of Result
        Results of the batch's units that finished before.
    lost : Unit
        The unit the worker was running.
    rest : tuple of Unit
        The batch's units to run again, no attempt spent: those that had not
        started, and those that had finished in the worker but whose results
        had not reached the driver (at most ``_FLUSH_SECONDS`` of work).
    reason : str
        What happened, e.g. ``"killed by signal SIGSEGV"``.
    timed_out : bool
        True when gridfold killed the worker because ``lost`` ran past its limit.
    """

    def __init__(
        self,
        done: list[Result],
        lost: Unit,
        rest: tuple[Unit, ...],
        reason: str,
        timed_out: bool = False,
    ) -> None:
        super().__init__(f"a worker process {reason} while evaluating {lost}")
        self.done = done
        self.lost = lost
        self.rest = rest
        self.reason = reason
        self.timed_out = timed_out


def describe_exit(exitcode: int | None) -> str:
    """Human words for a worker's exit code (negative: the signal that killed it)."""
    if exitcode is None:
        return "disappeared"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = {
            "SIGSEGV": " (a segmentation fault in native code)",
            "SIGKILL": " (killed: often the kernel's out-of-memory killer; see `dmesg`)",
            "SIGABRT": " (aborted by native code)",
        }.get(name, "")
        return f"was killed by {name}{hint}"
    return f"exited with code {exitcode} (os._exit or sys.exit in a fit)"


@dataclass
class _Job:
    future: Future[list[Result]]
    handle: Any
    units: tuple[Unit, ...]
    limits: tuple[float | None, ...]  # seconds each unit may run (None: no limit)
    threads: int | None = None  # threads for the units' own n_jobs (None: the worker's share)
    serial: int = 0  # tells this batch from the worker's earlier ones in its progress map
    results: list[Result] = field(default_factory=list)
    running: int = 0  # index of the first unit whose results have not arrived
    started: float = 0.0  # when that unit started (driver clock)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    progress: _Progress
    job: _Job | None = None
    idle_since: float = field(default_factory=time.monotonic)
    killed_for_timeout: bool = False
    dying: bool = False  # killed, not yet buried: never given another batch


class FaultTolerantPool:
    """``n_workers`` worker processes, one batch each at a time.

    Parameters
    ----------
    n_workers : int
        Processes to run at once.
    env : dict of str to str
        Environment set for the workers (thread caps), before numpy loads.
    initializer : callable
        Called with ``initargs`` in each worker before its first batch.
    idle_timeout : float
        Seconds after which an idle worker exits (restarted on demand).
    """

    def __init__(
        self,
        n_workers: int,
        *,
        env: dict[str, str],
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        idle_timeout: float = 300.0,
    ) -> None:
        self.n_workers = n_workers
        self._env = env
        self._init = cloudpickle.dumps((initializer, initargs))
        self._idle_timeout = idle_timeout
        self._ctx = get_context("loky")
        self._queue: deque[_Job] = deque()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._wakeup = _Wakeup()
        # One selector for the pool's life (multiprocessing's wait() builds one per call,
        # which cost more than a tiny fit's whole message): the wake-up pipe, and each
        # worker's pipe and process sentinel while it lives.
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wakeup.fileno(), selectors.EVENT_READ, ("wake", None))
        self._serials = itertools.count(1)
        self._closed = False
        self._thread = threading.Thread(target=self._manage, name="gridfold-pool", daemon=True)
        self._thread.start()
        _track(self)

    # -- driver API -------------------------------------------------------

    def submit(
        self,
        handle: Any,
        units: Sequence[Unit],
        limits: Sequence[float | None] | None = None,
        threads: int | None = None,
    ) -> Future[list[Result]]:
        """Queue a batch; its future resolves to the results of all its units.

        ``limits`` gives the seconds each unit may run before its worker is
        killed (None: no limit); ``threads`` the threads the units' own
        ``n_jobs`` may use (None: the worker's share of the cores).
        """
        future: Future[list[Result]] = Future()
        limits = tuple(limits) if limits is not None else (None,) * len(units)
        with self._lock:
            if self._closed:
                raise ExecutorError("the process pool was shut down; create a new executor")
            self._queue.append(_Job(future, handle, tuple(units), limits, threads))
        self._wake()
        return future

    def kill_running(self) -> None:
        """Kill the workers that are busy (Ctrl-C): their batches fail, the pool lives on."""
        with self._lock:
            for worker in list(self._workers):
                if worker.job is not None:
                    _kill_worker(worker)

    def shutdown(self) -> None:
        """Stop every worker and the manager thread; fail what has not finished."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join()

    @property
    def broken(self) -> bool:
        return self._closed or not self._thread.is_alive()

    # -- manager thread ---------------------------------------------------

    def _wake(self) -> None:
        self._wakeup.wakeup()

    def _manage(self) -> None:
        try:
            while not self._closed:
                self._dispatch()
                self._poll(self._wait_seconds())
        finally:
            self._stop_all()

    def _dispatch(self) -> None:
        with self._lock:
            while self._queue:
                worker = self._idle_worker()
                if worker is None:
                    return
                job = self._queue.popleft()
                if not (job.future.running() or job.future.set_running_or_notify_cancel()):
                    continue  # cancelled before it started (a requeued job is already running)
                self._start(worker, job)

    def _idle_worker(self) -> _Worker | None:
        for worker in self._workers:
            # A killed worker may still send the results of its batch, which frees it,
            # before its death is seen: it must not get the next batch.
            if worker.job is None and not worker.dying:
                return worker
        if len(self._workers) < self.n_workers:
            worker = self._spawn()
            self._workers.append(worker)
            return worker
        return None

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        progress = _Progress.create()
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self._init, progress.path),
            name="gridfold-worker",
            env=self._env,
        )
        try:
            process.start()
        except BaseException:
            progress.close()
            raise
        child.close()
        worker = _Worker(process, parent, progress)
        self._selector.register(parent.fileno(), selectors.EVENT_READ, ("conn", worker))
        self._selector.register(process.sentinel, selectors.EVENT_READ, ("sentinel", worker))
        return worker

    def _start(self, worker: _Worker, job: _Job) -> None:
        job.started = math.inf  # until the worker says it started
        job.serial = next(self._serials)
        worker.job = job
        try:
            timed = any(limit is not None for limit in job.limits)
            message = (job.serial, job.handle, job.units, timed, job.threads)
            worker.conn.send_bytes(_dumps(message))
        except Exception as exc:  # noqa: BLE001 - a batch that cannot be pickled
            worker.job = None
            if isinstance(exc, OSError):  # the worker died before it could read it
                self._queue.appendleft(job)
                return
            job.future.set_exception(exc)

    def _wait_seconds(self) -> float:
        now = time.monotonic()
        deadline = now + min(self._idle_timeout, 1.0)
        for worker in self._workers:
            limit = self._limit(worker)
            if limit is not None:
                deadline = min(deadline, worker.job.started + limit)  # type: ignore[union-attr]
        return max(0.0, deadline - now)

    def _limit(self, worker: _Worker) -> float | None:
        if worker.job is None or worker.killed_for_timeout:
            return None
        return worker.job.limits[worker.job.running]

    def _poll(self, timeout: float) -> None:
        dead = []
        for key, _ in self._selector.select(timeout):
            kind, worker = key.data
            if kind == "wake":
                self._wakeup.clear()
            elif kind == "conn":
                self._receive(worker)
            else:
                dead.append(worker)
        for worker in dead:  # after the messages it sent before it died
            if worker in self._workers:
                self._bury(worker)
        self._enforce_limits()
        self._retire_idle()

    def _forget(self, worker: _Worker, sentinel: bool = True) -> None:
        """Stop watching ``worker``'s pipe (and its sentinel)."""
        fds = [worker.conn.fileno()] if not worker.conn.closed else []
        fds += [worker.process.sentinel] if sentinel else []
        for fd in fds:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):  # already forgotten
                pass

    def _receive(self, worker: _Worker) -> bool:
        """Take one message from ``worker``; False at end of file (it died)."""
        try:
            message = worker.conn.recv_bytes()
        except (EOFError, OSError):
            self._forget(worker, sentinel=False)  # its sentinel tells the rest
            return False
        job = worker.job
        if job is None:  # nothing is expected from an idle worker
            return True
        kind, payload = pickle.loads(message)
        if kind == "started":  # the clock of a time limit starts now, not at start-up
            job.started = time.monotonic()
            return True
        if kind == "error":  # a fit raised with error_score="raise"
            worker.job, worker.idle_since = None, time.monotonic()
            exc, tb = payload
            exc.__cause__ = RemoteTraceback(tb)
            job.future.set_exception(exc)
            return True
        n_units, results = payload
        job.results.extend(results)
        job.running += n_units
        job.started = time.monotonic()
        if job.running == len(job.units):
            worker.job, worker.idle_since = None, time.monotonic()
            job.future.set_result(job.results)
        return True

    def _bury(self, worker: _Worker) -> None:
        """A worker died: fail its batch with what it had done, forget the worker."""
        while worker.job is not None and worker.conn.poll():  # results sent before it died
            if not self._receive(worker):
                break
        self._forget(worker)
        worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)
        serial, noted = worker.progress.read()
        worker.progress.close()
        job = worker.job
        if job is None:
            return
        # The unit it died in: the one it noted, if it noted one of this batch, else the
        # first one not reported (it died before its first unit).
        reported = job.running
        running = noted if serial == job.serial and noted > reported else reported
        reason = describe_exit(worker.process.exitcode)
        if worker.killed_for_timeout:
            reason = f"ran past its time limit of {job.limits[running]:g} s and was killed"
        job.future.set_exception(
            WorkerLost(
                job.results,
                job.units[running],
                job.units[reported:running] + job.units[running + 1 :],
                reason,
                timed_out=worker.killed_for_timeout,
            )
        )

    def _enforce_limits(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            limit = self._limit(worker)
            if limit is not None and now - worker.job.started > limit:  # type: ignore[union-attr]
                worker.killed_for_timeout = True
                _kill_worker(worker)

    def _retire_idle(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.job is None and now - worker.idle_since > self._idle_timeout:
                self._stop(worker)

    def _stop(self, worker: _Worker) -> None:
        try:
            worker.conn.send_bytes(b"")  # asks it to exit
        except OSError:
            pass
        self._forget(worker)
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            _kill(worker.process)
            worker.process.join()
        worker.conn.close()
        worker.progress.close()
        self._workers.remove(worker)

    def _stop_all(self) -> None:
        with self._lock:
            for worker in list(self._workers):
                if worker.job is not None:
                    _kill(worker.process)
                    worker.job.future.set_exception(ExecutorError("the process pool was shut down"))
                    worker.job = None
                self._stop(worker)
            while self._queue:
                self._queue.popleft().future.cancel()
        self._selector.close()
        self._wakeup.close()


# Workers are not daemonic (so a fit may start processes of its own, as joblib
# does), and multiprocessing joins non-daemonic children at exit: stop them
# first. atexit runs handlers last-in first-out, and multiprocessing registered
# its own when it was imported, before this one.
_live_pools: weakref.WeakSet[FaultTolerantPool] = weakref.WeakSet()


def _track(pool: FaultTolerantPool) -> None:
    if not _live_pools:
        atexit.unregister(_shutdown_live_pools)
        atexit.register(_shutdown_live_pools)
    _live_pools.add(pool)


def _shutdown_live_pools() -> None:
    for pool in list(_live_pools):
        pool.shutdown()


def _kill_worker(worker: _Worker) -> None:
    worker.dying = True
    _kill(worker.process)


def _kill(process: BaseProcess) -> None:
    if process.pid is not None and process.is_alive():
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class _Progress:
    """Which unit of which batch a worker is on: two integers in a shared memory map.

    The driver creates the 16-byte file and maps it before the worker starts;
    the worker maps it too and removes the file's name (the mappings live on).
    Writing it costs the worker a store to memory; the driver reads it only
    when the worker has died.
    """

    _FORMAT = "qq"  # (batch serial, unit index)

    def __init__(self, path: str, buffer: mmap.mmap) -> None:
        self.path = path
        self._buffer = buffer

    @classmethod
    def create(cls) -> _Progress:
        fd, path = tempfile.mkstemp(prefix="gridfold-worker-", suffix=".progress")
        os.close(fd)
        return cls.at(path)

    @classmethod
    def at(cls, path: str) -> _Progress:
        """Create (or reopen) the map at ``path``, a name the driver knows (Dask workers)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, struct.calcsize(cls._FORMAT))
            return cls(path, mmap.mmap(fd, struct.calcsize(cls._FORMAT)))
        finally:
            os.close(fd)

    @classmethod
    def peek(cls, path: str) -> tuple[int, int] | None:
        """What the map at ``path`` holds, or None if there is none (read once, by the driver)."""
        try:
            with open(path, "rb") as file:
                raw = file.read(struct.calcsize(cls._FORMAT))
        except OSError:
            return None
        if len(raw) != struct.calcsize(cls._FORMAT):
            return None
        serial, index = struct.unpack(cls._FORMAT, raw)
        return int(serial), int(index)

    @classmethod
    def attach(cls, path: str) -> _Progress:
        fd = os.open(path, os.O_RDWR)
        try:
            buffer = mmap.mmap(fd, struct.calcsize(cls._FORMAT))
        finally:
            os.close(fd)
        _unlink(path)
        return cls(path, buffer)

    def note(self, serial: int, index: int) -> None:
        struct.pack_into(self._FORMAT, self._buffer, 0, serial, index)

    def read(self) -> tuple[int, int]:
        if self._buffer.closed:
            return (0, 0)
        serial, index = struct.unpack_from(self._FORMAT, self._buffer, 0)
        return int(serial), int(index)

    def close(self) -> None:
        _unlink(self.path)  # if the worker died before it could
        if not self._buffer.closed:
            self._buffer.close()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class _Wakeup:
    """A self-pipe that wakes the manager thread (as loky's ``_ThreadWakeup``).

    Both ends are non-blocking: a full pipe already means "wake up", and
    :meth:`clear` reads until it is empty.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._closed = False
        self._lock = threading.Lock()  # a write must never reach a closed (reused) fd

    def fileno(self) -> int:
        return self._read

    def wakeup(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._write, b"x")
            except BlockingIOError:  # full: a wake-up is pending anyway
                pass

    def clear(self) -> None:
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._read)
                os.close(self._write)


# -- worker side -----------------------------------------------------------


_STARTED = pickle.dumps(("started", None))
#: Seconds of work a worker gathers results for before it sends them (the batcher
#: aims at batches of about this length, so tiny fits send one message per batch).
_FLUSH_SECONDS = 0.05


def _dumps(obj: Any) -> bytes:
    """``obj`` pickled: by :mod:`pickle` where it can, else by cloudpickle.

    Batches and most results hold only gridfold's task types and numbers,
    which plain pickle writes several times faster than cloudpickle (it
    matters for tiny fits: one message per unit). cloudpickle handles what
    pickle cannot: a class or function defined in ``__main__``, a lambda.
    """
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - pickle's errors vary (PicklingError, AttributeError...)
        return cloudpickle.dumps(obj)


_SHARE = 1  # the worker's share of the cores for n_jobs, set by its initializer


def _worker_main(conn: Connection, init: bytes, progress_path: str) -> None:
    """A worker's life: run batches from ``conn`` until an empty message or end of file."""
    global _SHARE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    progress = _Progress.attach(progress_path)
    initializer, initargs = cloudpickle.loads(init)
    initializer(*initargs)
    from gridfold.runtime import inner_jobs

    _SHARE = inner_jobs()
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the driver is gone
        if not message:
            return
        _run_batch(conn, progress, *pickle.loads(message))


def _run_batch(
    conn: Connection,
    progress: _Progress,
    serial: int,
    handle: Any,
    units: Any,
    timed: bool,
    threads: int | None,
) -> None:
    """Run one batch's units in order, sending their results as :data:`_FLUSH_SECONDS` pass."""
    from gridfold.runtime import set_inner_jobs
    from gridfold.worker import run_unit

    set_inner_jobs(threads if threads is not None else _SHARE)

    if timed:  # the clock of a time limit starts now (not needed otherwise)
        conn.send_bytes(_STARTED)
    pending: list[Result] = []
    n_pending, last_sent = 0, time.monotonic()
    for index, unit in enumerate(units):
        progress.note(serial, index)
        try:
            results = run_unit(handle, unit)
        except BaseException as exc:  # noqa: BLE001 - error_score="raise": the driver re-raises
            if n_pending:
                _send_results(conn, handle, n_pending, pending)
            conn.send_bytes(_pickled_error(exc))
            return
        pending.extend(results)
        n_pending += 1
        now = time.monotonic()
        if timed or index == len(units) - 1 or now - last_sent >= _FLUSH_SECONDS:
            _send_results(conn, handle, n_pending, pending)
            pending, n_pending, last_sent = [], 0, now


def _send_results(conn: Connection, handle: Any, n_units: int, results: list[Result]) -> None:
    from gridfold.worker import unpicklable_result

    try:
        payload = _dumps(("results", (n_units, results)))
    except Exception as exc:  # noqa: BLE001 - one bad result must not take the worker down
        safe = [unpicklable_result(handle, r, exc) for r in results]
        payload = cloudpickle.dumps(("results", (n_units, safe)))
    conn.send_bytes(payload)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, shown as its cause."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


def _pickled_error(exc: BaseException) -> bytes:
    tb = "".join(traceback.format_exception(exc))
    try:
        return cloudpickle.dumps(("error", (exc, tb)))
    except Exception:  # noqa: BLE001
        return cloudpickle.dumps(("error", (ExecutorError(f"a fit raised {exc!r}"), tb)))
