"""What runs where: shards from the job store onto the pool's workers, and back again.

The scheduler keeps as many workers busy as the power layer allows (`set_active`), stops the
extra ones at a chunk boundary with a checkpoint when it allows fewer, re-queues the shard of a
crashed worker from its last checkpoint, combines finished shards into the job's result (on a
thread, `combine.py`), keeps per-job accounting, runs a filler job when there is nothing else to
heat with, and prunes finished work from the store.

Failed runs. Only a run that failed counts against a shard: its worker died with it
("crashed") or its result could not be saved ("unsaved"); at `MAX_SHARD_ATTEMPTS` the job
fails. A stop with a checkpoint is the heat demand's doing, not the shard's, and is free, and
so is a worker the pool killed for stopping too late (an idle-priority worker on a busy
machine may not get the CPU to reach its chunk boundary within the grace period). A
restart from scratch after a corrupt checkpoint ("restarted") is not counted either: the worker
lives, the shard runs and makes progress, and what broke is the storage (a power cut mid-write),
not the job; a job whose checkpoints never load still finishes, from scratch each time.

Store outages. The heat comes first: a job-store write that fails (disk full, I/O error) never
leaves `tick()`. It is counted in `store_errors` and logged once per outage; workers keep
running what they run and new shards still start. What the store missed is put right when the
outage ends (`store_guard.py`: no failed write for a minute): shards it still thinks are running
are re-queued from their last checkpoint, and jobs whose shards are all done are combined.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from boiler_agent.compute import checkpoint
from boiler_agent.compute.combine import CombineFn, Combiner, combine_results
from boiler_agent.compute.jobs import JobError, JobState, validate_job
from boiler_agent.compute.pool import Pool, WorkerEvent, WorkerSlot, WorkerState
from boiler_agent.compute.store import JobStore, ShardRecord
from boiler_agent.compute.store_guard import StoreGuard
from boiler_agent.compute.worker import CHUNK_TARGET_S, PROGRESS_INTERVAL_S, Task

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_INTERVAL_S = 60.0
# Estimated power of one fully busy core, for per-job energy until the power meter exists.
DEFAULT_WATTS_PER_CORE = 15.0
ACCOUNT_FLUSH_S = 1.0  # CPU-time accounting is written to the store at most this often
MAX_SHARD_ATTEMPTS = 5  # a shard whose run fails this often (crash, unsaved result) fails its job
PRUNE_INTERVAL_S = 600.0  # finished work leaves the store this often...
PRUNE_BACKLOG_S = 1.0  # ...or this often while a backlog remains (one batch per call)
STORE_RETRY_S = 5.0  # while the store fails, a new filler job (many rows) is tried this often


@dataclass(frozen=True)
class FillerJob:
    """The job that keeps the heater warm when the queue is empty."""

    kernel: str
    params: dict[str, Any]


# The agent's filler: a large option price, checkpointed like any job (so a restart resumes it);
# when one finishes, the scheduler drops it and starts another. Its shards are long (about 25 s
# of a fast core, a minute on a heater's): a shard's end writes its result with two fsyncs,
# updates the store and waits for the next task. At the kernel's half-second shards that was
# 5 shards a second on two cores, ~600 kB/s written to the heater's flash, and 2-3 % of the
# cores lost to bookkeeping, heat the meter could not count (bench power's 100 % step missed).
DEFAULT_FILLER = FillerJob(
    "option_mc",
    {
        "spot": 100.0,
        "strike": 100.0,
        "rate": 0.0,
        "volatility": 0.2,
        "maturity": 1.0,
        "paths": 10_000_000_000,
        "steps": 16,
        "shard_units": 2**15,
        "seed": 1,
    },
)


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
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        combine: CombineFn = combine_results,
    ) -> None:
        self.store = store
        self.pool = pool
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_interval_s = checkpoint_interval_s
        self.watts_per_core = watts_per_core
        self.filler = filler
        self.chunk_target_s = chunk_target_s
        self.progress_interval_s = progress_interval_s
        self.active = pool.size
        self.checkpoint_errors = 0  # checkpoints the workers could not write, ever
        self._guard = StoreGuard(store.path)
        self._combiner = Combiner(combine)
        self._reported: dict[int, tuple[float, int]] = {}  # worker -> (cpu_s, chunks) so far
        self._unwritten: dict[str, tuple[float, int]] = {}  # job -> (cpu_s, chunks) not stored
        self._flush_at = 0.0
        self._prune_at = 0.0
        self._filler_retry_at = 0.0
        # Jobs started here as filler: whether a filler runs is asked every tick, and asking
        # the store for each running task's record cost four queries a tick.
        self._filler_job_ids: set[str] = set()
        self._checkpoints_failing = False
        recovered = self._guard.run(store.recover)
        if recovered:
            log.warning("resuming %d shard(s) left running by the last run", recovered)
        self._guard.run(self._resync)

    @property
    def store_errors(self) -> int:
        """Job-store steps that failed on storage (disk full, I/O error) since the start."""
        return self._guard.errors

    def set_active(self, count: int) -> None:
        """How many workers may run (0..pool size): the coarse knob of the heat output."""
        self.active = max(0, min(self.pool.size, count))

    def busy_cpu_seconds(self) -> float:
        return self.pool.busy_cpu_seconds()

    def running_indices(self) -> list[int]:
        return self.pool.running_indices()

    def tick(self, timeout_s: float = 0.05) -> list[WorkerEvent]:
        events = self.pool.poll(timeout_s)
        guard = self._guard
        for event in events:
            guard.run(self._handle, event)
        for combined in self._combiner.finished():
            guard.run(self._record_combined, combined.job_id, combined.result, combined.error)
        guard.run(self._balance)
        now = time.monotonic()
        if now >= self._prune_at:
            guard.run(self._prune, now)
        if guard.outage_over():
            guard.run(self._resync)
        return events

    def close(self) -> None:
        """Stop the combine thread (a combine under way is redone at the next start)."""
        self._combiner.close()

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
        busy = self._busy()
        for index in self.pool.idle()[: max(0, room)]:
            shard = self.store.next_shard(busy) or self._filler_shard(busy)
            if shard is None:
                break
            self._start(index, shard)
            busy.add((shard.job_id, shard.idx))
        self._preempt_filler_for_real_work(busy)

    def _busy(self) -> set[tuple[str, int]]:
        return {(w.task.job_id, w.task.shard_index) for w in self.pool.workers if w.task}

    def _stop_order(self, worker: WorkerSlot) -> tuple[bool, str]:
        """Sort key: filler (False) before real work, then by job id for a stable choice."""
        task = worker.task
        record = self.store.get(task.job_id) if task else None
        return (not (record is not None and record.filler), task.job_id if task else "")

    def _preempt_filler_for_real_work(self, busy: set[tuple[str, int]]) -> None:
        # Every tick comes here: the questions without a query first, the store's only when a
        # filler runs.
        filler_running = [
            worker
            for worker in self.pool.workers
            if worker.state is WorkerState.RUNNING
            and worker.task is not None
            and worker.task.job_id in self._filler_job_ids
        ]
        if not filler_running or not self.store.has_real_work():
            return
        waiting = self.store.next_shard(busy)
        record = self.store.get(waiting.job_id) if waiting else None
        if record is None or record.filler:
            return
        self.pool.request_stop(filler_running[0].index)

    def _filler_shard(self, busy: set[tuple[str, int]]) -> ShardRecord | None:
        """A new filler job's first shard, for a worker the queue left without work. Real work
        may exist and still leave it idle (a one-shard job runs on one core of two): the heat
        asked for must still be made, so the filler comes whenever nothing else can run."""
        if self.filler is None:
            return None
        if self._guard.in_outage and time.monotonic() < self._filler_retry_at:
            return None  # a filler job is many rows: not every tick while the store fails
        try:
            job = validate_job(self.filler.kernel, self.filler.params)
        except JobError as exc:
            log.error("filler job refused, no filler will run: %s", exc)
            self.filler = None
            return None
        self._filler_retry_at = time.monotonic() + STORE_RETRY_S
        self.store.submit(job, filler=True)
        return self.store.next_shard(busy)

    def _start(self, index: int, shard: ShardRecord) -> None:
        record = self.store.get(shard.job_id)
        assert record is not None
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
            progress_interval_s=self.progress_interval_s,
        )
        # Heat first: the shard runs even if the store cannot record it (the busy set keeps
        # it from starting twice; the end of the outage puts the books right).
        self._guard.run(self.store.shard_started, shard.job_id, shard.idx)
        self._reported[index] = (0.0, 0)
        if record.filler:
            self._filler_job_ids.add(record.id)
        self.pool.assign(index, task)

    # --- what workers report ------------------------------------------------------------------

    def _handle(self, event: WorkerEvent) -> None:
        task = event.task
        if task is None:
            return
        body = event.body
        if event.kind in ("progress", "stopped", "done", "unsaved"):
            self._account(event.worker, task.job_id, body)
            # Progress arrives twice a second per worker: write the sums once a second,
            # and always before a state change, so the books match what is stored.
            if event.kind != "progress" or time.monotonic() >= self._flush_at:
                self._flush_accounts()
        if "checkpoint_error" in body:
            self._checkpoint_failed(task, str(body["checkpoint_error"]))
        elif event.kind in ("progress", "stopped") and body.get("checkpoint"):
            self._checkpoints_written()
        if event.kind == "progress" and body.get("checkpoint"):
            self.store.shard_checkpointed(
                task.job_id, task.shard_index, body["units_done"], body["checkpoint"]
            )
        elif event.kind == "stopped":
            if body.get("checkpoint"):
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
            self._fail(task.job_id, body["message"], "failed in its kernel")
        elif event.kind == "crashed" and body.get("stop_overdue"):
            # Killed by the pool for answering a stop too late (at idle priority a busy machine
            # may starve it): a stop that cost the work since the last checkpoint, no failure.
            self.store.shard_preempted(task.job_id, task.shard_index)
        elif event.kind == "crashed":
            self._failed_run(task, f"its worker died (exit code {body.get('exit_code')})")
        elif event.kind == "unsaved":
            self._failed_run(task, f"its result could not be saved: {body['reason']}")

    def _failed_run(self, task: Task, reason: str) -> None:
        attempts = self.store.shard_failed_run(task.job_id, task.shard_index)
        if attempts >= MAX_SHARD_ATTEMPTS:
            error = f"shard {task.shard_index} failed {attempts} times; giving up: {reason}"
            self._fail(task.job_id, error, "failed")
        else:
            log.warning(
                "job %s shard %d runs again (failed run %d of %d): %s",
                task.job_id,
                task.shard_index,
                attempts,
                MAX_SHARD_ATTEMPTS,
                reason,
            )

    def _checkpoint_failed(self, task: Task, error: str) -> None:
        self.checkpoint_errors += 1
        if not self._checkpoints_failing:  # one line per outage of the checkpoint directory
            self._checkpoints_failing = True
            log.error(
                "job %s shard %d: checkpoint not written (%s); the work goes on, a stop now "
                "resumes from the last checkpoint written",
                task.job_id,
                task.shard_index,
                error,
            )

    def _checkpoints_written(self) -> None:
        if self._checkpoints_failing:
            self._checkpoints_failing = False
            log.warning("checkpoints are written again (%d failed so far)", self.checkpoint_errors)

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
        self._flush_at = time.monotonic() + ACCOUNT_FLUSH_S
        for job_id, (cpu_s, chunks) in list(self._unwritten.items()):
            # Forgotten only once written: a store outage delays the books, never loses them.
            self.store.account(job_id, cpu_s, chunks, cpu_s * self.watts_per_core / 3600.0)
            del self._unwritten[job_id]

    # --- finished jobs --------------------------------------------------------------------------

    def _finish(self, job_id: str) -> None:
        """Every shard is done: a filler is dropped, a real job's result is combined."""
        record = self.store.get(job_id)
        if record is None or self._combiner.busy(job_id):
            return
        shards = self.store.shards(job_id)
        if record.filler:  # its result interests nobody: the next filler supersedes it
            self._filler_job_ids.discard(job_id)
            self._combiner.discard_files(self.store.drop_job(job_id, counted_as=JobState.DONE))
            self._discard_checkpoints(job_id, shards)
            return
        partials = [(shard.idx, shard.partial) for shard in shards]
        self._combiner.submit(job_id, record.kernel, record.params, partials)

    def _record_combined(
        self, job_id: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        record = self.store.get(job_id)
        if record is None or record.state in (JobState.DONE, JobState.FAILED):
            return
        if result is None:
            self._fail(job_id, error or "could not combine the shards' results", "failed")
            return
        self.store.job_done(job_id, result)
        log.info("job %s (%s) done", job_id, record.kernel)
        self._discard_checkpoints(job_id, self.store.shards(job_id))

    def _fail(self, job_id: str, error: str, how: str) -> None:
        self.store.job_failed(job_id, error)
        log.error("job %s %s: %s", job_id, how, error)
        self._discard_checkpoints(job_id, self.store.shards(job_id))

    def _discard_checkpoints(self, job_id: str, shards: list[ShardRecord]) -> None:
        self._combiner.discard_files(
            checkpoint.checkpoint_path(self.checkpoint_dir, job_id, shard.idx, kind)
            for shard in shards
            for kind in ("state", "partial")
        )

    # --- the store's upkeep -------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        self._prune_at = now + PRUNE_INTERVAL_S  # first: a failing prune waits its turn too
        pruned = self.store.prune()
        self._combiner.discard_files(pruned.files)
        if pruned.more:
            self._prune_at = now + PRUNE_BACKLOG_S
        if pruned.jobs or pruned.shards:
            log.debug("pruned %d finished job(s), %d shard row(s)", pruned.jobs, pruned.shards)
        self._resync()

    def _resync(self) -> None:
        """Put right what the store missed (an outage, a stop mid-combine)."""
        requeued = self.store.requeue_orphans(self._busy())
        if requeued:
            log.warning("re-queued %d shard(s) whose stop or end the store missed", requeued)
        for job_id in self.store.complete_jobs():
            self._finish(job_id)

    # --- views ----------------------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing running, nothing waiting, nothing being combined."""
        busy = any(w.task is not None for w in self.pool.workers)
        return not busy and not self._combiner.pending and self.store.next_shard(set()) is None

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
