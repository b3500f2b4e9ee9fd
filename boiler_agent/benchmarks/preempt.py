"""Preemption benchmark: how fast workers stop, pause and start, and whether results hold.

Measured in one run on real worker processes:
  stop latency    request to stop -> worker stopped with its checkpoint written (p50, p99),
                  at the default chunk target, side by side with a coarse 500 ms chunk target
                  as the baseline (what a job that only looks up between big steps would give);
  pause latency   SIGSTOP sent -> the kernel reports the process stopped;
  ready from cache  a new worker process spawned -> kernels loaded from a warm numba cache;
  deterministic   one job run with 1 worker and with 2 workers, at two chunk targets:
                  bit-identical results or not.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from boiler_agent.benchmarks._entry import emit, run_main
from boiler_agent.compute.jobs import validate_job
from boiler_agent.compute.pool import WorkerPool
from boiler_agent.compute.scheduler import JobScheduler
from boiler_agent.compute.store import JobStore
from boiler_agent.compute.worker import CHUNK_TARGET_S

BASELINE_CHUNK_TARGET_S = 0.5
OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
# Long enough never to finish while it is being stopped and resumed.
LONG_JOB = ("option_mc", {**OPTION, "paths": 50_000_000, "steps": 64, "seed": 11})
CHECK_JOB = ("option_mc", {**OPTION, "paths": 400_000, "steps": 32, "seed": 5})


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _scheduler(
    root: Path, workers: int, cache: str, chunk_target_s: float
) -> JobScheduler[WorkerPool]:
    store = JobStore(root / "jobs.sqlite")
    pool = WorkerPool(workers, cache_dir=cache)
    return JobScheduler(
        store,
        pool,
        checkpoint_dir=root / "checkpoints",
        checkpoint_interval_s=3600.0,
        chunk_target_s=chunk_target_s,
    )


def _wait_ready(scheduler: JobScheduler[WorkerPool]) -> None:
    while any(w.pid is None for w in scheduler.pool.workers):
        scheduler.tick(0.05)


def stop_latencies(root: Path, cache: str, chunk_target_s: float, stops: int) -> list[float]:
    """Start the long job, stop it, resume it, `stops` times; latency of each stop, ms."""
    scheduler = _scheduler(root, 1, cache, chunk_target_s)
    _wait_ready(scheduler)
    kernel, params = LONG_JOB
    scheduler.store.submit(validate_job(kernel, params))
    latencies = []
    try:
        for _ in range(stops):
            scheduler.set_active(1)
            warm_until = time.monotonic() + 0.3
            while time.monotonic() < warm_until:  # let it get into its stride
                scheduler.tick(0.01)
            scheduler.set_active(0)
            asked = time.perf_counter()
            deadline = asked + 30.0
            # Stopped with a checkpoint, or its shard ended first: either way the heat is off.
            while not any(e.kind in ("stopped", "done") for e in scheduler.tick(0.002)):
                if time.perf_counter() > deadline:
                    raise RuntimeError("a worker did not stop within 30 s")
            latencies.append((time.perf_counter() - asked) * 1000)
    finally:
        scheduler.pool.close()
        scheduler.store.close()
    return latencies


def pause_latency_ms(root: Path, cache: str) -> float:
    scheduler = _scheduler(root, 1, cache, CHUNK_TARGET_S)
    _wait_ready(scheduler)
    kernel, params = LONG_JOB
    scheduler.store.submit(validate_job(kernel, params))
    scheduler.tick(0.3)
    worker = scheduler.pool.workers[0]
    assert worker.pid is not None
    process = psutil.Process(worker.pid)
    samples = []
    for _ in range(20):
        began = time.perf_counter()
        os.kill(worker.pid, signal.SIGSTOP)
        while process.status() != psutil.STATUS_STOPPED:
            pass
        samples.append((time.perf_counter() - began) * 1000)
        os.kill(worker.pid, signal.SIGCONT)
        time.sleep(0.02)
    scheduler.pool.close()
    scheduler.store.close()
    return statistics.median(samples)


def ready_from_cache_s(cache: str) -> float:
    began = time.perf_counter()
    pool = WorkerPool(1, cache_dir=cache)
    while pool.workers[0].pid is None:
        pool.poll(0.01)
    elapsed = time.perf_counter() - began
    pool.close()
    return elapsed


def deterministic(root: Path, cache: str) -> bool:
    kernel, params = CHECK_JOB
    results = []
    for workers, target in ((1, CHUNK_TARGET_S), (2, CHUNK_TARGET_S), (2, 0.01), (1, 0.2)):
        scheduler = _scheduler(root / f"det-{workers}-{target}", workers, cache, target)
        job = validate_job(kernel, params)
        scheduler.store.submit(job)
        scheduler.wait_for(job.job_id, timeout_s=300)
        record = scheduler.store.get(job.job_id)
        results.append(record.result if record else None)
        scheduler.pool.close()
        scheduler.store.close()
    return results[0] is not None and all(r == results[0] for r in results)


def run(stops: int = 20, cache_dir: str | None = None, ready_runs: int = 3) -> dict[str, Any]:
    """`cache_dir`: a numba cache to share (tests pass theirs, already filled); by default a
    fresh one in the run's scratch directory. `ready_runs`: worker starts from the filled
    cache, the fastest reported."""
    with tempfile.TemporaryDirectory(prefix="bench-preempt-") as tmp:
        root = Path(tmp)
        cache = cache_dir or str(root / "numba-cache")
        ready_from_cache_s(cache)  # the first start fills the cache (if it is not full yet)
        ready = min(ready_from_cache_s(cache) for _ in range(max(1, ready_runs)))
        fine = stop_latencies(root / "fine", cache, CHUNK_TARGET_S, stops)
        coarse = stop_latencies(root / "coarse", cache, BASELINE_CHUNK_TARGET_S, max(2, stops // 2))
        pause = pause_latency_ms(root / "pause", cache)
        same = deterministic(root, cache)
    p50, p99 = _percentile(fine, 0.5), _percentile(fine, 0.99)
    baseline_p50 = _percentile(coarse, 0.5)
    return {
        "stop_latency_p50_ms": round(p50, 1),
        "stop_latency_p99_ms": round(p99, 1),
        "pause_latency_ms": round(pause, 3),
        "ready_from_cache_s": round(ready, 3),
        "deterministic": same,
        "baseline_stop_latency_p50_ms": round(baseline_p50, 1),
        "stop_latency_vs_baseline": round(p50 / baseline_p50, 3) if baseline_p50 else None,
        "stops": len(fine),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stops", type=int, default=20, help="stops to time (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON line, no table")


def report(args: argparse.Namespace) -> int:
    result = run(stops=max(2, args.stops))
    emit("preemption: stop, pause, start, determinism", result, args.json)
    if not result["deterministic"]:
        print("preempt benchmark: results differ between runs", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(__doc__ or "", add_arguments, report, argv)
