"""The job store stays fast and small: lookups independent of the queue, a year stays bounded."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.compute import store as store_module
from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.store import (
    FINISHED_SHARDS_RETENTION_S,
    LOCAL_JOB_RETENTION_S,
    PUBLISHED_JOB_RETENTION_S,
    JobStore,
)
from boiler_agent.compute.store_schema import SCHEMA_V1
from boiler_agent.durations import DAY_S, HOUR_S

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
TEN_SHARDS = {**OPTION, "paths": 83_886_080, "steps": 16}
SHARDS_477 = {**OPTION, "paths": 1_000_000_000, "steps": 64}
TWO_SHARDS = {**OPTION, "paths": 10_000_000, "steps": 16}
ONE_SHARD = {**OPTION, "paths": 100_000, "steps": 16}


class WallClock:
    """Seconds that move only when the test says so."""

    def __init__(self, start_s: float = 1_767_225_600.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s


def _fast(store: JobStore) -> JobStore:
    # Durability is not what these tests measure: without an fsync per commit they run quick.
    store._db.execute("PRAGMA synchronous=OFF")
    return store


def _per_call_s(call: Callable[[], object], *, calls: int = 50, rounds: int = 7) -> float:
    """The best round's time per call: the minimum is what a loaded machine cannot inflate."""
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - began) / calls)
    return best


def _queued_store(path: Path, jobs: list[dict[str, object]]) -> JobStore:
    store = _fast(JobStore(path))
    for seed, params in enumerate(jobs):
        store.submit(validate_job("option_mc", {**params, "seed": seed}, job_id=f"j{seed:03d}"))
    # Two workers hold the first two shards, as on a heater.
    for idx in (0, 1):
        store.shard_started("j000", idx)
    return store


def test_next_shard_and_real_work_cost_the_same_with_10_or_10000_queued_shards(
    tmp_path: Path,
) -> None:
    small = _queued_store(tmp_path / "small.sqlite", [TEN_SHARDS])
    large = _queued_store(tmp_path / "large.sqlite", [SHARDS_477] * 21)
    assert sum(len(small.shards(j.id)) for j in small.jobs()) == 10
    assert sum(len(large.shards(j.id)) for j in large.jobs()) > 10_000
    busy = {("j000", 0), ("j000", 1)}
    for store in (small, large):
        shard = store.next_shard(busy)
        assert shard is not None and (shard.job_id, shard.idx) == ("j000", 2)
    ratio = _per_call_s(lambda: large.next_shard(busy)) / _per_call_s(
        lambda: small.next_shard(busy)
    )
    assert ratio < 3, f"next_shard costs {ratio:.1f} times more with 1,000 times the queue"
    ratio = _per_call_s(large.has_real_work) / _per_call_s(small.has_real_work)
    assert ratio < 3, f"has_real_work costs {ratio:.1f} times more with 1,000 times the queue"


def _run_job(store: JobStore, job_id: str, params: dict[str, object], **kind: bool) -> None:
    job = validate_job("option_mc", params, job_id=job_id)
    assert store.submit(job, **kind)
    for shard in job.shards:
        store.shard_started(job_id, shard.index)
        store.shard_done(job_id, shard.index, f"/ck/{job_id}.{shard.index}.partial.npz")
    store.account(job_id, 1.0, 10, 0.01)


def _prune_all(store: JobStore) -> None:
    while store.prune().more:
        pass


