"""The state directory's databases carry a schema version and migrate forward, never back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from boiler_agent.compute import store as store_module
from boiler_agent.compute.store import JobStore
from boiler_agent.runtime.sqlite_schema import SchemaVersionError, migrate
from boiler_agent.telemetry import outbox as outbox_module
from boiler_agent.telemetry.outbox import Outbox

STEPS = (
    "CREATE TABLE IF NOT EXISTS readings (at REAL NOT NULL)",
    "ALTER TABLE readings ADD COLUMN temp_c REAL; CREATE INDEX readings_at ON readings(at)",
)


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _version(path: Path) -> int:
    with _open(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_file_is_created_at_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    db = _open(path)
    assert migrate(db, path, STEPS) == 0
    db.execute("INSERT INTO readings (at, temp_c) VALUES (1.0, 20.5)")
    db.close()
    assert _version(path) == 2


def test_an_old_file_migrates_step_by_step_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = _open(path)
    migrate(db, path, STEPS[:1])  # what an older agent wrote
    db.execute("INSERT INTO readings (at) VALUES (7.0)")
    assert migrate(db, path, STEPS) == 1
    assert db.execute("SELECT at, temp_c FROM readings").fetchall() == [(7.0, None)]
    db.close()
    assert _version(path) == 2


def test_a_file_from_before_versions_counts_as_version_one(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with _open(path) as db:  # as the agent created it before versions were recorded
        db.executescript(store_module.SCHEMA_V1)
        db.execute(
            "INSERT INTO jobs (id, kernel, params, state, created, updated)"
            " VALUES ('j1', 'mandelbrot', '{}', 'queued', 0, 0)"
        )
    store = JobStore(path)
    assert store.get("j1") is not None
    store.close()
    assert _version(path) == len(store_module.MIGRATIONS)


def test_a_file_from_a_newer_agent_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite"
    with _open(path) as db:
        db.execute("PRAGMA user_version = 9")
    db = _open(path)
    with pytest.raises(SchemaVersionError, match=r"newer.sqlite has schema version 9.*up to 2"):
        migrate(db, path, STEPS)
    db.close()
    assert _version(path) == 9


def test_a_failing_step_leaves_the_file_at_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    db = _open(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, path, (*STEPS, "ALTER TABLE nowhere ADD COLUMN x"))
    db.close()
    assert _version(path) == 2


def test_the_job_store_and_the_outbox_record_their_versions(tmp_path: Path) -> None:
    JobStore(tmp_path / "jobs.sqlite").close()
    Outbox(tmp_path / "outbox.sqlite").close()
    assert _version(tmp_path / "jobs.sqlite") == len(store_module.MIGRATIONS)
    assert _version(tmp_path / "outbox.sqlite") == len(outbox_module.MIGRATIONS)
