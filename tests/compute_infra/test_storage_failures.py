"""A full disk or a failing one: no crash loop, no exception out of tick(), the heat goes on."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from boiler_agent.compute import scheduler as scheduler_module
from boiler_agent.compute import store_guard
from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.pool import WorkerState
from boiler_agent.compute.scheduler import MAX_SHARD_ATTEMPTS, FillerJob, JobScheduler
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.store import JobStore

from .conftest import SchedulerFactory

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
MEDIUM_JOB = {**OPTION, "paths": 3_000_000, "steps": 16, "seed": 6}
FILLER = FillerJob("option_mc", {**OPTION, "paths": 4_000_000_000, "steps": 64, "seed": 1})
QUIET_S = 0.3  # the outage's quiet period, shortened from a minute for the test


def test_an_unwritable_checkpoint_directory_fails_the_job_without_a_crash_loop(
    make_scheduler: SchedulerFactory, tmp_path: Path
) -> None:
    root = tmp_path / "state"
    root.mkdir()
    (root / "checkpoints").write_text("a file where the directory should be")  # root or not
    scheduler = make_scheduler(1, root=root, checkpoint_interval_s=0.05, chunk_target_s=0.01)
    scheduler.store.submit(validate_job("option_mc", MEDIUM_JOB, job_id="nowhere"))
    scheduler.wait_for("nowhere", timeout_s=90)
    record = scheduler.store.get("nowhere")
    assert record is not None and record.state is JobState.FAILED, record
    assert record.error is not None and "could not be saved" in record.error, record.error
    assert f"failed {MAX_SHARD_ATTEMPTS} times" in record.error
    assert scheduler.pool.replacements == 0, "the worker lived through it: no crash loop"
    assert scheduler.checkpoint_errors > 0, "the periodic checkpoints failed too, and were told"
    assert scheduler.pool.workers[0].state is WorkerState.IDLE


class SteppedClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def now(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


def _outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    failed = sum("write failed" in r.getMessage() for r in caplog.records)
    again = sum("works again after" in r.getMessage() for r in caplog.records)
    return failed, again


def _quiet(scheduler: JobScheduler[SimulatedPool]) -> None:
    """Turn the scheduler (real time) until the outage's quiet period has passed."""
    until = time.monotonic() + 2 * QUIET_S
    while time.monotonic() < until:
        scheduler.tick(0.01)


def test_a_full_job_store_never_raises_from_tick_and_the_heat_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(store_guard, "STORE_OUTAGE_QUIET_S", QUIET_S)
    monkeypatch.setattr(scheduler_module, "STORE_RETRY_S", 0.0)  # a filler try every tick
    caplog.set_level(logging.INFO)
    clock = SteppedClock()
    store = JobStore(tmp_path / "jobs.sqlite")
    pool = SimulatedPool(2, clock=clock.now, sleep=clock.sleep)
    scheduler = JobScheduler(store, pool, checkpoint_dir=tmp_path / "ck", filler=FILLER)
    scheduler.set_active(1)
    scheduler.tick(0.1)
    heating = pool.workers[0].task
    assert heating is not None and store.get(heating.job_id).filler  # type: ignore[union-attr]
    # As if the filler had run that far: its last shard runs, the next worker needs a new one.
    store._db.execute(
        "UPDATE shards SET state = 'done' WHERE job_id = ? AND idx != ?",
        (heating.job_id, heating.shard_index),
    )
    # The disk is full: the file may not grow by a page (SQLite's own limit).
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    scheduler.set_active(2)  # the second worker wants a new filler job: 1,908 shard rows
    for _ in range(50):
        scheduler.tick(0.1)  # raises nothing
        assert pool.workers[0].task == heating, "the running work keeps heating"
    assert scheduler.store_errors >= 50, "every failed filler submission counted"
    assert _outage_lines(caplog) == (1, 0), "one line for the whole outage"
    assert "full" in caplog.text
    store._db.execute(f"PRAGMA max_page_count = {10 * pages + 100_000}")  # space again
    _quiet(scheduler)
    assert pool.workers[1].task is not None, "the filler runs once the store takes it"
    assert store.get(pool.workers[1].task.job_id).filler  # type: ignore[union-attr]
    assert _outage_lines(caplog) == (1, 1)


def test_a_lost_stop_record_is_put_right_when_the_store_works_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(store_guard, "STORE_OUTAGE_QUIET_S", QUIET_S)
    clock = SteppedClock()
    store = JobStore(tmp_path / "jobs.sqlite")
    pool = SimulatedPool(1, clock=clock.now, sleep=clock.sleep)
    scheduler = JobScheduler(store, pool, checkpoint_dir=tmp_path / "ck")
    store.submit(validate_job("option_mc", MEDIUM_JOB, job_id="j"))
    scheduler.tick(0.1)
    assert pool.workers[0].task is not None

    def failing(job_id: str, idx: int) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(store, "shard_preempted", failing)
        scheduler.set_active(0)
        scheduler.tick(0.1)
        scheduler.tick(0.1)  # stopped: the store never hears of it
    assert pool.workers[0].task is None and scheduler.store_errors == 1
    assert store.shards("j")[0].state is JobState.RUNNING, "what the store believes"
    scheduler.set_active(1)
    scheduler.tick(0.1)
    assert pool.workers[0].task is None, "a shard the store thinks is running is not started"
    _quiet(scheduler)
    assert pool.workers[0].task is not None and pool.workers[0].task.job_id == "j"
    assert "disk I/O error" in caplog.text and "re-queued 1 shard" in caplog.text
