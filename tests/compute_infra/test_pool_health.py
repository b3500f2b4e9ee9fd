"""Workers that stay out of the way: idle priority, CPU seconds that never go back."""

from __future__ import annotations

import itertools
import os
import signal
import time

import psutil
import pytest

from boiler_agent.compute.jobs import validate_job
from boiler_agent.compute.pool import WorkerState
from boiler_agent.compute.worker import WORKER_NICE

from .conftest import SchedulerFactory

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
LONG_JOB = {**OPTION, "paths": 40_000_000, "steps": 64, "seed": 4}


def test_busy_cpu_seconds_never_decrease_when_a_worker_dies_and_is_replaced(
    make_scheduler: SchedulerFactory,
) -> None:
    scheduler = make_scheduler(1)
    scheduler.store.submit(validate_job("option_mc", LONG_JOB, job_id="burn"))
    samples: list[float] = []

    def run_until(condition: object, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < deadline, "condition not reached in time"
            scheduler.tick(0.02)
            samples.append(scheduler.busy_cpu_seconds())

    worker = scheduler.pool.workers[0]
    run_until(lambda: worker.state is WorkerState.RUNNING and worker.chunks > 3)
    victim = scheduler.pool.workers[0].pid
    assert victim is not None
    before = samples[-1]
    os.kill(victim, signal.SIGKILL)
    run_until(lambda: scheduler.pool.replacements == 1)
    run_until(lambda: scheduler.pool.workers[0].state is WorkerState.RUNNING)
    run_until(lambda: samples[-1] > before + 0.3)  # the new worker's seconds add on top
    drops = [(a, b) for a, b in itertools.pairwise(samples) if b < a]
    assert not drops, f"busy CPU seconds went down: {drops[:3]}"


def test_workers_run_at_idle_priority(make_scheduler: SchedulerFactory) -> None:
    scheduler = make_scheduler(1)
    worker = scheduler.pool.workers[0]
    deadline = time.monotonic() + 60
    while worker.pid is None:
        assert time.monotonic() < deadline, "the worker did not start"
        scheduler.tick(0.05)
    assert psutil.Process(worker.pid).nice() == WORKER_NICE
    if not hasattr(os, "SCHED_IDLE"):
        pytest.skip("no SCHED_IDLE on this platform: nice 19 is all there is")
    assert os.sched_getscheduler(worker.pid) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE, "the supervisor keeps its priority"
