"""The filler fills every worker the queue leaves idle, real work or not: the heat asked for is
made even when the jobs held cannot use every core."""

from __future__ import annotations

from pathlib import Path

from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.pool import WorkerState
from boiler_agent.compute.scheduler import FillerJob, JobScheduler
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.store import JobStore
from boiler_agent.daemon.clocks import VirtualClock

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
ONE_SHARD = {**OPTION, "paths": 10_000, "steps": 16, "seed": 3}
FILLER = FillerJob("option_mc", {**OPTION, "paths": 50_000_000, "steps": 64, "seed": 1})


def _scheduler(tmp_path: Path) -> JobScheduler[SimulatedPool]:
    clock = VirtualClock()
    pool = SimulatedPool(2, clock=clock.now, sleep=clock.sleep)
    store = JobStore(tmp_path / "jobs.sqlite")
    return JobScheduler(store, pool, checkpoint_dir=tmp_path / "checkpoints", filler=FILLER)


def test_a_one_shard_job_on_two_cores_leaves_the_other_to_the_filler(tmp_path: Path) -> None:
    scheduler = _scheduler(tmp_path)
    job = validate_job("option_mc", ONE_SHARD, job_id="one")
    assert len(job.shards) == 1
    scheduler.store.submit(job)
    scheduler.set_active(2)
    for _ in range(3):
        scheduler.tick(0.1)
    running = {w.task.job_id for w in scheduler.pool.workers if w.task is not None}
    assert all(w.state is WorkerState.RUNNING for w in scheduler.pool.workers), running
    assert "one" in running and len(running) == 2, "the second core idled beside a real job"
    filler = next(j for j in scheduler.store.jobs() if j.filler)
    assert filler.id in running


def test_real_work_arriving_still_takes_the_fillers_worker(tmp_path: Path) -> None:
    scheduler = _scheduler(tmp_path)
    scheduler.store.submit(validate_job("option_mc", ONE_SHARD, job_id="first"))
    scheduler.set_active(2)
    for _ in range(3):
        scheduler.tick(0.1)
    scheduler.store.submit(validate_job("option_mc", ONE_SHARD, job_id="second"))
    for _ in range(5):
        scheduler.tick(0.1)
    second = scheduler.store.get("second")
    assert second is not None and second.state is not JobState.QUEUED, "left behind the filler"
