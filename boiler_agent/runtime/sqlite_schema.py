"""Versioned SQLite schemas for the state directory's databases, with a migration path.

Each database lists its migrations in order: migration i takes the file from version i to i+1,
and `PRAGMA user_version` records where a file stands. Version 1 is the schema every file had
before versions were recorded (created with IF NOT EXISTS, so it also fits an old file whose
user_version is still 0). A file from a newer agent is refused with a message that says so,
never half-migrated: a downgrade must not eat the job store.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

Migration = str | Callable[[sqlite3.Connection], None]  # a SQL script, or code for data moves


class SchemaVersionError(RuntimeError):
    """The file was written by a newer agent; the message is one line for the operator."""


def migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """Bring the open database up to `len(migrations)`; returns the version it had before."""
    latest = len(migrations)
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > latest:
        raise SchemaVersionError(
            f"{path} has schema version {found}, this agent knows up to {latest}: it was "
            "written by a newer boiler-agent; upgrade the agent, or move the file aside"
        )
    for version in range(found, latest):
        step = migrations[version]
        # One transaction per step: a crash mid-migration leaves the file at the last step.
        db.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                for statement in _statements(step):
                    db.execute(statement)
            else:
                step(db)
            db.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if found:  # a new file is created at the latest version: nothing worth saying
            log.info("%s: schema migrated from version %d to %d", path, version, version + 1)
    return found


def _statements(script: str) -> list[str]:
    """The statements of a DDL script (executescript would commit our transaction)."""
    return [part.strip() for part in script.split(";") if part.strip()]
