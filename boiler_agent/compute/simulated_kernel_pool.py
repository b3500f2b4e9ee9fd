"""Simulated workers that compute: the real kernel, in-process, at the pace of the injected clock.

`SimulatedPool` makes heat, never results. This pool makes both: a running, unpaused worker
still burns one CPU-second per second of the clock (the heat the power loop measures), and its
shard advances by one work unit per `cpu_s_per_unit(task)` of that CPU time, the units computed
by the real kernel (`kernels.load_run_class`), here in the caller's process. Checkpoints are
real files written by `checkpoint.save` every `task.checkpoint_interval_s` of the clock and at a
stop; a task resumes from its checkpoint (a corrupt or foreign one restarts it from zero, with a
`restarted` event, as a worker process does); a finished shard writes its partial result and
reports `done`. So jobs run under a virtual clock finish with results that can be checked
against a clean run (the fault campaign's I5, the fleet benchmark), while a week of plant time
costs only the kernels' real work, which the chosen parameters keep small.

The events and their bodies are the worker process's (`compute/worker.py`), so the scheduler
cannot tell the two apart. Importing a kernel imports numba: tests and benchmarks only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boiler_agent.compute import checkpoint
from boiler_agent.compute.kernel_api import KernelRun, Shard
from boiler_agent.compute.pool import WorkerEvent, WorkerState
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.specs import get_spec
from boiler_agent.compute.worker import Task

DEFAULT_CPU_S_PER_UNIT = 1.0


@dataclass
class _Running:
    run: KernelRun
    digest: str
    owed_units: float = 0.0  # CPU time earned towards the next unit, in units
    last_checkpoint_s: float = 0.0
    checkpoint: str | None = None  # written since the last progress event


class SimulatedKernelPool(SimulatedPool):
    def __init__(
        self,
        size: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cpu_s_per_unit: Callable[[Task], float] = lambda task: DEFAULT_CPU_S_PER_UNIT,
    ) -> None:
        super().__init__(size, clock=clock, sleep=sleep)
        self.cpu_s_per_unit = cpu_s_per_unit
        self._runs: dict[int, _Running] = {}
        # (job, shard, units done) -> CPU earned towards the next unit when it was stopped
        self._carried: dict[tuple[str, int, int], float] = {}

    def assign(self, index: int, task: Task) -> None:
        super().assign(index, task)
        from boiler_agent.compute import kernels  # numba: only when a task runs

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
                run = factory(params, shard, state)
            except (checkpoint.CorruptCheckpointError, FileNotFoundError, ValueError) as error:
                self._pending.append(WorkerEvent(index, "restarted", {"reason": str(error)}, task))
        if run is None:
            run = factory(params, shard, None)
        self.workers[index].units_done = run.units_done
        owed = self._carried.pop((task.job_id, task.shard_index, run.units_done), 0.0)
        self._runs[index] = _Running(run, task.digest, owed, last_checkpoint_s=self.clock())

    def crash(self, index: int) -> None:
        self._runs.pop(index, None)
        super().crash(index)

    def poll(self, timeout_s: float) -> list[WorkerEvent]:
        if timeout_s > 0:
            self.sleep(timeout_s)
        self._burn()
        events, self._pending = self._pending, []
        for worker in self.workers:
            task, running = worker.task, self._runs.get(worker.index)
            if task is None or running is None:
                continue
            body: dict[str, Any] = {
                "units_done": running.run.units_done,
                "chunks": worker.chunks,
                "cpu_s": worker.task_cpu_s,
            }
            if worker.state is WorkerState.STOPPING:
                # A real unit is milliseconds and a stop loses at most a chunk; a simulated one
                # may be minutes of CPU. The CPU earned towards the unit under way is kept for
                # the shard's next run from this checkpoint, so progress follows CPU time
                # however often the heat comes and goes (a crash loses it, as it loses work).
                key = (task.job_id, task.shard_index, running.run.units_done)
                self._carried[key] = running.owed_units
                body["checkpoint"] = self._save_state(task, running)
                events.append(self._release(worker.index, "stopped", body, task))
            elif running.run.units_done >= task.units:
                body = {"chunks": worker.chunks, "cpu_s": worker.task_cpu_s}
                body["partial"] = self._save_partial(task, running)
                events.append(self._release(worker.index, "done", body, task))
            elif worker.state is WorkerState.RUNNING and not worker.paused:
                if running.checkpoint:
                    body["checkpoint"], running.checkpoint = running.checkpoint, None
                events.append(WorkerEvent(worker.index, "progress", body, task))
        return events

    def _burn(self) -> None:
        now = self.clock()
        elapsed, self._last = max(0.0, now - self._last), now
        if self.broken:
            return
        for worker in self.workers:
            running = self._runs.get(worker.index)
            task = worker.task
            if worker.state is not WorkerState.RUNNING or worker.paused or task is None:
                continue
            worker.cpu_s += elapsed
            worker.task_cpu_s += elapsed
            worker.chunks += 1
            if running is None:
                continue
            running.owed_units += elapsed / max(1e-9, self.cpu_s_per_unit(task))
            step = min(int(running.owed_units), task.units - running.run.units_done)
            if step > 0:
                running.owed_units -= running.run.step(step)
            worker.units_done = running.run.units_done
            if now - running.last_checkpoint_s >= task.checkpoint_interval_s:
                running.checkpoint = self._save_state(task, running)
                running.last_checkpoint_s = now

    def _release(self, index: int, kind: str, body: dict[str, Any], task: Task) -> WorkerEvent:
        worker = self.workers[index]
        worker.state, worker.task, worker.paused = WorkerState.IDLE, None, False
        self._runs.pop(index, None)
        return WorkerEvent(index, kind, body, task)

    def _save_state(self, task: Task, running: _Running) -> str:
        path = checkpoint.checkpoint_path(Path(task.checkpoint_dir), task.job_id, task.shard_index)
        checkpoint.save(
            path,
            running.run.state(),
            job_id=task.job_id,
            shard=task.shard_index,
            digest=task.digest,
        )
        return str(path)

    def _save_partial(self, task: Task, running: _Running) -> str:
        directory = Path(task.checkpoint_dir)
        path = checkpoint.checkpoint_path(directory, task.job_id, task.shard_index, "partial")
        checkpoint.save(
            path,
            running.run.partial(),
            job_id=task.job_id,
            shard=task.shard_index,
            digest=task.digest,
        )
        return str(path)
