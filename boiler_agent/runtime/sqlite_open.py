"""Open a state database, or move a corrupt one aside and start afresh instead of crash-looping.

A heater's flash can hand back garbage after a power cut, and a file can be truncated by a full
disk or a careless copy. Refusing to start over such a file would put the agent in a restart
loop that no one on site can end; the data in it is lost either way. So a file SQLite calls
corrupt (or not a database at all) is renamed `<name>.corrupt-<UTC time>`, kept for a post-mortem
with its WAL, and a fresh file takes its place. Only corruption does this: a locked file, a
missing permission or a file from a newer agent (runtime/sqlite_schema.py) still stops the start.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

# SQLite's primary result codes that mean the bytes are wrong, not the circumstances.
CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
SIDECARS = ("-wal", "-shm", "-journal")  # a stale WAL must never meet a fresh file
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


class CorruptDatabase(sqlite3.DatabaseError):
    """PRAGMA quick_check found damage that opening the file did not."""


@dataclass(frozen=True)
class OpenedDatabase:
    db: sqlite3.Connection
    moved_aside: Path | None  # where a corrupt file went; None when the file was sound


def is_corruption(error: BaseException) -> bool:
    """Whether `error` says the file's bytes are damaged (not locked, not unreadable)."""
    if isinstance(error, CorruptDatabase):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.DatabaseError)
        and code is not None
        and code & 0xFF in (CORRUPT_CODES)
    )


def open_sqlite(
    path: Path,
    prepare: Callable[[sqlite3.Connection], None],
    *,
    check_same_thread: bool = True,
    timeout_s: float = 5.0,
    quick_check: bool = True,
    wall_clock: Callable[[], float] = time.time,
) -> OpenedDatabase:
    """Connect (autocommit mode) and run `prepare` (pragmas, migrations) on `path`.

    If the file is corrupt, it and its WAL are moved aside with a warning, and a fresh file is
    opened and prepared; `moved_aside` says where the old one went. `quick_check` reads every
    page once (tens of milliseconds for a 64 MB file) to find damage opening alone would miss.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return OpenedDatabase(
            _connect(path, prepare, check_same_thread, timeout_s, quick_check), None
        )
    except sqlite3.DatabaseError as error:
        if not is_corruption(error):
            raise
        reason = f"{type(error).__name__}: {error}"
    aside = move_aside(path, wall_clock())
    log.warning(
        "%s is corrupt (%s): moved aside to %s; starting with a fresh one", path, reason, aside.name
    )
    return OpenedDatabase(_connect(path, prepare, check_same_thread, timeout_s, False), aside)


def move_aside(path: Path, now_s: float) -> Path:
    """Rename `path` and its sidecar files to `<name>.corrupt-<UTC time>`; returns the new path."""
    stamp = datetime.fromtimestamp(now_s, tz=UTC).strftime(STAMP_FORMAT)
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    attempt = 1
    while aside.exists():  # two in one second: never overwrite the evidence of the first
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{attempt}")
        attempt += 1
    if path.exists():
        path.rename(aside)
    for suffix in SIDECARS:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            sidecar.rename(aside.with_name(aside.name + suffix))
    return aside


def _connect(
    path: Path,
    prepare: Callable[[sqlite3.Connection], None],
    check_same_thread: bool,
    timeout_s: float,
    quick_check: bool,
) -> sqlite3.Connection:
    db = sqlite3.connect(
        str(path), check_same_thread=check_same_thread, isolation_level=None, timeout=timeout_s
    )
    try:
        prepare(db)
        if quick_check:
            found = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if found != ["ok"]:
                raise CorruptDatabase("; ".join(str(problem) for problem in found[:3]))
    except BaseException:
        db.close()
        raise
    return db


def storage_failure(exc: sqlite3.Error) -> bool:
    """A failure of the disk or the file (full, I/O error, locked, corrupt, a write refused),
    not a bug of ours."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError
