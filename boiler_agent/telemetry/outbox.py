"""The on-disk outbox: every MQTT message is stored here first and leaves only when acknowledged.

paho keeps unsent messages in memory only (paho.mqtt.python issue #634), so a broker outage
longer than the agent's life, or an agent crash, would lose them. Each message is a row of a
SQLite database in WAL mode; the sender hands rows to paho and deletes a row when the broker's
PUBACK for it arrives. After an outage or a restart the rows still here are sent again, in order.

Order and fairness: rows are sent by priority class, then in insertion order. Events come before
state and birth, which come before telemetry and job traffic, so a day of backlogged telemetry
never delays a safety trip. Within one class the order is the order of `put`.

Bounds: total payload bytes and age. When the outbox is full, bulk rows (telemetry, job
traffic) are dropped first, then state, events last, the oldest first within a class; rows past
the age bound are dropped whatever their class. Every drop is counted by reason in a persisted
counter.

Sequence numbers: `put_numbered` stores the row with its stream and number in one insert. The
next number of a stream is one past the highest of (the numbers still in the table, the number
recorded when rows of that stream were deleted); every deletion records it in the same
transaction. So a number is never used twice nor skipped, across crashes and restarts, without
a second write per message (a counter row updated per message costed a third of a put).

A failing disk (full, I/O errors) never raises into the callers: `put` drops the message, counts
it (reason `write_failed`, persisted once the disk takes writes again) and says so once per
outage; the real SQLite error is what is logged.

Ages: a row's `created` is wall-clock time, so that ages survive a restart, but measured on the
monotonic clock within a run (`run_clock.py`): when the wall clock steps (NTP answering a heater
that booted in 1970), the rows of this run are shifted by the step and nothing ages. A row from
an earlier run made while the clock was plainly unset (before the build date) has no known
age: it is never expired by age, only by size, and leaves as `historical`.

Durability: WAL with synchronous=NORMAL survives a crash or a kill of the agent (SQLite's
guarantee for WAL); a power cut may lose the last transactions. FULL would cost one fsync per
message on the heater's flash, for telemetry that is superseded every few seconds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from boiler_agent.runtime.sqlite_open import open_sqlite
from boiler_agent.runtime.sqlite_schema import migrate
from boiler_agent.telemetry.outage import Outage
from boiler_agent.telemetry.outbox_rows import (
    AGE_KNOWN,
    DROP_PAGE_ROWS,
    MIGRATIONS,
    NOT_STORED,
    WRITE_FAILED,
    OutboxMessage,
    OutboxStats,
    Priority,
    rows_to_drop,
)
from boiler_agent.telemetry.run_clock import RunClock
from boiler_agent.telemetry.wall_clock import BUILD_DATE_S, clock_is_set

__all__ = ["NOT_STORED", "Outbox", "OutboxMessage", "OutboxStats", "Priority"]

log = logging.getLogger(__name__)


class Outbox:
    """A thread-safe store-and-forward queue of MQTT messages in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_age_s: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes!r}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s!r}")
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._time = RunClock(clock, monotonic)
        self.monotonic = monotonic  # the run's own clock: the sender's expiry follows it too
        self._lock = threading.Lock()
        # One connection shared under our own lock: callers are the control loop (put) and the
        # sender thread (batch, ack); SQLite's own locking would only add busy-waits.
        opened = open_sqlite(path, self._prepare, check_same_thread=False, wall_clock=clock)
        self._db = opened.db
        # Where a corrupt outbox went at start (its messages are lost): the daemon's event.
        self.corrupt_moved_to: Path | None = opened.moved_aside
        self._queued_bytes = 0
        self._recount_bytes()
        self._next: dict[str, int] = {}  # stream -> next number, loaded on first use
        self._outage = Outage(f"outbox {path}", log)
        self._unrecorded_failures = 0  # dropped while the disk took no writes, not yet persisted
        self._last_stats = OutboxStats(0, 0, None, {})  # reported while the file cannot be read
        self._last_drops: list[Any] = []
        # Rows with a larger id were made by this run: their ages are the monotonic clock's.
        self._run_after_id = int(
            self._db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
        )

    def _prepare(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db, self.path, MIGRATIONS)

    # -- writing ----------------------------------------------------------------------------

    def put(
        self,
        topic: str,
        payload: bytes,
        *,
        priority: Priority = Priority.BULK,
        qos: int = 1,
        retain: bool = False,
        correlation: bytes | None = None,
        replayable: bool = False,
    ) -> int:
        """Store one message; a retained message replaces unsent ones on the same topic.

        Returns its row id, or NOT_STORED when the disk failed (the message is dropped, counted).
        """
        with self._lock:
            try:
                self._follow_the_wall_clock()
                with self._transaction():
                    row_id = self._insert(
                        topic, payload, priority, qos, retain, correlation, replayable
                    )
                    self._record_failures()
            except sqlite3.DatabaseError as error:
                self._write_failed(error)
                return NOT_STORED
            self._write_succeeded()
            return row_id

    def put_numbered(
        self,
        counter: str,
        topic: str,
        build: Callable[[int], bytes],
        *,
        priority: Priority = Priority.BULK,
        qos: int = 1,
        replayable: bool = False,
    ) -> int:
        """Allocate the next number of `counter` and store `build(number)` atomically.

        Returns the number, or NOT_STORED when the disk failed: the message is dropped and
        counted, and its number is given to the next message (the stream has no gap). `build`
        must not raise for a valid number; if it does, nothing is stored and the number is not
        used.
        """
        with self._lock:
            try:
                self._follow_the_wall_clock()
                number = self._next_number(counter)
                with self._transaction():
                    payload = build(number)
                    self._insert(
                        topic, payload, priority, qos, False, None, replayable, (counter, number)
                    )
                    self._record_failures()
            except sqlite3.DatabaseError as error:
                self._write_failed(error)
                return NOT_STORED
            self._write_succeeded()
            self._next[counter] = number + 1
            return number

    def peek_counter(self, counter: str) -> int:
        """The next number `put_numbered` would allocate for `counter`."""
        with self._lock:
            return self._next_number(counter)

    def _next_number(self, stream: str) -> int:
        if stream not in self._next:
            recorded = self._db.execute(
                "SELECT value FROM counters WHERE name = ?", (stream,)
            ).fetchone()
            queued = self._db.execute(
                "SELECT MAX(seq) FROM messages WHERE stream = ?", (stream,)
            ).fetchone()
            self._next[stream] = max(
                int(recorded[0]) if recorded else 0,
                int(queued[0]) + 1 if queued[0] is not None else 0,
            )
        return self._next[stream]

    def _forget(self, removed: list[Any]) -> None:
        """Rows (stream, seq, size) just deleted: keep the byte count and the numbering right."""
        self._queued_bytes -= sum(int(size) for _, _, size in removed)
        highest: dict[str, int] = {}
        for stream, seq, _ in removed:
            if stream is not None:
                highest[stream] = max(highest.get(stream, -1), int(seq))
        for stream, seq in highest.items():
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
                (stream, seq + 1),
            )

    def _insert(  # noqa: PLR0917 -- private, called with the public methods' keywords
        self,
        topic: str,
        payload: bytes,
        priority: Priority,
        qos: int,
        retain: bool,
        correlation: bytes | None,
        replayable: bool,
        numbered: tuple[str, int] | None = None,
    ) -> int:
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, got {qos!r}")
        if retain:
            # Only the newest retained value matters: older unsent ones would only be overwritten.
            removed = self._db.execute(
                "DELETE FROM messages WHERE retain = 1 AND topic = ?"
                " RETURNING stream, seq, LENGTH(payload)",
                (topic,),
            ).fetchall()
            self._forget(removed)
        cursor = self._db.execute(
            "INSERT INTO messages (priority, created, topic, payload, qos, retain, correlation,"
            " replayable, stream, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                int(priority),
                self._time.now(),
                topic,
                payload,
                qos,
                int(retain),
                correlation,
                int(replayable),
                numbered[0] if numbered else None,
                numbered[1] if numbered else None,
            ),
        )
        self._queued_bytes += len(payload)
        if self._queued_bytes > self.max_bytes:
            self._drop_oldest_until_within_size()
        row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    def _follow_the_wall_clock(self) -> None:
        """After a step of the wall clock, shift this run's rows with it: their ages stay."""
        stepped = self._time.step()
        if not stepped:
            return
        with self._transaction():
            shifted = self._db.execute(
                "UPDATE messages SET created = created + ? WHERE id > ?",
                (stepped, self._run_after_id),
            ).rowcount
        self._time.follow(stepped)
        log.info(
            "outbox: the wall clock stepped by %+.0f s; %d messages of this run keep their ages",
            stepped,
            shifted,
        )

    def _write_failed(self, error: sqlite3.DatabaseError) -> None:
        if isinstance(error, sqlite3.ProgrammingError | sqlite3.IntegrityError):
            raise error  # our bug (a closed outbox, a broken constraint), not the disk's
        self._unrecorded_failures += 1
        self._outage.failed(error, "messages are dropped and counted")

    def _record_failures(self) -> None:
        """In the transaction of a write that worked: persist the drops of the outage before."""
        self._count_drops(WRITE_FAILED, self._unrecorded_failures)

    def _write_succeeded(self) -> None:
        self._unrecorded_failures = 0  # committed with the write
        self._outage.recovered()

    def _count_drops(self, reason: str, count: int) -> None:
        if count:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (f"dropped:{reason}", count),
            )

    def _drop_oldest_until_within_size(self) -> None:
        """Drop bulk rows first, then state, events last; the oldest first within a class."""
        chosen = rows_to_drop(self._db, self._queued_bytes - self.max_bytes)
        dropped = 0
        for start in range(0, len(chosen), DROP_PAGE_ROWS):
            page = chosen[start : start + DROP_PAGE_ROWS]
            rows = self._db.execute(
                f"DELETE FROM messages WHERE id IN ({','.join('?' * len(page))})"
                " RETURNING stream, seq, LENGTH(payload)",
                page,
            ).fetchall()
            dropped += len(rows)
            self._forget(rows)
        self._count_drops("size", dropped)

    # -- sending ----------------------------------------------------------------------------

    def batch(self, limit: int, after: dict[int, int] | None = None) -> list[OutboxMessage]:
        """The next `limit` messages to send, in send order.

        `after` maps a priority class to the highest row id already handed to the transport
        in that class, so rows in flight are not fetched twice.
        """
        after = after or {}
        # One query over the three classes: the (priority, id) index serves the ORDER BY.
        condition = " OR ".join("(priority = ? AND id > ?)" for _ in Priority)
        arguments: list[int] = []
        for priority in Priority:
            arguments += [int(priority), after.get(int(priority), 0)]
        with self._lock:
            rows = self._db.execute(
                "SELECT id, priority, created, topic, payload, qos, retain, correlation,"
                f" replayable FROM messages WHERE {condition} ORDER BY priority, id LIMIT ?",
                (*arguments, limit),
            ).fetchall()
        out = [
            OutboxMessage(
                id=row[0],
                priority=Priority(row[1]),
                created=row[2],
                topic=row[3],
                payload=bytes(row[4]),
                qos=row[5],
                retain=bool(row[6]),
                correlation=None if row[7] is None else bytes(row[7]),
                replayable=bool(row[8]),
            )
            for row in rows
        ]
        return out

    def ack(self, ids: Iterable[int]) -> int:
        """Forget acknowledged messages; unknown ids (dropped meanwhile) are ignored."""
        id_list = list(ids)
        if not id_list:
            return 0
        removed_count = 0
        with self._lock, self._transaction():
            for start in range(0, len(id_list), 500):
                chunk = id_list[start : start + 500]
                marks = ",".join("?" * len(chunk))
                removed = self._db.execute(
                    f"DELETE FROM messages WHERE id IN ({marks})"
                    " RETURNING stream, seq, LENGTH(payload)",
                    chunk,
                ).fetchall()
                removed_count += len(removed)
                self._forget(removed)
        return removed_count

    def expire(self) -> int:
        """Drop messages older than `max_age_s` (of those whose age is known); returns how many."""
        with self._lock, self._transaction():
            now = self._time.now()  # under the lock: never between a clock step and its shift
            removed = self._db.execute(
                f"DELETE FROM messages WHERE created < ? AND {AGE_KNOWN}"
                " RETURNING stream, seq, LENGTH(payload)",
                (now - self.max_age_s, *self._age_known_arguments(now)),
            ).fetchall()
            self._forget(removed)
            self._count_drops("age", len(removed))
        return len(removed)

    # -- reporting --------------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        """Counts for telemetry and status (counting the rows reads the whole table).

        A database that cannot be read gives the last counts it gave: reporting must not raise.
        """
        try:
            with self._lock:
                now = self._time.now()
                count, oldest = self._db.execute(
                    f"SELECT COUNT(*), MIN(created) FILTER (WHERE {AGE_KNOWN}) FROM messages",
                    self._age_known_arguments(now),
                ).fetchone()
        except sqlite3.OperationalError as error:
            log.debug("outbox: cannot count the rows: %s", error)
            return replace(self._last_stats, dropped=self.dropped())
        self._last_stats = OutboxStats(
            queued=int(count),
            queued_bytes=self._queued_bytes,
            oldest_age_s=None if oldest is None else max(0.0, now - float(oldest)),
            dropped=self.dropped(),
        )
        return self._last_stats

    @property
    def writes_failing(self) -> bool:
        """The disk took no write since the last failure: an event about it would be lost too."""
        return self._outage.ongoing

    def age_s(self, message: OutboxMessage) -> float | None:
        """How old a message is; None when it was made by an earlier run with the clock unset."""
        now = self._time.now()
        if message.id > self._run_after_id or (clock_is_set(message.created) and clock_is_set(now)):
            return max(0.0, now - message.created)
        return None

    def _age_known_arguments(self, now: float) -> tuple[int, float, int]:
        return self._run_after_id, BUILD_DATE_S, int(clock_is_set(now))

    def dropped(self) -> dict[str, int]:
        """Messages dropped over the outbox's life, by reason (cheap: one small table)."""
        try:
            with self._lock:
                drops = self._db.execute(
                    "SELECT name, value FROM counters WHERE name LIKE 'dropped:%'"
                ).fetchall()
        except sqlite3.OperationalError as error:
            log.debug("outbox: cannot read the drop counters: %s", error)
            drops = self._last_drops
        self._last_drops = drops
        counts = {name.split(":", 1)[1]: int(value) for name, value in drops}
        if self._unrecorded_failures:  # not on disk yet: the disk took no writes
            counts[WRITE_FAILED] = counts.get(WRITE_FAILED, 0) + self._unrecorded_failures
        return counts

    def empty(self) -> bool:
        try:
            with self._lock:
                return self._db.execute("SELECT 1 FROM messages LIMIT 1").fetchone() is None
        except sqlite3.OperationalError:
            return False  # unknown: what is there stays for the next start

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back after some errors (a full disk among them): a
            # ROLLBACK then fails with "no transaction is active" and would hide the real error.
            with suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._recount_bytes()
            raise

    def _recount_bytes(self) -> None:
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM messages").fetchone()
        self._queued_bytes = int(row[0])
