"""The durable local job store: SQLite in WAL mode, one row per job and one per shard.

Everything the agent must not forget across a crash or a power cut lives here: which jobs
exist, their state, attempts, accounting, and for each shard how far it got and where its last
checkpoint is. `recover()` at start turns whatever was running when the agent died back into
preempted work that resumes from its checkpoint.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boiler_agent.compute.jobs import JobState, ValidatedJob
from boiler_agent.runtime.sqlite_schema import migrate

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kernel TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    filler INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL,
    result TEXT,
    error TEXT,
    cpu_s REAL NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    energy_wh REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shards (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    first_unit INTEGER NOT NULL,
    units INTEGER NOT NULL,
    state TEXT NOT NULL,
    units_done INTEGER NOT NULL DEFAULT 0,
    checkpoint TEXT,
    partial TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS shards_by_state ON shards(state);
CREATE TABLE IF NOT EXISTS remote_jobs (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    received REAL NOT NULL,
    result_published INTEGER NOT NULL DEFAULT 0
);
"""
# Migration i takes a file from schema version i to i+1 (runtime/sqlite_schema.py):
# append a step for every change, never edit one that has shipped.
MIGRATIONS = (SCHEMA_V1,)


@dataclass(frozen=True)
class JobRecord:
    id: str
    kernel: str
    params: dict[str, Any]
    state: JobState
    filler: bool
    attempts: int
    created: float
    updated: float
    finished: float | None
    result: dict[str, Any] | None
    error: str | None
    cpu_s: float
    chunks: int
    energy_wh: float

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["state"] = self.state.value
        return out


