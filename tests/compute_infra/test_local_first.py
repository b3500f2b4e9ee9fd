"""Local work first: a building's own jobs run before those it takes from the fleet."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from boiler_agent.compute.jobs import validate_job
from boiler_agent.compute.specs import EXAMPLES
from boiler_agent.compute.store import JobStore
from boiler_agent.compute.store_schema import MIGRATIONS


def _job(job_id: str):  # type: ignore[no-untyped-def]
    return validate_job("linsolve", EXAMPLES["linsolve"], job_id=job_id)


def test_a_local_job_runs_before_older_fleet_jobs(tmp_path: Path) -> None:
    clock = iter(range(1000))
    store = JobStore(tmp_path / "jobs.sqlite", clock=lambda: float(next(clock)))
    store.submit(_job("fleet-1"), remote=True)
    store.submit(_job("fleet-2"), remote=True)
    store.submit(_job("local-1"))
    shard = store.next_shard(set())
    assert shard is not None and shard.job_id == "local-1"
    shard = store.next_shard({("local-1", 0)})
    assert shard is not None and shard.job_id == "fleet-1"
    store.close()


def test_a_version_2_file_learns_which_jobs_came_from_the_fleet(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:2]:
        for statement in (part for part in step.split(";") if part.strip()):  # type: ignore[union-attr]
            db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    for job_id, created in (("fleet-old", 1.0), ("local-new", 2.0)):
        db.execute(
            "INSERT INTO jobs (id, kernel, params, state, created, updated)"
            " VALUES (?, 'linsolve', '{}', 'queued', ?, ?)",
            (job_id, created, created),
        )
        db.execute(
            "INSERT INTO shards (job_id, idx, first_unit, units, state)"
            " VALUES (?, 0, 0, 1, 'queued')",
            (job_id,),
        )
    db.execute("INSERT INTO remote_jobs (job_id, received) VALUES ('fleet-old', 1.0)")
    db.close()
    store = JobStore(path)
    shard = store.next_shard(set())
    assert shard is not None and shard.job_id == "local-new"
    store.close()
