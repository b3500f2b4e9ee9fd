"""A compute worker process: runs one shard at a time in chunks, checkpoints, obeys stop.

Started by the pool with the "spawn" method, single-threaded (numba and BLAS threads pinned to
one, so one worker is one core's worth of heat). It is the only place that imports numba. It
talks to the supervisor over a pipe: tasks and stop requests in; ready, progress, checkpoint,
done, stopped, unsaved and error messages out. Between chunks it looks at the pipe, so a stop
request is answered within one chunk (50-100 ms) plus the time to write the checkpoint. Progress
goes out at most every `progress_interval_s` (and with every checkpoint), not after each chunk:
a message per chunk woke the supervisor 13 times a second per worker, and that, not the work
it carried, was most of the supervisor's CPU while it heated (`bench overhead`).

Workers run at idle priority (SCHED_IDLE, else nice 19): the heat they make never takes a CPU
from the supervisor's safety loop or anything else the machine runs. A checkpoint that cannot be
written (disk full, read-only directory) never ends the worker: the work goes on without it and
the supervisor is told; a result that cannot be written is reported as "unsaved".
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CHUNK_TARGET_S = 0.075  # aim for 50-100 ms of work between looks at the pipe
PROGRESS_INTERVAL_S = 0.5  # the supervisor hears of a running shard this often
WORKER_NICE = 19  # the lowest priority, if SCHED_IDLE is not to be had
MAX_UNITS_PER_CHUNK = 1_000_000
SINGLE_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class Task:
    """What the supervisor asks a worker to do: one shard of one job."""

    job_id: str
    kernel: str
    params: dict[str, Any]
    shard_index: int
    first_unit: int
    units: int
    digest: str
    checkpoint: str | None  # resume from here, if set
    checkpoint_dir: str
    checkpoint_interval_s: float
    chunk_target_s: float = CHUNK_TARGET_S
    progress_interval_s: float = PROGRESS_INTERVAL_S


class _StopRequestedError(Exception):
    def __init__(self, then_exit: bool) -> None:
        super().__init__("stop requested")
        self.then_exit = then_exit


def worker_main(conn: Connection, index: int, cache_dir: str | None) -> None:
    """Entry point of the worker process."""
    lower_priority()
    os.environ.update(SINGLE_THREAD_ENV)
    if cache_dir:
        os.environ["NUMBA_CACHE_DIR"] = cache_dir
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is for the supervisor, which stops us
    started = time.perf_counter()
    from boiler_agent.compute import kernels  # numba: only ever imported here

    kernels.warm_all()  # loads every kernel from the cache (or compiles it, the first time)
    ready_s = time.perf_counter() - started
    conn.send(("ready", {"pid": os.getpid(), "index": index, "ready_s": ready_s}))
    while True:
        try:
            kind, body = conn.recv()
        except (EOFError, OSError):
            return  # the supervisor is gone: nobody wants our heat
        if kind == "exit":
            return
        if kind == "run":
            try:
                _run_task(conn, Task(**body))
            except _StopRequestedError as stop:
                if stop.then_exit:
                    return
            except (EOFError, OSError, BrokenPipeError):
                return
            except Exception as exc:  # a kernel bug fails its job, not the worker
                conn.send(("error", {"message": f"{type(exc).__name__}: {exc}"}))


def lower_priority() -> None:
    """This process runs only when nothing else wants the CPU (the supervisor first)."""
    with contextlib.suppress(OSError):  # raising one's own niceness is always allowed
        os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICE)
    if hasattr(os, "SCHED_IDLE"):  # Linux; unprivileged since 2.6.39
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _run_task(conn: Connection, task: Task) -> None:
    from boiler_agent.compute import checkpoint, kernels
    from boiler_agent.compute.kernel_api import Shard
    from boiler_agent.compute.specs import get_spec

    spec = get_spec(task.kernel)
    params = spec.params_model.model_validate(task.params)
    shard = Shard(task.shard_index, task.first_unit, task.units)
    factory = kernels.load_run_class(spec)
    run = None
    if task.checkpoint:
        try:
            state = checkpoint.load(
                Path(task.checkpoint), job_id=task.job_id, shard=shard.index, digest=task.digest
            )
            run = factory(params, shard, state)  # ValueError: a state that does not fit
        except (checkpoint.CorruptCheckpointError, FileNotFoundError, ValueError) as exc:
            conn.send(("restarted", {"reason": str(exc)}))
    if run is None:
        run = factory(params, shard, None)
    directory = Path(task.checkpoint_dir)
    state_path = checkpoint.checkpoint_path(directory, task.job_id, shard.index)

    def save_state() -> tuple[str | None, str | None]:
        """(path, None) once written, (None, why) when the disk would not take it."""
        try:
            checkpoint.save(
                state_path, run.state(), job_id=task.job_id, shard=shard.index, digest=task.digest
            )
        except OSError as exc:
            return None, f"{state_path}: {exc}"
        return str(state_path), None

    per_unit_s: float | None = None
    units = 1
    last_checkpoint = last_progress = time.monotonic()
    chunks = 0
    cpu_start = time.process_time()
    while run.units_done < shard.units:
        if conn.poll():
            kind, _ = conn.recv()
            if kind in ("stop", "exit"):
                path, error = save_state()
                stopped: dict[str, Any] = {
                    "units_done": run.units_done,
                    "checkpoint": path,  # None: it resumes from its last checkpoint written
                    "chunks": chunks,
                    "cpu_s": time.process_time() - cpu_start,
                }
                if error:
                    stopped["checkpoint_error"] = error
                conn.send(("stopped", stopped))
                raise _StopRequestedError(then_exit=kind == "exit")
        began = time.perf_counter()
        done = run.step(min(units, shard.units - run.units_done))
        elapsed = time.perf_counter() - began
        chunks += 1
        if done:
            measured = elapsed / done
            # Smooth, so one slow chunk (a page fault, a paused process) does not swing it.
            per_unit_s = measured if per_unit_s is None else 0.7 * per_unit_s + 0.3 * measured
            units = max(
                1, min(MAX_UNITS_PER_CHUNK, int(task.chunk_target_s / max(per_unit_s, 1e-9)))
            )
        now = time.monotonic()
        checkpoint_due = now - last_checkpoint >= task.checkpoint_interval_s
        if not checkpoint_due and now - last_progress < task.progress_interval_s:
            continue
        progress: dict[str, Any] = {
            "units_done": run.units_done,
            "chunks": chunks,
            "cpu_s": time.process_time() - cpu_start,
        }
        if checkpoint_due:
            path, error = save_state()  # a failure is tried again one interval later
            progress["checkpoint" if path else "checkpoint_error"] = path or error
            last_checkpoint = time.monotonic()
        last_progress = now
        conn.send(("progress", progress))
    partial_path = checkpoint.checkpoint_path(directory, task.job_id, shard.index, "partial")
    try:
        checkpoint.save(
            partial_path, run.partial(), job_id=task.job_id, shard=shard.index, digest=task.digest
        )
    except OSError as exc:
        unsaved = {
            "reason": f"{partial_path}: {exc}",
            "units_done": run.units_done,
            "chunks": chunks,
            "cpu_s": time.process_time() - cpu_start,
        }
        conn.send(("unsaved", unsaved))
        return
    done_info = {
        "partial": str(partial_path),
        "chunks": chunks,
        "cpu_s": time.process_time() - cpu_start,
    }
    conn.send(("done", done_info))
