"""Shard results are combined off the loop's thread; the store hears the outcome on it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.scheduler import JobScheduler
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.specs import get_spec
from boiler_agent.compute.store import JobStore

from .conftest import SchedulerFactory

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
SMALL_JOB = {**OPTION, "paths": 300_000, "steps": 16, "seed": 3}
SLOW_COMBINE_S = 3.0
QUICK_TICK_S = 0.5  # a tick of 20 ms asked; what a loaded machine may stretch it to


def test_tick_returns_quickly_while_a_slow_combine_runs(
    make_scheduler: SchedulerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = get_spec("option_mc")
    real_combine = spec.combine
    release = threading.Event()
    combining = threading.Event()

    def slow_combine(params: Any, partials: Any) -> Any:
        combining.set()
        release.wait(SLOW_COMBINE_S)  # on the loop's thread this would hold a tick that long
        return real_combine(params, partials)

    monkeypatch.setattr(spec, "combine", slow_combine)
    scheduler = make_scheduler(1)
    scheduler.store.submit(validate_job("option_mc", SMALL_JOB, job_id="slow"))
    ticks: list[float] = []
    deadline = time.monotonic() + 60

    def tick() -> None:
        assert time.monotonic() < deadline, "the job did not finish"
        began = time.monotonic()
        scheduler.tick(0.02)
        ticks.append(time.monotonic() - began)

    while not combining.is_set():
        tick()
    ticks_while_combining = len(ticks)
    for _ in range(20):  # the combine holds on: the loop turns all the same
        tick()
    assert scheduler.store.get("slow").state is not JobState.DONE  # type: ignore[union-attr]
    release.set()
    while scheduler.store.get("slow").state is not JobState.DONE:  # type: ignore[union-attr]
        tick()
    assert len(ticks) >= ticks_while_combining + 20
    assert max(ticks) < QUICK_TICK_S, f"a tick took {max(ticks):.2f} s during the combine"
    record = scheduler.store.get("slow")
    assert record is not None and record.result is not None and "price" in record.result


def test_a_job_whose_last_shard_finished_before_a_stop_is_combined_at_start(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = validate_job("option_mc", SMALL_JOB, job_id="orphan")
    store.submit(job)
    for shard in job.shards:  # every shard done, then the agent stopped before the result
        store.shard_started("orphan", shard.index)
        store.shard_done("orphan", shard.index, str(tmp_path / f"{shard.index}.npz"))
    store.recover()
    combined: list[str] = []

    def combine(kernel: str, params: Any, job_id: str, partials: Any) -> dict[str, Any]:
        combined.append(job_id)
        return {"price": 1.5}

    scheduler = JobScheduler(
        store, SimulatedPool(1), checkpoint_dir=tmp_path / "checkpoints", combine=combine
    )
    deadline = time.monotonic() + 10
    while store.get("orphan").state is not JobState.DONE:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"not combined: {store.get('orphan')}"
        scheduler.tick(0.01)
    assert combined == ["orphan"]
    assert store.get("orphan").result == {"price": 1.5}  # type: ignore[union-attr]
    scheduler.close()
