"""The durable local job store: SQLite in WAL mode, one row per job and one per shard.

Everything the agent must not forget across a crash or a power cut lives here: which jobs
exist, their state, attempts, accounting, and for each shard how far it got and where its last
checkpoint is. `recover()` at start turns whatever was running when the agent died back into
preempted work that resumes from its checkpoint.

Attempts. A shard's `attempts` counts its failed runs: its worker died with it (a crash) or its
result could not be saved; the scheduler fails the job when one shard reaches its limit. A stop
at a chunk boundary with a checkpoint (heat demand pauses work all day) is not a failure and
does not count, nor does a restart from scratch after a corrupt checkpoint (see the scheduler).
A job's `attempts` counts its runs: how many times it went from waiting (queued or preempted)
to running, its first start included; it is information, nothing is limited by it.

Retention (`prune()`, called by the scheduler, a bounded batch at a time): the store holds the
unfinished work plus a window of finished jobs, so its size follows the work rate, not the age.
- a finished filler job, with its shards: at once (it is superseded by the next filler);
- the shard rows of a finished job: `FINISHED_SHARDS_RETENTION_S` after it finished;
- a local job (submitted on this heater): `LOCAL_JOB_RETENTION_S` after it finished;
- a fleet job whose result was published: `PUBLISHED_JOB_RETENTION_S` after it finished, longer
  than a broker redelivers an offer, so a duplicate offer is still recognised by its id;
- a fleet job whose result was never published (no feed since): `UNPUBLISHED_JOB_RETENTION_S`.
Pruned jobs stay counted (`pruned_jobs`): the done and failed counts never go down.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from boiler_agent.compute.jobs import JobState, ValidatedJob
from boiler_agent.compute.store_records import (
    JobRecord,
    Pruned,
    ShardRecord,
    job_from_row,
    shard_from_row,
)
from boiler_agent.compute.store_schema import MIGRATIONS, SCHEMA_V1
from boiler_agent.compute.store_syncer import StoreSyncer
from boiler_agent.durations import DAY_S, HOUR_S
from boiler_agent.runtime.sqlite_open import open_sqlite
from boiler_agent.runtime.sqlite_schema import migrate

__all__ = ["MIGRATIONS", "SCHEMA_V1", "JobRecord", "JobStore", "Pruned", "ShardRecord"]

FINISHED_SHARDS_RETENTION_S = HOUR_S  # a failed shard's attempts stay visible for a while
LOCAL_JOB_RETENTION_S = 30 * DAY_S  # `boiler-agent job list/show` keeps a month of history
PUBLISHED_JOB_RETENTION_S = 7 * DAY_S  # > the broker session and the outbox's message age
UNPUBLISHED_JOB_RETENTION_S = 30 * DAY_S
PRUNE_BATCH_ROWS = 5_000  # rows deleted per prune() call: a short transaction on the loop
# The WAL file is truncated back to this after a checkpoint (it keeps its peak size otherwise).
JOURNAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024

RUNNABLE_JOB = "state IN ('queued', 'running', 'preempted')"  # = the index jobs_runnable
RUNNABLE_SHARD = "state IN ('queued', 'preempted')"  # = the index shards_runnable
FINISHED = "state IN ('done', 'failed')"


class JobStore:
    def __init__(
        self, path: Path, *, clock: Callable[[], float] = time.time, sync_off_thread: bool = False
    ) -> None:
        """`clock` gives the wall-clock seconds stamped on jobs (created, updated, finished).

        Every commit is on disk when it returns (`synchronous=FULL`), unless `sync_off_thread`
        (the agent's control loop): then commits do no fsync and a `StoreSyncer` thread makes
        them durable within about a second.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        # A corrupt file is moved aside and replaced (its jobs are lost, the heater heats on):
        # never a restart loop. `corrupt_moved_to` says where it went, for an event.
        opened = open_sqlite(path, lambda db: _prepare(db, path), timeout_s=10.0, wall_clock=clock)
        self._db = opened.db
        self._db.row_factory = sqlite3.Row
        self.corrupt_moved_to = opened.moved_aside
        self.syncer: StoreSyncer | None = None
        if sync_off_thread:
            self._db.execute("PRAGMA synchronous=NORMAL")  # no fsync at commit
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # the syncer checkpoints
            self.syncer = StoreSyncer(path)

    def close(self) -> None:
        if self.syncer is not None:
            self.syncer.close()
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- jobs -------------------------------------------------------------------------------

    def submit(self, job: ValidatedJob, *, filler: bool = False, remote: bool = False) -> bool:
        """Store a new job; False if a job with this id exists (submission is idempotent).

        `remote` jobs came from the fleet: their result is to be published, once.
        """
        now = self._clock()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job.job_id,)).fetchone():
                return False
            params = json.dumps(job.params_json)
            row = (job.job_id, job.kernel, params, int(filler), int(remote), now, now)
            db.execute(
                "INSERT INTO jobs (id, kernel, params, state, filler, remote, created, updated)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
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
        found = self.states_and_progress([job_id])
        return found[job_id][1] if job_id in found else 0.0

    def states_and_progress(self, job_ids: Iterable[str]) -> dict[str, tuple[JobState, float]]:
        """Each known job's state and share of work units done (1 for a finished job), in one
        query: the feed asks it for every held job each control period."""
        ids = list(job_ids)
        if not ids:
            return {}
        rows = self._db.execute(
            "SELECT j.id, j.state,"
            " SUM(CASE WHEN s.state = 'done' THEN s.units ELSE s.units_done END), SUM(s.units)"
            " FROM jobs j LEFT JOIN shards s ON s.job_id = j.id"
            f" WHERE j.id IN ({','.join('?' * len(ids))}) GROUP BY j.id",
            ids,
        ).fetchall()
        found = {}
        for job_id, state_value, done, total in rows:
            state = JobState(state_value)
            if state is JobState.DONE:
                share = 1.0  # its shard rows may be pruned already
            else:
                share = min(1.0, (done or 0) / total) if total else 0.0
            found[job_id] = (state, share)
        return found

    def remote_results_to_publish(self, limit: int = 100) -> list[JobRecord]:
        """Finished jobs from the fleet whose result has not been published yet."""
        rows = self._db.execute(
            "SELECT j.* FROM remote_jobs r INDEXED BY remote_unpublished"
            " CROSS JOIN jobs j ON j.id = r.job_id"
            " WHERE r.result_published = 0 AND j.state IN ('done', 'failed')"
            " ORDER BY j.finished LIMIT ?",
            (limit,),
        ).fetchall()
        return [job_from_row(row) for row in rows]

    def mark_result_published(self, job_id: str) -> None:
        self._db.execute("UPDATE remote_jobs SET result_published = 1 WHERE job_id = ?", (job_id,))

    def remote_jobs_pending(self) -> int:
        """Jobs from the fleet not finished yet: the heater's commitment to the fleet."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM jobs j INDEXED BY jobs_runnable"
            f" CROSS JOIN remote_jobs r ON r.job_id = j.id WHERE j.filler = 0 AND j.{RUNNABLE_JOB}"
        ).fetchone()
        return int(row[0])

    def remote_jobs_unfinished(self) -> list[str]:
        """Ids of the fleet jobs held here and not finished (a restart follows them again)."""
        rows = self._db.execute(
            "SELECT id FROM jobs INDEXED BY jobs_runnable"
            f" WHERE filler = 0 AND remote = 1 AND {RUNNABLE_JOB} ORDER BY created"
        )
        return [row[0] for row in rows]

    def remote_shards_pending(self) -> int:
        """Shards of fleet jobs not done yet (waiting or running): the work the fleet's jobs
        still ask of this heater, for a cap that large offers cannot slip under."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM jobs j INDEXED BY jobs_runnable"
            " CROSS JOIN remote_jobs r ON r.job_id = j.id"
            " CROSS JOIN shards s ON s.job_id = j.id"
            f" WHERE j.filler = 0 AND j.{RUNNABLE_JOB} AND s.state != 'done'"
        ).fetchone()
        return int(row[0])

    def get(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    def jobs(self, state: JobState | None = None, limit: int = 100) -> list[JobRecord]:
        query, args = "SELECT * FROM jobs", list[str]()
        if state is not None:
            query, args = query + " WHERE state = ?", [state.value]
        rows = self._db.execute(query + " ORDER BY created LIMIT ?", (*args, limit)).fetchall()
        return [job_from_row(row) for row in rows]

    def count_jobs(self, state: JobState, *, filler: bool) -> int:
        """Jobs in this state; for done and failed, the ones pruned since are counted too."""
        row = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE state = ?1 AND filler = ?2)"
            " + IFNULL((SELECT count FROM pruned_jobs WHERE state = ?1 AND filler = ?2), 0)",
            (state.value, int(filler)),
        ).fetchone()
        return int(row[0])

    def shards(self, job_id: str) -> list[ShardRecord]:
        rows = self._db.execute(
            "SELECT * FROM shards WHERE job_id = ? ORDER BY idx", (job_id,)
        ).fetchall()
        return [shard_from_row(row) for row in rows]

    def next_shard(self, busy: set[tuple[str, int]]) -> ShardRecord | None:
        """The next shard to run: local jobs, then fleet jobs, then filler; oldest job first
        within each; in shard order.

        Unfinished jobs are walked in run order (an index) and each one's runnable shards in
        shard order (another), stopping at the first one not busy: the cost follows the busy
        shards and the jobs with nothing left to start (at most one per worker), never the
        length of the queue.
        """
        rows = self._db.execute(
            "SELECT s.* FROM jobs j INDEXED BY jobs_runnable"
            " CROSS JOIN shards s INDEXED BY shards_runnable ON s.job_id = j.id"
            f" WHERE j.{RUNNABLE_JOB} AND s.{RUNNABLE_SHARD}"
            " ORDER BY j.filler, j.remote, j.created, j.rowid, s.idx LIMIT ?",
            (len(busy) + 1,),
        )
        for row in rows:
            if (row["job_id"], row["idx"]) not in busy:
                return shard_from_row(row)
        return None

    def has_real_work(self) -> bool:
        row = self._db.execute(
            f"SELECT 1 FROM jobs INDEXED BY jobs_runnable WHERE filler = 0 AND {RUNNABLE_JOB}"
            " LIMIT 1"
        ).fetchone()
        return row is not None

    # --- shard progress ---------------------------------------------------------------------

    def shard_started(self, job_id: str, idx: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE shards SET state = 'running' WHERE job_id = ? AND idx = ?", (job_id, idx)
            )
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + (state != 'running'),"
                " updated = ? WHERE id = ?",
                (self._clock(), job_id),
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

    def shard_failed_run(self, job_id: str, idx: int) -> int:
        """A run that failed (its worker died, its result was not saved): back to the queue
        like a preempted shard, one attempt more. Returns the shard's failed runs so far."""
        with self._transaction() as db:
            db.execute(
                "UPDATE shards SET attempts = attempts + 1,"
                " state = CASE WHEN state = 'running' THEN 'preempted' ELSE state END"
                " WHERE job_id = ? AND idx = ?",
                (job_id, idx),
            )
            self._refresh_job_state(db, job_id)
            row = db.execute(
                "SELECT attempts FROM shards WHERE job_id = ? AND idx = ?", (job_id, idx)
            ).fetchone()
        return 0 if row is None else int(row[0])

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
                "SELECT 1 FROM shards WHERE job_id = ? AND state != 'done' LIMIT 1", (job_id,)
            ).fetchone()
        return left is None

    def account(self, job_id: str, cpu_s: float, chunks: int, energy_wh: float) -> None:
        self._db.execute(
            "UPDATE jobs SET cpu_s = cpu_s + ?, chunks = chunks + ?, energy_wh = energy_wh + ?,"
            " updated = ? WHERE id = ?",
            (cpu_s, chunks, energy_wh, self._clock(), job_id),
        )

    def job_done(self, job_id: str, result: dict[str, Any]) -> None:
        now = self._clock()
        self._db.execute(
            "UPDATE jobs SET state = 'done', result = ?, finished = ?, updated = ? WHERE id = ?",
            (json.dumps(result), now, now, job_id),
        )

    def job_failed(self, job_id: str, error: str) -> None:
        now = self._clock()
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

    # --- after a crash or an outage ---------------------------------------------------------

    def recover(self) -> int:
        """After a crash: shards left 'running' are preempted. Returns how many."""
        with self._transaction() as db:
            count = db.execute(
                "UPDATE shards SET state = 'preempted' WHERE state = 'running'"
            ).rowcount
            db.execute("UPDATE jobs SET state = 'preempted' WHERE state = 'running'")
        return int(count)

    def requeue_orphans(self, busy: Iterable[tuple[str, int]]) -> int:
        """Shards the store says are running but no worker runs (their stop or end was never
        recorded): preempted, so they run again from their last checkpoint. Returns how many."""
        held = set(busy)
        running = self._db.execute(
            "SELECT job_id, idx FROM shards INDEXED BY shards_by_state WHERE state = 'running'"
        ).fetchall()
        orphans = [(row[0], row[1]) for row in running if (row[0], row[1]) not in held]
        for job_id, idx in orphans:
            self.shard_preempted(job_id, idx)
        return len(orphans)

    def complete_jobs(self) -> list[str]:
        """Unfinished jobs whose every shard is done: their result is still to be combined (the
        agent stopped, or the store failed, between the last shard and the result)."""
        rows = self._db.execute(
            f"SELECT j.id FROM jobs j INDEXED BY jobs_runnable WHERE j.{RUNNABLE_JOB}"
            " AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.job_id = j.id AND s.state != 'done')"
        ).fetchall()
        return [str(row[0]) for row in rows]

    # --- retention --------------------------------------------------------------------------

    def drop_job(self, job_id: str, *, counted_as: JobState) -> list[str]:
        """Delete a job and its shards now (a finished filler), counted in the given state;
        returns the files its shard rows named."""
        with self._transaction() as db:
            files = _shard_files(db, "job_id = ?", (job_id,))
            db.execute("DELETE FROM shards WHERE job_id = ?", (job_id,))
            self._delete_jobs(db, [job_id], counted_as=counted_as)
        return files

    def prune(self, max_rows: int = PRUNE_BATCH_ROWS) -> Pruned:
        """Delete what the retention rules (module docstring) let go, at most `max_rows` rows
        of each table; `more` says another call has more to delete."""
        now = self._clock()
        with self._transaction() as db:
            # Shards first: a job row goes only once its shard rows are gone.
            shard_rows = db.execute(
                "SELECT s.rowid, s.checkpoint, s.partial FROM jobs j INDEXED BY jobs_by_state"
                f" CROSS JOIN shards s ON s.job_id = j.id WHERE j.{FINISHED}"
                " AND (j.filler = 1 OR j.finished < ?) LIMIT ?",
                (now - FINISHED_SHARDS_RETENTION_S, max_rows),
            ).fetchall()
            db.executemany("DELETE FROM shards WHERE rowid = ?", [(r[0],) for r in shard_rows])
            doomed = db.execute(
                "SELECT j.id FROM jobs j INDEXED BY jobs_by_state"
                " LEFT JOIN remote_jobs r ON r.job_id = j.id"
                f" WHERE j.{FINISHED} AND (j.filler = 1"
                "  OR (r.job_id IS NULL AND j.finished < ?)"
                "  OR (r.result_published = 1 AND j.finished < ?)"
                "  OR (r.result_published = 0 AND j.finished < ?))"
                " AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.job_id = j.id) LIMIT ?",
                (
                    now - LOCAL_JOB_RETENTION_S,
                    now - PUBLISHED_JOB_RETENTION_S,
                    now - UNPUBLISHED_JOB_RETENTION_S,
                    max_rows,
                ),
            ).fetchall()
            self._delete_jobs(db, [str(row[0]) for row in doomed])
        files = [path for row in shard_rows for path in (row[1], row[2]) if path]
        more = len(shard_rows) == max_rows or len(doomed) == max_rows
        return Pruned(jobs=len(doomed), shards=len(shard_rows), files=files, more=more)

    def _delete_jobs(
        self, db: sqlite3.Connection, job_ids: list[str], counted_as: JobState | None = None
    ) -> None:
        for job_id in job_ids:
            row = db.execute("SELECT state, filler FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                continue
            state = row[0] if counted_as is None else counted_as.value
            db.execute(
                "INSERT INTO pruned_jobs (state, filler, count) VALUES (?, ?, 1)"
                " ON CONFLICT (state, filler) DO UPDATE SET count = count + 1",
                (state, row[1]),
            )
            db.execute("DELETE FROM remote_jobs WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def _refresh_job_state(self, db: sqlite3.Connection, job_id: str) -> None:
        running = db.execute(
            "SELECT 1 FROM shards WHERE job_id = ? AND state = 'running'", (job_id,)
        ).fetchone()
        if running is None:
            db.execute(
                "UPDATE jobs SET state = 'preempted', updated = ?"
                " WHERE id = ? AND state = 'running'",
                (self._clock(), job_id),
            )


def _shard_files(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> list[str]:
    rows = db.execute(f"SELECT checkpoint, partial FROM shards WHERE {where}", args).fetchall()
    return [path for row in rows for path in row if path]


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # a finished job survives a power cut
    db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
    migrate(db, path, MIGRATIONS)
