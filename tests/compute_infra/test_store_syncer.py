"""The agent's job store does no fsync on the control loop's thread, and loses nothing for it."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from boiler_agent.compute.jobs import validate_job
from boiler_agent.compute.store import JobStore

PARAMS = {
    "spot": 100.0,
    "strike": 105.0,
    "rate": 0.02,
    "volatility": 0.25,
    "maturity": 1.0,
    "paths": 100_000,
    "steps": 16,
}


def _job(job_id: str) -> object:
    return validate_job("option_mc", {**PARAMS, "seed": 1}, job_id=job_id)


def _ids_in_main_file_alone(store_path: Path, scratch: Path) -> set[str]:
    """What a power cut would leave if the WAL had not reached the disk: the main file only."""
    copy = scratch / "main-only.sqlite"
    shutil.copyfile(store_path, copy)
    db = sqlite3.connect(copy)
    try:
        return {row[0] for row in db.execute("SELECT id FROM jobs")}
    finally:
        db.close()


def test_commits_on_the_loop_do_not_sync_and_the_syncer_makes_them_durable(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite", sync_off_thread=True)
    try:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: no fsync
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert store.syncer is not None
        store.submit(_job("a"))  # type: ignore[arg-type]
        after_commit = store.syncer.checkpoints
        deadline = time.monotonic() + 30.0
        while store.syncer.checkpoints <= after_commit and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.syncer.checkpoints > after_commit
        assert "a" in _ids_in_main_file_alone(store.path, tmp_path)
        store.submit(_job("b"))  # type: ignore[arg-type]
    finally:
        store.close()
    # A clean stop syncs what is left.
    assert {"a", "b"} <= _ids_in_main_file_alone(tmp_path / "jobs.sqlite", tmp_path)


def test_a_store_without_the_syncer_syncs_every_commit_itself(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.syncer is None
    finally:
        store.close()


def test_a_failing_sync_is_counted_and_the_next_one_tries_again(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite", sync_off_thread=True)
    try:
        assert store.syncer is not None
        store.syncer._db.close()  # as good as a disk that fails: every checkpoint raises
        assert store.syncer.sync() is False
        assert store.syncer.errors >= 1
    finally:
        store.syncer = None  # its connection is gone
        store.close()
