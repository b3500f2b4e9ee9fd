"""The job desk on disk, so `fleet jobs` and `fleet cancel` work beside a running `fleet submit`.

One SQLite file (WAL: one writer, readers any time): `jobs(job_id, doc)` holds each job as
`FleetJob.as_dict()` plus its params and result; `cancels(job_id)` holds cancellations asked by
`fleet cancel`, which the submitting process picks up at its next turn.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from boiler_agent.fleet.dispatcher import FleetJob
from boiler_agent.runtime.sqlite_schema import migrate

MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS cancels (job_id TEXT PRIMARY KEY)
    """,
]


class JobFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        migrate(self.db, path, MIGRATIONS)

    def save(self, jobs: list[FleetJob]) -> None:
        rows = [(job.job_id, json.dumps(_doc(job))) for job in jobs]
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO jobs (job_id, doc) VALUES (?, ?)", rows)
        self.db.execute("COMMIT")

    def jobs(self) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT doc FROM jobs ORDER BY rowid")
        return [json.loads(doc) for (doc,) in cursor]

    def request_cancel(self, job_id: str) -> bool:
        """False when no such job is in the file."""
        known = self.db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if known is None:
            return False
        self.db.execute("INSERT OR IGNORE INTO cancels (job_id) VALUES (?)", (job_id,))
        return True

    def take_cancels(self) -> list[str]:
        self.db.execute("BEGIN IMMEDIATE")
        ids = [job_id for (job_id,) in self.db.execute("SELECT job_id FROM cancels")]
        self.db.execute("DELETE FROM cancels")
        self.db.execute("COMMIT")
        return ids

    def close(self) -> None:
        self.db.close()


def _doc(job: FleetJob) -> dict[str, Any]:
    return {**job.as_dict(), "params": job.params, "result": job.result}
