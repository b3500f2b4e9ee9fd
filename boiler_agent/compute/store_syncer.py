"""Makes the agent's job-store commits durable on a thread of its own, not the control loop's.

With `synchronous=FULL` every commit fsyncs the WAL on the committing thread: the control loop,
which must never wait on a slow SD card. The agent's store commits with `synchronous=NORMAL`
(still safe against a crash or a kill: the WAL is in the OS's cache, and SQLite's WAL mode stays
consistent) and never checkpoints itself (`wal_autocheckpoint=0`); this thread checkpoints it
every `every_s` on its own connection, which syncs the WAL and then the database file. A commit
is thus durable against a power cut within about `every_s`, and the loop does no fsync.

SQLite's own checkpoint does the work (a PASSIVE one never blocks the writer); a checkpoint
that fails (a full disk) is counted and logged once per outage, and the next one tries again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SYNC_EVERY_S = 1.0


class StoreSyncer:
    def __init__(self, path: Path, every_s: float = SYNC_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.checkpoints = 0  # checkpoints done (each syncs what was committed before it)
        self.errors = 0
        self._failing = False
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.execute("PRAGMA synchronous=FULL")  # this connection's checkpoints sync
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="job-store-sync", daemon=True)
        self._thread.start()

    def sync(self) -> bool:
        """Checkpoint now (on the caller's thread); False when it failed."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as error:
                self.errors += 1
                if not self._failing:
                    self._failing = True
                    log.error("job store %s: cannot sync to disk (%s); retrying", self.path, error)
                return False
            if self._failing:
                self._failing = False
                log.warning("job store %s: synced to disk again", self.path)
            self.checkpoints += 1
            return True

    def close(self) -> None:
        """A last checkpoint: everything committed before is on disk when this returns."""
        self._stop.set()
        self._thread.join(timeout=10.0)
        self.sync()
        with self._lock:
            self._db.close()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sync()
