"""What runs where: shards from the job store onto the pool's workers, and back again.

The scheduler keeps as many workers busy as the power layer allows (`set_active`), stops the
extra ones at a chunk boundary with a checkpoint when it allows fewer, re-queues the shard of a
crashed worker from its last checkpoint, combines finished shards into the job's result, keeps
per-job accounting, and runs a filler job when there is nothing else to heat with.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from boiler_agent.compute import checkpoint
from boiler_agent.compute.jobs import JobError, validate_job
from boiler_agent.compute.pool import Pool, WorkerEvent, WorkerSlot, WorkerState
from boiler_agent.compute.specs import get_spec
from boiler_agent.compute.store import JobStore, ShardRecord
from boiler_agent.compute.worker import CHUNK_TARGET_S, Task

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_INTERVAL_S = 60.0
# Estimated power of one fully busy core, for per-job energy until the power meter exists.
DEFAULT_WATTS_PER_CORE = 15.0
ACCOUNT_FLUSH_S = 1.0  # CPU-time accounting is written to the store at most this often
MAX_SHARD_ATTEMPTS = 5  # a shard that kills its worker this often fails its job


@dataclass(frozen=True)
class FillerJob:
    """The job that keeps the heater warm when the queue is empty."""

    kernel: str
    params: dict[str, Any]


PoolT = TypeVar("PoolT", bound=Pool)


class JobScheduler(Generic[PoolT]):
    """Generic in its pool, so a caller that built a `WorkerPool` keeps its processes' view."""

    def __init__(
        self,
        store: JobStore,
        pool: PoolT,
        *,
        checkpoint_dir: Path,
        checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
        watts_per_core: float = DEFAULT_WATTS_PER_CORE,
        filler: FillerJob | None = None,
        chunk_target_s: float = CHUNK_TARGET_S,
    ) -> None:
        self.store = store
        self.pool = pool
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_interval_s = checkpoint_interval_s
        self.watts_per_core = watts_per_core
        self.filler = filler
        self.chunk_target_s = chunk_target_s
        self.active = pool.size
        self._reported: dict[int, tuple[float, int]] = {}  # worker -> (cpu_s, chunks) so far
        self._unwritten: dict[str, tuple[float, int]] = {}  # job -> (cpu_s, chunks) not stored
        self._flush_at = 0.0
        recovered = store.recover()
        if recovered:
            log.warning("resuming %d shard(s) left running by the last run", recovered)

    def set_active(self, count: int) -> None:
        """How many workers may run (0..pool size): the coarse knob of the heat output."""
        self.active = max(0, min(self.pool.size, count))

    def busy_cpu_seconds(self) -> float:
        return self.pool.busy_cpu_seconds()

    def running_indices(self) -> list[int]:
        return self.pool.running_indices()

    def tick(self, timeout_s: float = 0.05) -> list[WorkerEvent]:
        events = self.pool.poll(timeout_s)
        for event in events:
            self._handle(event)
        self._balance()
        return events

    # --- placing work -------------------------------------------------------------------------

    def _balance(self) -> None:
        workers = self.pool.workers
        running = [w for w in workers if w.state is WorkerState.RUNNING]
        stopping = [w for w in workers if w.state is WorkerState.STOPPING]
        excess = len(running) + len(stopping) - self.active
        if excess > 0:  # the sort reads the store: only when something must stop
            # Stop filler first, then the most recently started work.
            for worker in sorted(running, key=self._stop_order)[:excess]:
                self.pool.request_stop(worker.index)
        room = self.active - len(running) - len(stopping)
        busy = {(w.task.job_id, w.task.shard_index) for w in workers if w.task is not None}
        for index in self.pool.idle()[: max(0, room)]:
            shard = self.store.next_shard(busy) or self._filler_shard(busy)
            if shard is None:
                break
            self._start(index, shard)
            busy.add((shard.job_id, shard.idx))
        self._preempt_filler_for_real_work(busy)

    def _stop_order(self, worker: WorkerSlot) -> tuple[bool, str]:
        """Sort key: filler (False) before real work, then by job id for a stable choice."""
        task = worker.task
        record = self.store.get(task.job_id) if task else None
        return (not (record is not None and record.filler), task.job_id if task else "")

    def _preempt_filler_for_real_work(self, busy: set[tuple[str, int]]) -> None:
        # Every tick comes here: the cheap question first, the shard query only when it matters.
        if not self.store.has_real_work():
            return
        waiting = self.store.next_shard(busy)
        record = self.store.get(waiting.job_id) if waiting else None
        if record is None or record.filler:
            return
        for worker in self.pool.workers:
            task = worker.task
            running = self.store.get(task.job_id) if task else None
            if worker.state is WorkerState.RUNNING and running is not None and running.filler:
                self.pool.request_stop(worker.index)
                return

    def _filler_shard(self, busy: set[tuple[str, int]]) -> ShardRecord | None:
        if self.filler is None or self.store.has_real_work():
            return None
        try:
            job = validate_job(self.filler.kernel, self.filler.params)
        except JobError as exc:
            log.error("filler job refused, no filler will run: %s", exc)
            self.filler = None
            return None
        self.store.submit(job, filler=True)
        return self.store.next_shard(busy)

    def _start(self, index: int, shard: ShardRecord) -> None:
        record = self.store.get(shard.job_id)
        assert record is not None
        if shard.attempts >= MAX_SHARD_ATTEMPTS:
            self.store.job_failed(
                shard.job_id, f"shard {shard.idx} failed {shard.attempts} times; giving up"
            )
            return
        task = Task(
            job_id=shard.job_id,
            kernel=record.kernel,
            params=record.params,
            shard_index=shard.idx,
            first_unit=shard.first_unit,
            units=shard.units,
            digest=checkpoint.params_digest(record.kernel, record.params),
            checkpoint=shard.checkpoint,
            checkpoint_dir=str(self.checkpoint_dir),
            checkpoint_interval_s=self.checkpoint_interval_s,
            chunk_target_s=self.chunk_target_s,
        )
        self.store.shard_started(shard.job_id, shard.idx)
        self._reported[index] = (0.0, 0)
        self.pool.assign(index, task)

    # --- what workers report ------------------------------------------------------------------

    def _handle(self, event: WorkerEvent) -> None:
        task = event.task
        if task is None:
            return
        body = event.body
        if event.kind in ("progress", "stopped", "done"):
            self._account(event.worker, task.job_id, body)
            # Progress arrives ~13 times a second per worker: write the sums once a second,
            # and always before a state change, so the books match what is stored.
            if event.kind != "progress" or time.monotonic() >= self._flush_at:
                self._flush_accounts()
        if event.kind == "progress" and "checkpoint" in body:
            self.store.shard_checkpointed(
                task.job_id, task.shard_index, body["units_done"], body["checkpoint"]
            )
        elif event.kind == "stopped":
            self.store.shard_checkpointed(
                task.job_id, task.shard_index, body["units_done"], body["checkpoint"]
            )
            self.store.shard_preempted(task.job_id, task.shard_index)
        elif event.kind == "done":
            if self.store.shard_done(task.job_id, task.shard_index, body["partial"]):
                self._finish(task.job_id)
        elif event.kind == "restarted":
            log.warning(
                "job %s shard %d restarts from scratch: %s",
                task.job_id,
                task.shard_index,
                body["reason"],
            )
            self.store.shard_restart(task.job_id, task.shard_index)
        elif event.kind == "error":
            log.error("job %s failed in its kernel: %s", task.job_id, body["message"])
            self.store.job_failed(task.job_id, body["message"])
        elif event.kind == "crashed":
            self.store.shard_preempted(task.job_id, task.shard_index)

    def _account(self, worker: int, job_id: str, body: dict[str, Any]) -> None:
        last_cpu, last_chunks = self._reported.get(worker, (0.0, 0))
        cpu, chunks = float(body["cpu_s"]), int(body["chunks"])
        self._reported[worker] = (cpu, chunks)
        cpu_delta = max(0.0, cpu - last_cpu)
        pending = self._unwritten.get(job_id, (0.0, 0))
        self._unwritten[job_id] = (
            pending[0] + cpu_delta,
            pending[1] + max(0, chunks - last_chunks),
        )

    def _flush_accounts(self) -> None:
        for job_id, (cpu_s, chunks) in self._unwritten.items():
            self.store.account(job_id, cpu_s, chunks, cpu_s * self.watts_per_core / 3600.0)
        self._unwritten.clear()
        self._flush_at = time.monotonic() + ACCOUNT_FLUSH_S

    def _finish(self, job_id: str) -> None:
        record = self.store.get(job_id)
        assert record is not None
        spec = get_spec(record.kernel)
        params = spec.params_model.model_validate(record.params)
        digest = checkpoint.params_digest(record.kernel, record.params)
        shards = self.store.shards(job_id)
        try:
            partials = [
                checkpoint.load(Path(s.partial or ""), job_id=job_id, shard=s.idx, digest=digest)
                for s in shards
            ]
            result = spec.combine(params, partials)
        except (checkpoint.CorruptCheckpointError, FileNotFoundError, ValueError) as exc:
            self.store.job_failed(job_id, f"could not combine the shards' results: {exc}")
            log.error("job %s failed: %s", job_id, exc)
            return
        self.store.job_done(job_id, result)
        log.info("job %s (%s) done", job_id, record.kernel)
        for shard in shards:
            for kind in ("state", "partial"):
                checkpoint.checkpoint_path(self.checkpoint_dir, job_id, shard.idx, kind).unlink(
                    missing_ok=True
                )

    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        busy = any(w.task is not None for w in self.pool.workers)
        return not busy and self.store.next_shard(set()) is None

    def wait_for(self, job_id: str, timeout_s: float | None = None) -> None:
        """Run the scheduler until the job is done or failed."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            record = self.store.get(job_id)
            if record is None or record.state.value in ("done", "failed"):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout_s} s")
            self.tick()
