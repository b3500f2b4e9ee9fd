"""The worker pool the power layer drives: processes, tasks, pause, stop, kill, crash, stats.

One single-threaded worker process per core. The pool never imports numba (the workers do).
It moves messages between the supervisor and the workers, notices a worker that died and
starts another in its place, and keeps per-worker CPU seconds and chunk rate. The CPU seconds
of the pool never go down: a replaced worker's last are kept (the power loop measures heat as
their increase). What to run where is the scheduler's business (`scheduler.py`).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any, Protocol

import psutil

from boiler_agent.compute.worker import Task, worker_main

log = logging.getLogger(__name__)

CHUNK_RATE_WINDOW_S = 10.0
EXIT_GRACE_S = 1.0  # at close, for every worker together to exit after its checkpoint
KILLED_JOIN_S = 0.5  # a SIGKILLed process is gone at once; this only bounds a wait


class WorkerState(enum.StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"  # asked to stop at its next chunk boundary, with a checkpoint
    DEAD = "dead"


@dataclass
class WorkerEvent:
    """Something a worker said or did: kind is ready, progress, done, stopped, restarted,
    unsaved (its result could not be written), error or crashed (`stop_overdue` in the body
    when the pool killed it for not stopping within the grace period). `task` is the task it
    concerns, if any."""

    worker: int
    kind: str
    body: dict[str, Any]
    task: Task | None


class WorkerSlot(Protocol):
    """What the scheduler reads of one worker."""

    @property
    def index(self) -> int: ...

    @property
    def state(self) -> WorkerState: ...

    @property
    def task(self) -> Task | None: ...


class Pool(Protocol):
    """The pool port: `WorkerPool` (processes) or `SimulatedPool` (simulated time)."""

    @property
    def size(self) -> int: ...

    @property
    def workers(self) -> Sequence[WorkerSlot]: ...

    def assign(self, index: int, task: Task) -> None: ...

    def request_stop(self, index: int) -> None: ...

    def pause(self, index: int) -> None: ...

    def resume(self, index: int) -> None: ...

    def poll(self, timeout_s: float) -> list[WorkerEvent]: ...

    def wake(self) -> None:
        """End a `poll` under way at once (from another thread or a signal handler)."""

    def busy_cpu_seconds(self) -> float: ...

    def running_indices(self) -> list[int]: ...

    def idle(self) -> list[int]: ...

    def close(self, timeout_s: float = ...) -> list[WorkerEvent]: ...


@dataclass
class Worker:
    index: int
    process: SpawnProcess
    conn: Connection
    state: WorkerState = WorkerState.STARTING
    task: Task | None = None
    paused: bool = False
    stop_requested_s: float | None = None
    pid: int | None = None
    ready_s: float | None = None
    chunks: int = 0  # chunks this worker reported done, over every task it ran
    task_chunks: int = 0  # of them, in its current task (the messages count per task)
    # (when, chunks done since the report before) of each report: the chunk rate's window
    reports: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    last_cpu_s: float = 0.0  # the last CPU time read: what is left once it cannot be read
    stop_overdue: bool = False  # killed by us: asked to stop, it did not within the grace

    def cpu_seconds(self) -> float:
        """CPU seconds of the process so far (still readable while it is a zombie)."""
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except (psutil.Error, ValueError):
            return self.last_cpu_s
        self.last_cpu_s = max(self.last_cpu_s, float(times.user + times.system))
        return self.last_cpu_s

    def count_chunks(self, task_chunks: int, now: float) -> None:
        """A report of `task_chunks` done in the current task (progress, done, stopped...)."""
        done = max(0, task_chunks - self.task_chunks)
        self.chunks += done
        self.task_chunks = task_chunks
        self.reports.append((now, done))

    def chunk_rate(self, now: float) -> float:
        """Chunks a second over the last CHUNK_RATE_WINDOW_S, as reported (a report comes every
        half second and counts the chunks since the one before)."""
        while self.reports and now - self.reports[0][0] > CHUNK_RATE_WINDOW_S:
            self.reports.popleft()
        return sum(done for _, done in self.reports) / CHUNK_RATE_WINDOW_S


class WorkerPool:
    def __init__(self, size: int, *, cache_dir: str | None = None, grace_s: float = 5.0) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one worker, got {size}")
        self.size = size
        self.cache_dir = cache_dir
        self.grace_s = grace_s
        self.replacements = 0
        self._retired_cpu_s = 0.0  # CPU seconds of the workers that died and were replaced
        self._closing = False
        self._ctx = multiprocessing.get_context("spawn")
        # A self-pipe in every poll's wait: a stop, a reload or a command need not wait out the
        # poll's timeout, which runs to the next control period when nothing is duty cycled.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.workers: list[Worker] = [self._spawn(index) for index in range(size)]

    def _spawn(self, index: int) -> Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main, args=(child, index, self.cache_dir), name=f"compute-{index}"
        )
        process.daemon = True
        process.start()
        child.close()
        return Worker(index=index, process=process, conn=parent)

    # --- commands ---------------------------------------------------------------------------

    def assign(self, index: int, task: Task) -> None:
        worker = self.workers[index]
        if worker.state is not WorkerState.IDLE:
            raise RuntimeError(f"worker {index} is {worker.state}, not idle")
        worker.conn.send(("run", vars(task)))
        worker.task, worker.state = task, WorkerState.RUNNING
        worker.task_chunks = 0  # the worker counts each task's chunks from 0

    def request_stop(self, index: int) -> None:
        """Stop at the next chunk boundary, after a checkpoint; killed after the grace period."""
        worker = self.workers[index]
        if worker.state is not WorkerState.RUNNING:
            return
        if worker.paused:
            self.resume(index)  # a stopped process cannot answer
        worker.conn.send(("stop", {}))
        worker.state, worker.stop_requested_s = WorkerState.STOPPING, time.monotonic()

    def pause(self, index: int) -> None:
        worker = self.workers[index]
        if worker.pid is not None and not worker.paused:
            os.kill(worker.pid, signal.SIGSTOP)
            worker.paused = True

    def resume(self, index: int) -> None:
        worker = self.workers[index]
        if worker.pid is not None and worker.paused:
            os.kill(worker.pid, signal.SIGCONT)
            worker.paused = False

    def kill(self, index: int) -> None:
        worker = self.workers[index]
        if worker.process.is_alive():
            worker.process.kill()

    # --- events -----------------------------------------------------------------------------

    def poll(self, timeout_s: float) -> list[WorkerEvent]:
        """Wait up to timeout_s for worker messages or deaths; returns what happened."""
        waitables: list[Connection | int] = [w.conn for w in self.workers]
        waitables += [w.process.sentinel for w in self.workers]
        if self._wake_read >= 0:
            waitables.append(self._wake_read)
        ready = wait(waitables, timeout_s)
        if self._wake_read >= 0 and self._wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 512):
                    pass
        events: list[WorkerEvent] = []
        for worker in self.workers:  # polling a quiet pipe costs next to nothing
            events += self._drain(worker)
        now = time.monotonic()
        for worker in self.workers:
            if worker.state is not WorkerState.DEAD and worker.process.sentinel in ready:
                worker.cpu_seconds()  # its final CPU time, while a zombie: is_alive() reaps it
            if worker.state is not WorkerState.DEAD and not worker.process.is_alive():
                events += self._drain(worker)  # its last words first
                events.append(self._died(worker))
            elif (
                worker.state is WorkerState.STOPPING
                and not worker.stop_overdue
                and worker.stop_requested_s is not None
                and now - worker.stop_requested_s > self.grace_s
            ):
                log.warning(
                    "worker %d did not stop within %.1f s: killing it", worker.index, self.grace_s
                )
                worker.stop_overdue = True
                self.kill(worker.index)
        return events

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # full: a wake is already pending
            if self._wake_write >= 0:
                os.write(self._wake_write, b"\0")

    def _drain(self, worker: Worker) -> list[WorkerEvent]:
        events = []
        while True:
            try:
                if not worker.conn.poll():
                    break
                kind, body = worker.conn.recv()
            except (EOFError, OSError):
                break
            events.append(self._on_message(worker, kind, body))
        return events

    def _on_message(self, worker: Worker, kind: str, body: dict[str, Any]) -> WorkerEvent:
        task = worker.task
        if "chunks" in body:
            worker.count_chunks(int(body["chunks"]), time.monotonic())
        if kind == "ready":
            worker.pid, worker.ready_s = body["pid"], body["ready_s"]
            worker.state = WorkerState.IDLE
        elif kind in ("done", "stopped", "unsaved", "error"):
            worker.task, worker.state, worker.stop_requested_s = None, WorkerState.IDLE, None
        return WorkerEvent(worker.index, kind, body, task)

    def _died(self, worker: Worker) -> WorkerEvent:
        code = worker.process.exitcode
        task = worker.task
        worker.state = WorkerState.DEAD
        worker.conn.close()
        self._retired_cpu_s += worker.cpu_seconds()  # the final value, else the last read
        log.warning(
            "worker %d (pid %s) died with exit code %s%s; starting another",
            worker.index,
            worker.pid,
            code,
            f" while running {task.job_id} shard {task.shard_index}" if task else "",
        )
        if not self._closing:
            self.workers[worker.index] = self._spawn(worker.index)
            self.replacements += 1
        body: dict[str, Any] = {"exit_code": code}
        if worker.stop_overdue:  # our kill, not the shard's doing (a starved idle worker)
            body["stop_overdue"] = True
        return WorkerEvent(worker.index, "crashed", body, task)

    # --- views and shutdown -----------------------------------------------------------------

    def busy_cpu_seconds(self) -> float:
        """CPU seconds of every worker process so far, the replaced ones included: this total
        never goes down, so its increase is always the heat made since the last look."""
        live = sum(w.cpu_seconds() for w in self.workers if w.state is not WorkerState.DEAD)
        return self._retired_cpu_s + live

    def running_indices(self) -> list[int]:
        return [w.index for w in self.workers if w.state is WorkerState.RUNNING]

    def idle(self) -> list[int]:
        return [w.index for w in self.workers if w.state is WorkerState.IDLE]

    def stats(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "index": w.index,
                "pid": w.pid,
                "state": w.state.value,
                "paused": w.paused,
                "job": w.task.job_id if w.task else None,
                "shard": w.task.shard_index if w.task else None,
                "cpu_s": round(w.cpu_seconds(), 3),
                "chunks_per_s": round(w.chunk_rate(now), 2),
            }
            for w in self.workers
        ]

    def close(self, timeout_s: float = 5.0) -> list[WorkerEvent]:
        """Stop every running task with a checkpoint, then end the workers."""
        self._closing = True
        for worker in self.workers:
            self.request_stop(worker.index)
        deadline = time.monotonic() + timeout_s
        events: list[WorkerEvent] = []
        while any(w.state is WorkerState.STOPPING for w in self.workers):
            if time.monotonic() > deadline:
                break
            events += [e for e in self.poll(0.05) if e.kind != "crashed"]
        for worker in self.workers:
            self.resume(worker.index)
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(("exit", {}))
        # One grace for all, then SIGKILL for all: the stop's time does not grow with the number
        # of workers (24 stuck workers waited 48 s here before, past TimeoutStopSec).
        exit_by = time.monotonic() + EXIT_GRACE_S
        for worker in self.workers:
            worker.process.join(timeout=max(0.0, exit_by - time.monotonic()))
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self.workers:
            worker.process.join(timeout=KILLED_JOIN_S)
        # Marked closed before closing: a late wake() must not write to a reused descriptor.
        wake_read, wake_write = self._wake_read, self._wake_write
        self._wake_read = self._wake_write = -1
        for descriptor in (wake_read, wake_write):
            if descriptor >= 0:
                os.close(descriptor)
        return events