@dataclass(frozen=True)
class ShardRecord:
    job_id: str
    idx: int
    first_unit: int
    units: int
    state: JobState
    units_done: int
    checkpoint: str | None
    partial: str | None
    attempts: int


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a finished job survives a power cut
        migrate(self._db, path, MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- jobs -------------------------------------------------------------------------------

    def submit(self, job: ValidatedJob, *, filler: bool = False, remote: bool = False) -> bool:
        """Store a new job; False if a job with this id exists (submission is idempotent).

        `remote` jobs came from the fleet: their result is to be published, once.
        """
        now = time.time()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job.job_id,)).fetchone():
                return False
            row = (job.job_id, job.kernel, json.dumps(job.params_json), int(filler), now, now)
            db.execute(
                "INSERT INTO jobs (id, kernel, params, state, filler, created, updated)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                row,
            )
            db.executemany(
                "INSERT INTO shards (job_id, idx, first_unit, units, state)"
                " VALUES (?, ?, ?, ?, 'queued')",
                [(job.job_id, s.index, s.first_unit, s.units) for s in job.shards],
            )
            if remote:
                db.execute(
                    "INSERT INTO remote_jobs (job_id, received) VALUES (?, ?)", (job.job_id, now)
                )
        return True

    def progress(self, job_id: str) -> float:
        """Share of the job's work units done, 0..1 (1 for a finished job)."""
        row = self._db.execute(
            "SELECT SUM(CASE WHEN state = 'done' THEN units ELSE units_done END), SUM(units)"
            " FROM shards WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        done, total = row[0] or 0, row[1] or 0
        return min(1.0, done / total) if total else 0.0

    def remote_results_to_publish(self, limit: int = 100) -> list[JobRecord]:
        """Finished jobs from the fleet whose result has not been published yet."""
        rows = self._db.execute(
            "SELECT j.* FROM jobs j JOIN remote_jobs r ON r.job_id = j.id"
            " WHERE j.state IN ('done', 'failed') AND r.result_published = 0"
            " ORDER BY j.finished LIMIT ?",
            (limit,),
        ).fetchall()
        return [_job(row) for row in rows]

    def mark_result_published(self, job_id: str) -> None:
        self._db.execute("UPDATE remote_jobs SET result_published = 1 WHERE job_id = ?", (job_id,))

    def remote_jobs_pending(self) -> int:
        """Jobs from the fleet not finished yet: the heater's commitment to the fleet."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM jobs j JOIN remote_jobs r ON r.job_id = j.id"
            " WHERE j.state NOT IN ('done', 'failed')"
        ).fetchone()
        return int(row[0])

    def get(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def jobs(self, state: JobState | None = None, limit: int = 100) -> list[JobRecord]:
        query, args = "SELECT * FROM jobs", list[str]()
        if state is not None:
            query, args = query + " WHERE state = ?", [state.value]
        rows = self._db.execute(query + " ORDER BY created LIMIT ?", (*args, limit)).fetchall()
        return [_job(row) for row in rows]

    def count_jobs(self, state: JobState, *, filler: bool) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state = ? AND filler = ?", (state.value, int(filler))
        ).fetchone()
        return int(row[0])

    def shards(self, job_id: str) -> list[ShardRecord]:
        rows = self._db.execute(
            "SELECT * FROM shards WHERE job_id = ? ORDER BY idx", (job_id,)
        ).fetchall()
        return [_shard(row) for row in rows]

    def next_shard(self, busy: set[tuple[str, int]]) -> ShardRecord | None:
        """The next shard to run: real jobs before filler, oldest job first, in shard order."""
        rows = self._db.execute(
            "SELECT s.* FROM shards s JOIN jobs j ON j.id = s.job_id"
            " WHERE s.state IN ('queued', 'preempted') AND j.state NOT IN ('done', 'failed')"
            " ORDER BY j.filler, j.created, s.idx"
        )
        for row in rows:
            if (row["job_id"], row["idx"]) not in busy:
                return _shard(row)
        return None

    def has_real_work(self) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM jobs WHERE filler = 0 AND state IN ('queued', 'running', 'preempted')"
        ).fetchone()
        return row is not None

    # --- shard progress ---------------------------------------------------------------------

    def shard_started(self, job_id: str, idx: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE shards SET state = 'running', attempts = attempts + 1"
                " WHERE job_id = ? AND idx = ?",
                (job_id, idx),
            )
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + (state != 'running'),"
                " updated = ? WHERE id = ?",
                (time.time(), job_id),
            )

    def shard_checkpointed(self, job_id: str, idx: int, units_done: int, path: str) -> None:
        self._db.execute(
            "UPDATE shards SET units_done = ?, checkpoint = ? WHERE job_id = ? AND idx = ?",
            (units_done, path, job_id, idx),
        )

    def shard_preempted(self, job_id: str, idx: int) -> None:
        """Back to the queue; it resumes from its last checkpoint (or the start, if none)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE shards SET state = 'preempted' WHERE job_id = ? AND idx = ?"
                " AND state = 'running'",
                (job_id, idx),
            )
            self._refresh_job_state(db, job_id)

    def shard_restart(self, job_id: str, idx: int) -> None:
        """Forget a shard's checkpoint (it was corrupt): it starts again from its first unit."""
        self._db.execute(
            "UPDATE shards SET units_done = 0, checkpoint = NULL WHERE job_id = ? AND idx = ?",
            (job_id, idx),
        )

    def shard_done(self, job_id: str, idx: int, partial: str) -> bool:
        """Record a finished shard; True when it was the job's last one."""
        with self._transaction() as db:
            db.execute(
                "UPDATE shards SET state = 'done', units_done = units, partial = ?"
                " WHERE job_id = ? AND idx = ?",
                (partial, job_id, idx),
            )
            left = db.execute(
                "SELECT COUNT(*) FROM shards WHERE job_id = ? AND state != 'done'", (job_id,)
            ).fetchone()[0]
        return bool(left == 0)

    def account(self, job_id: str, cpu_s: float, chunks: int, energy_wh: float) -> None:
        self._db.execute(
            "UPDATE jobs SET cpu_s = cpu_s + ?, chunks = chunks + ?, energy_wh = energy_wh + ?,"
            " updated = ? WHERE id = ?",
            (cpu_s, chunks, energy_wh, time.time(), job_id),
        )

    def job_done(self, job_id: str, result: dict[str, Any]) -> None:
        now = time.time()
        self._db.execute(
            "UPDATE jobs SET state = 'done', result = ?, finished = ?, updated = ? WHERE id = ?",
            (json.dumps(result), now, now, job_id),
        )

    def job_failed(self, job_id: str, error: str) -> None:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'failed', error = ?, finished = ?, updated = ?"
                " WHERE id = ?",
                (error, now, now, job_id),
            )
            db.execute(
                "UPDATE shards SET state = 'failed' WHERE job_id = ? AND state != 'done'",
                (job_id,),
            )

    def recover(self) -> int:
        """After a crash: shards left 'running' are preempted. Returns how many."""
        with self._transaction() as db:
            count = db.execute(
                "UPDATE shards SET state = 'preempted' WHERE state = 'running'"
            ).rowcount
            db.execute("UPDATE jobs SET state = 'preempted' WHERE state = 'running'")
        return int(count)

    def _refresh_job_state(self, db: sqlite3.Connection, job_id: str) -> None:
        running = db.execute(
            "SELECT 1 FROM shards WHERE job_id = ? AND state = 'running'", (job_id,)
        ).fetchone()
        if running is None:
            db.execute(
                "UPDATE jobs SET state = 'preempted', updated = ?"
                " WHERE id = ? AND state = 'running'",
                (time.time(), job_id),
            )


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kernel=row["kernel"],
        params=json.loads(row["params"]),
        state=JobState(row["state"]),
        filler=bool(row["filler"]),
        attempts=row["attempts"],
        created=row["created"],
        updated=row["updated"],
        finished=row["finished"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        cpu_s=row["cpu_s"],
        chunks=row["chunks"],
        energy_wh=row["energy_wh"],
    )


def _shard(row: sqlite3.Row) -> ShardRecord:
    return ShardRecord(
        job_id=row["job_id"],
        idx=row["idx"],
        first_unit=row["first_unit"],
        units=row["units"],
        state=JobState(row["state"]),
        units_done=row["units_done"],
        checkpoint=row["checkpoint"],
        partial=row["partial"],
        attempts=row["attempts"],
    )
