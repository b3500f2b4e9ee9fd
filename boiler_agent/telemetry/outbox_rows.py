"""The outbox's rows: the SQLite schema, the priority classes, a message, the counts.

Also which rows go when the outbox is full (`rows_to_drop`): bulk rows first, then state,
events last, the oldest first within a class, and only as many as the excess needs: a safety
trip must outlive a day of telemetry.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import IntEnum

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    created REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    correlation BLOB,
    replayable INTEGER NOT NULL DEFAULT 0,
    stream TEXT,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS messages_by_order ON messages(priority, id);
CREATE INDEX IF NOT EXISTS messages_by_topic ON messages(topic) WHERE retain = 1;
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

NOT_STORED = -1  # what `put` and `put_numbered` return for a message the disk did not take
WRITE_FAILED = "write_failed"  # the drop reason of those messages
DROP_PAGE_ROWS = 256  # rows looked at per query when the outbox is full
# Rows whose age can be told: made by this run (the monotonic clock measured them), or dated
# by a set clock when now is set too. Arguments: the last id before this run, BUILD_DATE_S,
# whether now is set.
AGE_KNOWN = "(id > ? OR (created >= ? AND ? = 1))"

# Migration i takes a file from schema version i to i+1 (runtime/sqlite_schema.py):
# append a step for every change, never edit one that has shipped.
MIGRATIONS = (SCHEMA_V1,)


class Priority(IntEnum):
    """Send order after an outage: lower first."""

    EVENT = 0
    STATE = 1  # birth, state, discovery, command replies: small and latest-wins
    BULK = 2  # telemetry, job status and results


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    priority: Priority
    created: float
    topic: str
    payload: bytes
    qos: int
    retain: bool
    correlation: bytes | None
    replayable: bool  # the payload has a `historical` flag to set when it leaves late


@dataclass(frozen=True)
class OutboxStats:
    queued: int
    queued_bytes: int
    oldest_age_s: float | None
    dropped: dict[str, int]  # reason -> count, over the outbox's whole life

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def rows_to_drop(db: sqlite3.Connection, excess_bytes: int) -> list[int]:
    """Ids of the rows whose payloads cover `excess_bytes`, in the order they should go."""
    chosen: list[int] = []
    for priority in sorted(Priority, reverse=True):
        after = 0
        while excess_bytes > 0:
            # The (priority, id) index serves each page; the sizes say where to stop.
            page = db.execute(
                "SELECT id, LENGTH(payload) FROM messages WHERE priority = ? AND id > ?"
                " ORDER BY id LIMIT ?",
                (int(priority), after, DROP_PAGE_ROWS),
            ).fetchall()
            if not page:
                break
            for row_id, size in page:
                chosen.append(int(row_id))
                excess_bytes -= int(size)
                if excess_bytes <= 0:
                    return chosen
            after = int(page[-1][0])
    return chosen
