"""Only failed runs count against a shard: a job paused all day long still finishes, the same."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.pool import WorkerEvent, WorkerState
from boiler_agent.compute.scheduler import MAX_SHARD_ATTEMPTS, JobScheduler
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.store import JobStore

from .conftest import SchedulerFactory

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
# A paused worker runs 2 to 4 units (0.3 to 1 ms each) between a restart and its stop: its
# first chunk, then those it runs while the stop is on its way. The jobs have twice the units
# the pauses need at 3 a pause, or a fast machine ends the job first (it did at half this).
# 245 units in one shard, for 40 pauses.
PAUSED_JOB = {**OPTION, "paths": 4_000_000, "steps": 16, "seed": 21}
# 6,104 units in twelve shards, for a thousand pauses.
LONG_PAUSED_JOB = {**OPTION, "paths": 100_000_000, "steps": 16, "seed": 22}


class SteppedClock:
    """Seconds that pass only when the pool sleeps."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def now(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


def _simulated(tmp_path: Path, workers: int = 1) -> tuple[JobScheduler[SimulatedPool], JobStore]:
    clock = SteppedClock()
    store = JobStore(tmp_path / "jobs.sqlite")
    pool = SimulatedPool(workers, clock=clock.now, sleep=clock.sleep)
    return JobScheduler(store, pool, checkpoint_dir=tmp_path / "checkpoints"), store


def test_a_job_paused_a_thousand_times_is_not_failed(tmp_path: Path) -> None:
    scheduler, store = _simulated(tmp_path)
    store.submit(validate_job("option_mc", PAUSED_JOB, job_id="paused"))
    worker = scheduler.pool.workers[0]
    for pause in range(1000):
        scheduler.set_active(1)
        scheduler.tick(0.1)
        assert worker.task is not None, f"not restarted after {pause} pauses: {store.get('paused')}"
        scheduler.set_active(0)
        scheduler.tick(0.1)  # asks it to stop
        scheduler.tick(0.1)  # stopped, with its checkpoint
        assert worker.state is WorkerState.IDLE
    record = store.get("paused")
    assert record is not None and record.state is JobState.PREEMPTED, record
    assert record.attempts == 1000, "a job's attempts count its runs"
    assert [s.attempts for s in store.shards("paused")] == [0], "a pause is not a failed run"


def test_crashes_count_and_fail_the_job_at_the_limit(tmp_path: Path) -> None:
    scheduler, store = _simulated(tmp_path)
    store.submit(validate_job("option_mc", PAUSED_JOB, job_id="crashy"))
    for crash in range(1, MAX_SHARD_ATTEMPTS + 1):
        scheduler.tick(0.1)
        assert scheduler.pool.workers[0].task is not None
        scheduler.pool.crash(0)
        scheduler.tick(0.1)
        if crash < MAX_SHARD_ATTEMPTS:
            assert store.shards("crashy")[0].attempts == crash
    record = store.get("crashy")
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and f"failed {MAX_SHARD_ATTEMPTS} times" in record.error
    assert "worker died" in record.error


def _pause_until_done(
    scheduler: JobScheduler, job_id: str, pauses: int, alongside: JobScheduler | None = None
) -> int:
    """Stop the job's worker right after each restart's first chunk, `pauses` times at most,
    then let it finish; returns how many pauses it took. `alongside` (the clean run) is turned
    at each step too, its worker computing meanwhile."""
    taken = 0
    deadline = time.monotonic() + 100

    def tick(scheduler: JobScheduler) -> list[WorkerEvent]:
        if alongside is not None:
            alongside.tick(0.0)
        return scheduler.tick(0.002)

    while True:
        record = scheduler.store.get(job_id)
        assert record is not None
        if record.state in (JobState.DONE, JobState.FAILED):
            return taken
        assert time.monotonic() < deadline, f"not finished after {taken} pauses: {record}"
        scheduler.set_active(1)
        events = tick(scheduler)
        if taken < pauses and any(e.kind == "progress" for e in events):
            scheduler.set_active(0)
            while any(w.task is not None for w in scheduler.pool.workers):
                tick(scheduler)
            taken += 1


def _paused_run(make_scheduler: SchedulerFactory, params: dict[str, object], pauses: int) -> None:
    # The clean run and the paused one side by side, each on its own worker.
    reference = make_scheduler(1)
    reference.store.submit(validate_job("option_mc", params, job_id="j"))
    paused = make_scheduler(1, chunk_target_s=0.002, progress_interval_s=0.0)
    paused.store.submit(validate_job("option_mc", params, job_id="j"))
    taken = _pause_until_done(paused, "j", pauses, alongside=reference)
    reference.wait_for("j", timeout_s=100)
    expected = reference.store.get("j")
    assert expected is not None and expected.state is JobState.DONE, expected
    record = paused.store.get("j")
    assert record is not None and record.state is JobState.DONE, record
    assert taken == pauses, f"the job ended after {taken} of {pauses} pauses: make it longer"
    assert record.result == expected.result, "paused and resumed, the result is bit-identical"
    assert all(s.attempts == 0 for s in paused.store.shards("j"))


def test_a_job_paused_many_times_finishes_with_the_same_result(
    make_scheduler: SchedulerFactory,
) -> None:
    _paused_run(make_scheduler, PAUSED_JOB, pauses=40)


@pytest.mark.slow
@pytest.mark.timeout(300)  # a minute here: each pause writes a checkpoint and four store rows
def test_a_job_paused_a_thousand_times_on_real_workers_finishes_with_the_same_result(
    make_scheduler: SchedulerFactory,
) -> None:
    _paused_run(make_scheduler, LONG_PAUSED_JOB, pauses=1000)


def test_a_worker_killed_for_stopping_too_late_is_no_failed_run(
    make_scheduler: SchedulerFactory,
) -> None:
    scheduler = make_scheduler(1, checkpoint_interval_s=0.05, chunk_target_s=0.01)
    scheduler.store.submit(validate_job("option_mc", LONG_PAUSED_JOB, job_id="late"))
    worker = scheduler.pool.workers[0]
    deadline = time.monotonic() + 60
    while not any(s.checkpoint for s in scheduler.store.shards("late")):
        assert time.monotonic() < deadline, "no checkpoint written"
        scheduler.tick(0.02)
    scheduler.set_active(0)
    scheduler.tick(0.0)  # the stop is asked for...
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGSTOP)  # ...and the worker gets no CPU to answer it
    while scheduler.pool.replacements == 0:
        assert time.monotonic() < deadline, "the late worker was not killed"
        scheduler.tick(0.05)
    shard = scheduler.store.shards("late")[0]
    assert shard.state is JobState.PREEMPTED and shard.attempts == 0, shard