def _rows(store: JobStore, table: str) -> int:
    return int(store._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.mark.slow
def test_the_store_stays_bounded_over_a_simulated_year(tmp_path: Path) -> None:
    """Every hour a fleet job (two shards) and a filler job come and go, every day a local job
    and a fleet job that fails: a year of it leaves a store no bigger than its second month."""
    clock = WallClock()
    path = tmp_path / "jobs.sqlite"
    store = _fast(JobStore(path, clock=clock))
    done = failed = 0
    sizes: dict[int, int] = {}
    for hour in range(365 * 24):
        fleet = f"fleet-{hour}"
        _run_job(store, fleet, {**TWO_SHARDS, "seed": hour}, remote=True)
        store.job_done(fleet, {"price": 1.0})
        filler = f"filler-{hour}"
        _run_job(store, filler, {**TWO_SHARDS, "seed": 7}, filler=True)
        store.drop_job(filler, counted_as=JobState.DONE)  # what the scheduler does
        done += 1  # the fleet job
        if hour % 24 == 0:
            _run_job(store, f"local-{hour}", {**ONE_SHARD, "seed": hour})
            store.job_done(f"local-{hour}", {"price": 2.0})
            broken = f"broken-{hour}"
            store.submit(validate_job("option_mc", ONE_SHARD, job_id=broken), remote=True)
            store.job_failed(broken, "kernel error")
            done, failed = done + 1, failed + 1
        for record in store.remote_results_to_publish():
            store.mark_result_published(record.id)
        clock.now_s += HOUR_S
        _prune_all(store)
        if hour % (30 * 24) == 0:
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes[hour // (30 * 24)] = path.stat().st_size
    week = PUBLISHED_JOB_RETENTION_S / HOUR_S
    month = LOCAL_JOB_RETENTION_S / DAY_S
    bound = week + week / 24 + month + 2  # fleet jobs a week, failed a week, local a month
    assert _rows(store, "jobs") <= bound, f"{_rows(store, 'jobs')} job rows, bound {bound}"
    assert _rows(store, "remote_jobs") <= week + week / 24 + 2
    assert _rows(store, "shards") <= 2 * FINISHED_SHARDS_RETENTION_S / HOUR_S + 2
    assert store.count_jobs(JobState.DONE, filler=False) == done, "pruned, still counted"
    assert store.count_jobs(JobState.DONE, filler=True) == 365 * 24
    assert store.count_jobs(JobState.FAILED, filler=False) == failed
    assert sizes[12] <= 1.1 * sizes[2], f"the file grew from {sizes[2]} to {sizes[12]} bytes"
    assert sizes[12] < 512 * 1024, f"{sizes[12]} bytes after a year"


def test_pruned_jobs_stay_counted_and_a_duplicate_offer_is_known_for_a_week(
    tmp_path: Path,
) -> None:
    clock = WallClock()
    store = JobStore(tmp_path / "jobs.sqlite", clock=clock)
    _run_job(store, "fleet", ONE_SHARD, remote=True)
    store.job_done("fleet", {"price": 1.0})
    _run_job(store, "local", ONE_SHARD)
    store.job_done("local", {"price": 1.0})
    store.mark_result_published("fleet")
    clock.now_s += PUBLISHED_JOB_RETENTION_S - HOUR_S
    _prune_all(store)
    assert store.shards("fleet") == [], "a finished job's shard rows go after an hour"
    assert store.get("fleet") is not None, "kept a week: a duplicate offer is recognised"
    assert not store.submit(validate_job("option_mc", ONE_SHARD, job_id="fleet"), remote=True)
    clock.now_s += 2 * HOUR_S
    _prune_all(store)
    assert store.get("fleet") is None and store.get("local") is not None
    assert store.count_jobs(JobState.DONE, filler=False) == 2, "pruned, still counted as done"
    clock.now_s += LOCAL_JOB_RETENTION_S
    _prune_all(store)
    assert store.get("local") is None and store.count_jobs(JobState.DONE, filler=False) == 2
    assert store.progress("local") == 0.0


def test_an_unpublished_result_is_kept(tmp_path: Path) -> None:
    clock = WallClock()
    store = JobStore(tmp_path / "jobs.sqlite", clock=clock)
    _run_job(store, "fleet", ONE_SHARD, remote=True)
    store.job_done("fleet", {"price": 1.0})
    clock.now_s += PUBLISHED_JOB_RETENTION_S + DAY_S
    _prune_all(store)
    assert [r.id for r in store.remote_results_to_publish()] == ["fleet"]


def test_remote_shards_pending_counts_what_the_fleet_still_asks(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.submit(validate_job("option_mc", TEN_SHARDS, job_id="big"), remote=True)
    store.submit(validate_job("option_mc", TWO_SHARDS, job_id="small"), remote=True)
    store.submit(validate_job("option_mc", TEN_SHARDS, job_id="mine"))
    store.submit(validate_job("option_mc", TEN_SHARDS, job_id="filler"), filler=True)
    store.shard_started("big", 0)
    store.shard_done("big", 0, "/ck/p")
    store.shard_started("big", 1)
    assert store.remote_jobs_pending() == 2
    assert store.remote_shards_pending() == 9 + 2
    store.job_failed("small", "no")
    assert (store.remote_jobs_pending(), store.remote_shards_pending()) == (1, 9)


def test_a_version_one_file_migrates_and_pauses_counted_before_are_forgotten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:  # as an agent before version 2 left it
        db.executescript(SCHEMA_V1)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO jobs (id, kernel, params, state, created, updated)"
            " VALUES ('old', 'option_mc', '{}', 'preempted', 0, 0)"
        )
        db.execute(
            "INSERT INTO shards (job_id, idx, first_unit, units, state, attempts)"
            " VALUES ('old', 0, 0, 10, 'preempted', 4)"
        )
    store = JobStore(path)
    assert store.shards("old")[0].attempts == 0, "four pauses under the old count are no failure"
    assert store.next_shard(set()) is not None
    assert len(store_module.MIGRATIONS) == 3  # 3: local work first (test_local_first.py)
