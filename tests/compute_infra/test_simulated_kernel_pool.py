"""Simulated workers that compute: on a virtual clock, through the real scheduler and store, a
job stopped and resumed many times, and one whose worker crashed, end with the clean result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boiler_agent.compute import kernels
from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.scheduler import JobScheduler
from boiler_agent.compute.simulated_kernel_pool import SimulatedKernelPool
from boiler_agent.compute.specs import EXAMPLES
from boiler_agent.compute.store import JobStore
from boiler_agent.daemon.clocks import VirtualClock

KERNEL = "mandelbrot"
PARAMS: dict[str, Any] = {**EXAMPLES[KERNEL], "width": 1024, "height": 320, "max_iter": 16}


def _scheduler(
    root: Path, clock: VirtualClock, cpu_s_per_unit: float
) -> JobScheduler[SimulatedKernelPool]:
    pool = SimulatedKernelPool(
        2, clock=clock.now, sleep=clock.sleep, cpu_s_per_unit=lambda task: cpu_s_per_unit
    )
    return JobScheduler(
        JobStore(root / "jobs.sqlite", clock=clock.wall),
        pool,
        checkpoint_dir=root / "checkpoints",
        checkpoint_interval_s=30.0,
    )


def _run(scheduler: JobScheduler[SimulatedKernelPool], job_id: str, every: int = 0) -> None:
    """Tick until the job is finished; every `every` ticks the heat is cut and comes back."""
    for turn in range(200_000):
        record = scheduler.store.get(job_id)
        assert record is not None
        if record.state in (JobState.DONE, JobState.FAILED):
            return
        active = 0 if every and (turn // every) % 2 else 2
        scheduler.set_active(active)
        scheduler.tick(1.0)
    raise AssertionError("the job never finished")


def _wait_combined(scheduler: JobScheduler[SimulatedKernelPool], job_id: str) -> dict[str, Any]:
    _run(scheduler, job_id)
    record = scheduler.store.get(job_id)
    assert record is not None and record.state is JobState.DONE, record
    assert record.result is not None
    return record.result


def test_a_job_stopped_every_few_seconds_ends_with_the_clean_result(tmp_path: Path) -> None:
    clock = VirtualClock()
    scheduler = _scheduler(tmp_path, clock, cpu_s_per_unit=100.0)
    job = validate_job(KERNEL, PARAMS, job_id="j1")
    assert len(job.shards) == 3 and scheduler.store.submit(job)
    _run(scheduler, "j1", every=3)  # some 80 stops, most between checkpoints
    assert _wait_combined(scheduler, "j1") == kernels.run_job(KERNEL, PARAMS)
    units = sum(shard.units for shard in job.shards)
    assert clock.now() >= units * 100.0 / 2, "it took the CPU time it was given, or more"
    scheduler.close()


def test_a_crashed_worker_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    option = {**EXAMPLES["option_mc"], "paths": 1_000_000}  # one shard of some 30 units
    clock = VirtualClock()
    scheduler = _scheduler(tmp_path, clock, cpu_s_per_unit=10.0)
    scheduler.store.submit(validate_job("option_mc", option, job_id="j1"))
    scheduler.set_active(2)
    for _ in range(120):  # two minutes: checkpoints, not the end
        scheduler.tick(1.0)
    (shard,) = scheduler.store.shards("j1")
    assert shard.checkpoint is not None and shard.units_done >= 6, shard
    scheduler.pool.crash(scheduler.pool.running_indices()[0])
    restarted_at = clock.now()
    # Timed to the shard's end, not the result: combining runs on its own thread in real time,
    # while each tick here is a virtual second (a loaded machine made it look 20 s slower).
    for _ in range(10_000):
        if all(s.state is JobState.DONE for s in scheduler.store.shards("j1")):
            break
        scheduler.tick(1.0)
    # It resumed from the checkpoint rather than from zero: less than a whole run's time left.
    assert clock.now() - restarted_at < shard.units * 10.0
    assert _wait_combined(scheduler, "j1") == kernels.run_job("option_mc", option)
    scheduler.close()
