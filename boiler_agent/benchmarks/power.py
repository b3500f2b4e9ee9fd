"""Power tracking benchmark: real workers follow a stepped watt target, as measured.

On this machine's cores, worker processes run a filler job while the power loop (allocator,
staggered duty cycling, integral trim) tracks a target stepped from 0 to 100 % of capacity in
10 % steps and back. Power is what the agent's heat meter reads: the CPU use of the workers and
of this process (the supervisor's share is heat too) times WATTS_PER_CORE. First, with no
worker running, the bench measures the idle floor (the supervisor alone); the steps divide the
range from that floor (heat that is always made, as on a heater) to the machine's maximum
(every core busy: the supervisor's share is inside those cores, so the maximum is the workers'
capacity, not capacity plus the floor) into tenths. The workers run the agent's own filler job.
Errors are in % of that capacity. Reported:
  idle_floor_w          what the meter reads with no worker running
  max_steady_error_pct  the largest error at the end of a step, in % of capacity (target <= 2)
  max_settle_periods    the most control periods a step took to get within 2 % (target <= 3)
  smoothness_std        standard deviation of the workers' total CPU use (in cores), sampled
                        every 100 ms at a 60 % target, with staggered duty cycling (on two
                        cores both workers cycle there; at 50 % one worker may run flat out
                        instead, and there is no cycling to compare; on 5 or 10 cores 60 % is
                        whole workers, so run --workers 2 or 4 there)
  lockstep_smoothness_std  the same with BOINC-style lock-step duty cycling, in the same run
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from boiler_agent.benchmarks._entry import emit, run_main
from boiler_agent.compute.pool import WorkerPool
from boiler_agent.compute.scheduler import DEFAULT_FILLER, JobScheduler
from boiler_agent.compute.store import JobStore
from boiler_agent.power.allocator import PowerAllocator
from boiler_agent.power.duty import DutyCycler, lockstep_mask, running_mask
from boiler_agent.power.heat_meter import CpuTimeMeter
from boiler_agent.power.loop import PowerLoop

DESCRIPTION = __doc__ or ""
WATTS_PER_CORE = 25.0
PERIOD_S = 1.0
DUTY_PERIOD_S = 1.0
SETTLE_BAND_PCT = 2.0
SMOOTHNESS_SHARE = 0.6


def _loop(scheduler: JobScheduler[WorkerPool], workers: int, mask: Any = running_mask) -> PowerLoop:
    allocator = PowerAllocator(workers, WATTS_PER_CORE, add_hold_s=PERIOD_S)
    cycler = DutyCycler(scheduler.pool, period_s=DUTY_PERIOD_S, mask=mask)
    # The agent's meter: the workers' CPU time and this process's (the supervisor's).
    meter = CpuTimeMeter([scheduler.busy_cpu_seconds, time.process_time], WATTS_PER_CORE)
    return PowerLoop(scheduler, allocator, cycler, watts_per_busy_core=WATTS_PER_CORE, meter=meter)


def _hold(
    scheduler: JobScheduler[WorkerPool],
    loop: PowerLoop,
    target_w: float,
    seconds: float,
    samples: list[float],
) -> None:
    """Run the loop at one target; `samples` gets the measured watts of each period."""
    end = time.monotonic() + seconds
    next_period = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_period:
            samples.append(loop.step(target_w, now).measured_w)
            next_period += PERIOD_S
        scheduler.tick(0.01)
        loop.tick(time.monotonic())


def _smoothness(
    scheduler: JobScheduler[WorkerPool], loop: PowerLoop, target_w: float, seconds: float
) -> float:
    _hold(scheduler, loop, target_w, 3.0, [])  # settle first
    busy: list[float] = []
    last = (time.monotonic(), scheduler.busy_cpu_seconds())
    end = time.monotonic() + seconds
    next_period = time.monotonic() + PERIOD_S
    while time.monotonic() < end:
        time.sleep(0.1)
        now, cpu = time.monotonic(), scheduler.busy_cpu_seconds()
        busy.append((cpu - last[1]) / (now - last[0]))
        last = (now, cpu)
        if now >= next_period:
            loop.step(target_w, now)
            next_period += PERIOD_S
        scheduler.tick(0.0)
        loop.tick(now)
    return statistics.pstdev(busy)


def run(step_s: float = 5.0, workers: int | None = None) -> dict[str, Any]:
    workers = workers or os.cpu_count() or 1
    capacity = workers * WATTS_PER_CORE
    with tempfile.TemporaryDirectory(prefix="bench-power-") as tmp:
        root = Path(tmp)
        scheduler = JobScheduler(
            JobStore(root / "jobs.sqlite"),
            WorkerPool(workers, cache_dir=str(root / "numba")),
            checkpoint_dir=root / "checkpoints",
            filler=DEFAULT_FILLER,  # the agent's own
        )
        try:
            while any(w.pid is None for w in scheduler.pool.workers):
                scheduler.tick(0.05)
            loop = _loop(scheduler, workers)
            idle: list[float] = []
            _hold(scheduler, loop, 0.0, step_s, idle)
            # The median: the first periods still carry the supervisor's start (one read 2.9 W
            # against 0.2 W after), which the mean made the floor of every 0 % step.
            floor = statistics.median(idle[1:]) if len(idle) > 1 else 0.0
            shares = [*range(0, 101, 10), *range(90, -1, -10)]
            errors, settles = [], []
            for share in shares:
                # The floor is always made: the loop is asked for the heat above it, up to
                # what every core busy makes.
                target = floor + (capacity - floor) * share / 100 if share else 0.0
                samples: list[float] = []
                _hold(scheduler, loop, target, step_s, samples)
                band = capacity * SETTLE_BAND_PCT / 100
                if not share:  # no heat asked: the floor is what "none" reads
                    target = floor
                inside = [abs(s - target) <= band for s in samples[1:]]  # [0]: previous step
                settle = next((i + 1 for i in range(len(inside)) if all(inside[i:])), len(inside))
                settles.append(settle)
                errors.append(abs(statistics.mean(samples[-2:]) - target) / capacity * 100)
            smooth = _smoothness(scheduler, loop, capacity * SMOOTHNESS_SHARE, 5.0)
            loop.cycler.release()
            lockstep_loop = _loop(scheduler, workers, lockstep_mask)
            lockstep = _smoothness(scheduler, lockstep_loop, capacity * SMOOTHNESS_SHARE, 5.0)
        finally:
            scheduler.pool.close()
            scheduler.store.close()
    return {
        "idle_floor_w": round(floor, 2),
        "max_steady_error_pct": round(max(errors), 2),
        "max_settle_periods": max(settles),
        "smoothness_std": round(smooth, 3),
        "lockstep_smoothness_std": round(lockstep, 3),
        "smoothness_vs_lockstep": round(smooth / lockstep, 3) if lockstep else None,
        "workers": workers,
        "steps": len(shares),
        "steady_error_pct_by_step": [round(e, 2) for e in errors],
        "settle_periods_by_step": settles,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--step-seconds", type=float, default=5.0, help="time at each target")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--json", action="store_true", help="print one JSON line, no table")


def report(args: argparse.Namespace) -> int:
    result = run(step_s=args.step_seconds, workers=args.workers)
    emit("power tracking with real workers", result, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
