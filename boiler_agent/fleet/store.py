"""`fleet record`'s embedded store: every message a fleet sent, in one SQLite file.

Schema (version 1; `PRAGMA user_version`, migrated like the agent's own databases):

    messages(
        id          INTEGER PRIMARY KEY,  -- arrival order
        received_at REAL    NOT NULL,     -- the recorder's clock, Unix seconds
        fleet       TEXT    NOT NULL,
        heater      TEXT,                 -- NULL for the fleet's job queue (offers)
        kind        TEXT    NOT NULL,     -- availability, birth, state, telemetry, events,
                                          -- job_status, job_result, offer
        job_id      TEXT,
        boot_id     TEXT,                 -- telemetry and events: the agent's run
        seq         INTEGER,              -- ... and their place in the stream
        msg_id      TEXT UNIQUE,          -- de-duplication: a redelivery is not stored twice
        historical  INTEGER NOT NULL,     -- 1: sent late from the heater's outbox
        retained    INTEGER NOT NULL,     -- 1: the broker's retained copy, not a new message
        ts          TEXT,                 -- when the heater made it (ISO 8601), if it says
        body        TEXT    NOT NULL      -- the JSON as received (availability: {"value": ...})
    )

What it holds is personal data: a heater's heat demand and setpoint over time show when its
occupants are home, asleep or away. `--retention-days` deletes what is older (default 30 days);
keep it as short as the use allows, and the file where only the operator can read it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from boiler_agent.fleet.messages import FleetMessage
from boiler_agent.runtime.sqlite_schema import migrate

MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY,
        received_at REAL NOT NULL,
        fleet TEXT NOT NULL,
        heater TEXT,
        kind TEXT NOT NULL,
        job_id TEXT,
        boot_id TEXT,
        seq INTEGER,
        msg_id TEXT UNIQUE,
        historical INTEGER NOT NULL,
        retained INTEGER NOT NULL,
        ts TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS messages_by_heater ON messages (heater, kind, id);
    CREATE INDEX IF NOT EXISTS messages_by_time ON messages (received_at)
    """,
]
DAY_S = 86_400.0


class FleetStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # a recorder's crash may lose a second
        migrate(self.db, path, MIGRATIONS)
        self.duplicates = 0

    def add(self, messages: Iterable[FleetMessage], received_at: float) -> int:
        """Store the messages in one transaction; returns how many were new (not duplicates)."""
        rows = [_row(message, received_at) for message in messages]
        if not rows:
            return 0
        before = self.db.total_changes
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT OR IGNORE INTO messages (received_at, fleet, heater, kind, job_id,"
                " boot_id, seq, msg_id, historical, retained, ts, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        added = self.db.total_changes - before
        self.duplicates += len(rows) - added
        return added

    def prune(self, now_s: float, retention_days: float) -> int:
        """Delete what is older than the retention; returns how many rows went."""
        cursor = self.db.execute(
            "DELETE FROM messages WHERE received_at < ?", (now_s - retention_days * DAY_S,)
        )
        return cursor.rowcount

    def messages(self) -> Iterator[FleetMessage]:
        """Every stored message, in arrival order, as a consumer saw it."""
        cursor = self.db.execute(
            "SELECT fleet, heater, kind, job_id, retained, body FROM messages ORDER BY id"
        )
        for fleet, heater, kind, job_id, retained, body in cursor:
            yield FleetMessage("", fleet, heater, kind, job_id, json.loads(body), bool(retained))

    def telemetry(self, heater: str) -> Iterator[dict[str, Any]]:
        cursor = self.db.execute(
            "SELECT body FROM messages WHERE heater = ? AND kind = 'telemetry' ORDER BY id",
            (heater,),
        )
        for (body,) in cursor:
            yield json.loads(body)

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def _row(message: FleetMessage, received_at: float) -> tuple[Any, ...]:
    body = message.body
    sequenced = message.sequenced
    seq = body.get("seq") if sequenced and isinstance(body.get("seq"), int) else None
    msg_id = body.get("msg_id") if isinstance(body.get("msg_id"), str) else None
    if message.retained:
        msg_id = None  # the retained copy of a message already stored under its msg_id
    return (
        received_at,
        message.fleet,
        message.heater,
        message.kind,
        message.job_id,
        str(body["boot_id"]) if sequenced else None,
        seq,
        msg_id,
        int(bool(body.get("historical", False))),
        int(message.retained),
        str(body["ts"]) if isinstance(body.get("ts"), str) else None,
        json.dumps(body, separators=(",", ":")),
    )
