"""Workers in simulated time: the pool port without processes, for whole-agent simulations.

A running, unpaused `SimulatedPool` worker burns one CPU-second per second of the injected
clock, and `poll(timeout)` lets that clock advance (a virtual clock's `sleep` moves time
forward), so the daemon's loop runs a simulated day in seconds with the scheduler, the power
loop and the duty cycler exactly as on a heater. Tasks make heat, not results: a shard advances
its work units with CPU time but never finishes, and a stop hands back the checkpoint it came
with. Jobs whose results matter run on `WorkerPool`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boiler_agent.compute.pool import WorkerEvent, WorkerState
from boiler_agent.compute.worker import Task

UNITS_PER_CPU_S = 10  # how fast a simulated shard moves through its work units


@dataclass
class SimulatedWorker:
    index: int
    state: WorkerState = WorkerState.IDLE
    task: Task | None = None
    paused: bool = False
    cpu_s: float = 0.0  # since the pool started; a restarted worker keeps counting
    task_cpu_s: float = 0.0
    units_done: int = 0
    chunks: int = 0


class SimulatedPool:
    def __init__(
        self,
        size: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one worker, got {size}")
        self.size = size
        self.clock = clock
        self.sleep = sleep
        self.workers = [SimulatedWorker(index) for index in range(size)]
        # A fault to inject: workers take tasks and make no CPU time (a hung kernel, a broken
        # numba cache). Crash loops are `crash()`, one worker at a time.
        self.broken = False
        self._last = clock()
        self._pending: list[WorkerEvent] = []

    # --- commands (the pool port) ---------------------------------------------------------

    def assign(self, index: int, task: Task) -> None:
        worker = self.workers[index]
        if worker.state is not WorkerState.IDLE:
            raise RuntimeError(f"worker {index} is {worker.state}, not idle")
        worker.state, worker.task = WorkerState.RUNNING, task
        worker.task_cpu_s, worker.chunks = 0.0, 0
        worker.units_done = 0

    def request_stop(self, index: int) -> None:
        worker = self.workers[index]
        if worker.state is WorkerState.RUNNING:
            worker.paused = False
            worker.state = WorkerState.STOPPING

    def pause(self, index: int) -> None:
        self.workers[index].paused = True

    def resume(self, index: int) -> None:
        self.workers[index].paused = False

    def crash(self, index: int) -> None:
        """A fault to inject: the worker dies; its task goes back to the scheduler."""
        worker = self.workers[index]
        task = worker.task
        self.workers[index] = SimulatedWorker(index, cpu_s=worker.cpu_s)
        self._pending.append(WorkerEvent(index, "crashed", {"exit_code": -9}, task))

    # --- events -----------------------------------------------------------------------------

    def wake(self) -> None:
        """Nothing to end: a poll here sleeps on the simulated clock, never in real time."""

    def poll(self, timeout_s: float) -> list[WorkerEvent]:
        if timeout_s > 0:
            self.sleep(timeout_s)
        self._burn()
        events, self._pending = self._pending, []
        for worker in self.workers:
            task = worker.task
            if task is None:
                continue
            body: dict[str, Any] = {
                "units_done": worker.units_done,
                "chunks": worker.chunks,
                "cpu_s": worker.task_cpu_s,
            }
            if worker.state is WorkerState.STOPPING:
                body["checkpoint"] = task.checkpoint
                worker.state, worker.task = WorkerState.IDLE, None
                events.append(WorkerEvent(worker.index, "stopped", body, task))
            elif worker.state is WorkerState.RUNNING and not worker.paused:
                events.append(WorkerEvent(worker.index, "progress", body, task))
        return events

    def _burn(self) -> None:
        now = self.clock()
        elapsed, self._last = max(0.0, now - self._last), now
        if self.broken:
            return
        for worker in self.workers:
            if worker.state is WorkerState.RUNNING and not worker.paused and worker.task:
                worker.cpu_s += elapsed
                worker.task_cpu_s += elapsed
                worker.chunks += 1
                # Never the last unit: simulated work makes heat, not a result.
                units = worker.units_done + round(elapsed * UNITS_PER_CPU_S)
                worker.units_done = min(worker.task.units - 1, units)

    # --- views and shutdown -------------------------------------------------------------------

    def busy_cpu_seconds(self) -> float:
        self._burn()
        return sum(worker.cpu_s for worker in self.workers)

    def running_indices(self) -> list[int]:
        return [w.index for w in self.workers if w.state is WorkerState.RUNNING]

    def idle(self) -> list[int]:
        return [w.index for w in self.workers if w.state is WorkerState.IDLE]

    def close(self, timeout_s: float = 5.0) -> list[WorkerEvent]:
        for worker in self.workers:
            self.request_stop(worker.index)
        return self.poll(0.0)
