"""The job store's SQLite schema and its ordered migrations (runtime/sqlite_schema.py runs them)."""

from __future__ import annotations

from boiler_agent.runtime.sqlite_schema import Migration

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

# Version 2:
# - a shard's `attempts` counts failed runs only (its worker died, its result could not be
#   saved), no longer every start: the old counts meant starts (pauses included), so they are
#   forgotten for the shards still to run (only those: a large old file is scanned, not
#   rewritten);
# - the next shard to run and "is there real work" are index lookups, whatever the queue's size:
#   unfinished jobs in run order (a partial index, ties in submission order: the rowid that
#   ends every index entry), then their runnable shards in shard order;
# - finished jobs by state and age, for the counts and for pruning; fleet jobs whose result
#   is not published yet, for the loop's look at them every turn;
# - how many jobs pruning deleted, by state, so the done and failed counts never go down.
SCHEMA_V2 = """
UPDATE shards SET attempts = 0
    WHERE attempts != 0 AND state IN ('queued', 'running', 'preempted');
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs(filler, created)
    WHERE state IN ('queued', 'running', 'preempted');
CREATE INDEX IF NOT EXISTS shards_runnable ON shards(job_id, idx)
    WHERE state IN ('queued', 'preempted');
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, filler, finished);
CREATE INDEX IF NOT EXISTS remote_unpublished ON remote_jobs(job_id) WHERE result_published = 0;
CREATE TABLE IF NOT EXISTS pruned_jobs (
    state TEXT NOT NULL,
    filler INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (state, filler)
);
"""

# Version 3: local work first. A job from the fleet is marked in `jobs.remote` (it was only in
# `remote_jobs`), and the run order is filler last, fleet jobs after local ones, then oldest
# first: a building's own compute runs before what it offers the community. Still one index.
SCHEMA_V3 = """
ALTER TABLE jobs ADD COLUMN remote INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET remote = 1 WHERE id IN (SELECT job_id FROM remote_jobs);
DROP INDEX IF EXISTS jobs_runnable;
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs(filler, remote, created)
    WHERE state IN ('queued', 'running', 'preempted')
"""

# Migration i takes a file from schema version i to i+1 (runtime/sqlite_schema.py):
# append a step for every change, never edit one that has shipped.
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1, SCHEMA_V2, SCHEMA_V3)
