"""A corrupt state database is moved aside and replaced; nothing else is."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boiler_agent.runtime.sqlite_open import open_sqlite
from boiler_agent.runtime.sqlite_schema import SchemaVersionError, migrate

MIGRATIONS = ("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",)
NOON = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def _prepare(path: Path) -> object:
    def prepare(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        migrate(db, path, MIGRATIONS)

    return prepare


def _open(path: Path, **options: object) -> tuple[sqlite3.Connection, Path | None]:
    opened = open_sqlite(path, _prepare(path), wall_clock=lambda: NOON, **options)  # type: ignore[arg-type]
    return opened.db, opened.moved_aside


def _filled(path: Path, rows: int = 2000) -> None:
    db, _ = _open(path)
    db.execute("BEGIN")
    db.executemany("INSERT INTO items (body) VALUES (?)", [(bytes(500),)] * rows)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_a_sound_file_is_opened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _filled(path, rows=10)
    db, aside = _open(path)
    assert aside is None
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 10
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []


def test_garbage_is_moved_aside_with_a_warning_and_a_fresh_file_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    garbage = b"\x00\xffnot a database at all" * 500
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING):
        db, aside = _open(path)
    assert aside == tmp_path / "state.sqlite.corrupt-20260301T120000Z"
    assert aside.read_bytes() == garbage  # kept for a post-mortem
    db.execute("INSERT INTO items (body) VALUES (x'01')")
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "corrupt" in record.getMessage() and aside.name in record.getMessage()


def test_a_truncated_file_is_moved_aside_and_its_stale_wal_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _filled(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    wal = tmp_path / "state.sqlite-wal"
    wal.write_bytes(b"stale")
    db, aside = _open(path)
    assert aside is not None and aside.exists()
    # SQLite may drop a WAL it cannot use when the damaged file is closed; if it is still
    # there it went aside with its file: never does a stale WAL meet the fresh one.
    assert not wal.exists() or wal.read_bytes() != b"stale"
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0


def test_two_corrupt_files_in_one_second_keep_both(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"first" * 100)
    _open(path)[0].close()
    path.unlink()
    path.write_bytes(b"second" * 100)
    _, aside = _open(path)
    assert aside is not None and aside.name.endswith("-1")
    assert (tmp_path / "state.sqlite.corrupt-20260301T120000Z").read_bytes() == b"first" * 100


def test_a_file_from_a_newer_agent_stops_the_start_and_stays(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _filled(path, rows=1)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(SchemaVersionError):
        _open(path)
    assert path.exists() and not [p for p in tmp_path.iterdir() if "corrupt" in p.name]


def test_a_locked_file_is_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _filled(path, rows=1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _open(path, timeout_s=0.1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not [p for p in tmp_path.iterdir() if "corrupt" in p.name]
