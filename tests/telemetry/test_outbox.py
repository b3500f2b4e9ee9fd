from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from boiler_agent.telemetry.outbox import Outbox, Priority


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_messages_leave_only_when_acknowledged_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    ids = [box.put("t", f"m{i}".encode()) for i in range(5)]
    box.ack(ids[:2])
    box.close()

    reopened = Outbox(path)
    assert [m.payload for m in reopened.batch(10)] == [b"m2", b"m3", b"m4"]
    assert reopened.stats().queued == 3
    assert reopened.stats().queued_bytes == 6


def test_events_are_sent_before_a_telemetry_backlog(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for i in range(100):
        box.put("tel", f"t{i}".encode(), priority=Priority.BULK)
    box.put("ev", b"trip", priority=Priority.EVENT)
    box.put("state", b"s", priority=Priority.STATE, retain=True)
    first = box.batch(3)
    assert [m.payload for m in first] == [b"trip", b"s", b"t0"]
    # Rows already handed out are skipped with `after`, per class.
    nxt = box.batch(2, after={m.priority: m.id for m in first})
    assert [m.payload for m in nxt] == [b"t1", b"t2"]


def test_a_retained_message_replaces_the_unsent_one_on_its_topic(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("state", b"old", retain=True, priority=Priority.STATE)
    box.put("state", b"new", retain=True, priority=Priority.STATE)
    box.put("other", b"x", retain=True, priority=Priority.STATE)
    assert [m.payload for m in box.batch(10)] == [b"new", b"x"]
    assert box.stats().queued_bytes == 4


def test_size_bound_drops_the_oldest_first_and_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=1000)
    for i in range(300):
        box.put("t", f"{i:09d}".encode())  # 9 bytes each
    stats = box.stats()
    assert stats.queued_bytes <= 1000
    assert stats.dropped["size"] == 300 - stats.queued
    remaining = [int(m.payload) for m in box.batch(1000)]
    assert remaining == list(range(300 - stats.queued, 300))


def test_age_bound_drops_old_messages_and_the_count_persists(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_age_s=3600, clock=clock, monotonic=clock)
    box.put("t", b"old")
    clock.now += 3000
    box.put("t", b"young")
    clock.now += 1000
    assert box.expire() == 1
    assert [m.payload for m in box.batch(10)] == [b"young"]
    box.close()
    assert Outbox(path, clock=clock, monotonic=clock).stats().dropped == {"age": 1}


def test_numbered_messages_continue_after_a_restart_and_never_skip(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    got = [box.put_numbered("telemetry", "t", lambda n: str(n).encode()) for _ in range(3)]
    assert got == [0, 1, 2]

    def broken(_: int) -> bytes:
        raise RuntimeError("payload could not be built")

    with pytest.raises(RuntimeError):
        box.put_numbered("telemetry", "t", broken)
    box.close()

    reopened = Outbox(path)
    assert reopened.peek_counter("telemetry") == 3
    assert reopened.put_numbered("telemetry", "t", lambda n: str(n).encode()) == 3
    assert reopened.put_numbered("events", "e", lambda n: b"e") == 0
    assert [m.payload for m in reopened.batch(10) if m.topic == "t"] == [b"0", b"1", b"2", b"3"]


def test_acking_unknown_ids_is_harmless(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("t", b"x")
    assert box.ack([12345, 999]) == 0
    assert box.stats().queued == 1


def test_bad_bounds_are_refused_with_the_value(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes must be > 0, got 0"):
        Outbox(tmp_path / "o.sqlite", max_bytes=0)


def test_numbering_continues_after_every_row_left_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_bytes=100)
    for _ in range(5):
        box.put_numbered("telemetry", "t", lambda n: f"{n:09d}".encode())
    box.ack(m.id for m in box.batch(10))  # acknowledged: deleted
    for _ in range(30):  # 9 bytes each: the oldest are dropped for size
        box.put_numbered("events", "e", lambda n: f"{n:09d}".encode())
    assert box.stats().dropped["size"] > 0
    box.close()
    reopened = Outbox(path, max_bytes=100)
    assert reopened.peek_counter("telemetry") == 5
    assert reopened.peek_counter("events") == 30
    reopened.ack(m.id for m in reopened.batch(100))
    reopened.close()
    assert Outbox(path).put_numbered("events", "e", lambda n: b"x") == 30


def test_a_full_outbox_drops_bulk_first_then_state_and_events_last(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=2000)
    classes = (Priority.EVENT, Priority.BULK, Priority.BULK, Priority.STATE, Priority.BULK)
    for i in range(400):  # 10 bytes each: 4000 bytes offered to a 2000-byte outbox
        priority = classes[i % len(classes)]
        box.put(f"t/{priority.name}", f"{priority.name[0]}{i:09d}".encode(), priority=priority)
        kept = Counter(row.priority for row in box.batch(1000))
        if kept[Priority.BULK]:
            assert kept[Priority.EVENT] == sum(1 for j in range(i + 1) if j % 5 == 0), (
                f"an event was dropped while {kept[Priority.BULK]} bulk rows were kept"
            )
    rows = box.batch(1000)
    stats = box.stats()
    assert stats.queued_bytes <= 2000
    assert stats.dropped["size"] == 400 - stats.queued
    events = [m.payload for m in rows if m.priority == Priority.EVENT]
    assert len(events) == 80  # every event survived
    # What is left of each class is its newest rows, still in order.
    bulk = [int(m.payload[1:]) for m in rows if m.priority == Priority.BULK]
    assert bulk == sorted(bulk)


def _fill_the_disk(box: Outbox) -> None:
    """SQLite's page limit stands for a full disk: no page more can be written."""
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_drops_and_counts_messages_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("t", b"before")
    _fill_the_disk(box)
    with caplog.at_level(logging.WARNING, logger="boiler_agent.telemetry.outbox"):
        for i in range(50):
            box.put("t", b"x" * 4000)
            box.put_numbered("telemetry", "t", lambda n: b"y" * 4000)
            box.put("e", f"event {i}".encode(), priority=Priority.EVENT)
    failed = box.stats().dropped.get("write_failed", 0)
    assert failed > 0, box.stats()
    assert box.writes_failing
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # once per outage
    assert "database or disk is full" in errors[0].getMessage()
    assert "cannot rollback" not in errors[0].getMessage()
    # The numbering skips nothing: a number whose message was dropped is used again.
    stored = [m for m in box.batch(1000) if m.topic == "t" and m.payload.startswith(b"y")]
    numbers_used = len(stored)
    assert box.peek_counter("telemetry") == numbers_used

    box._db.execute("PRAGMA max_page_count = 1073741823")  # room again
    with caplog.at_level(logging.INFO, logger="boiler_agent.telemetry.outbox"):
        box.put("t", b"after")
    assert [m.payload for m in box.batch(1000)][-1] == b"after"
    assert any("works again after" in r.getMessage() for r in caplog.records)
    assert not box.writes_failing
    box.close()
    assert Outbox(tmp_path / "o.sqlite").dropped()["write_failed"] == failed  # persisted


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_outbox_is_moved_aside_and_replaced_at_start(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"
    if damage == "garbage":
        path.write_bytes(b"\x13\x37 this was never SQLite " * 400)
    else:
        box = Outbox(path)
        for i in range(3000):
            box.put("t", f"{i:0500d}".encode())
        box.close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        box = Outbox(path)
    assert box.corrupt_moved_to is not None
    assert box.corrupt_moved_to.name.startswith("outbox.sqlite.corrupt-")
    assert box.corrupt_moved_to.exists()
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert box.stats().queued == 0
    assert box.put("t", b"fresh") > 0
    box.close()
    again = Outbox(path)
    assert again.corrupt_moved_to is None  # the fresh file is sound
    assert [m.payload for m in again.batch(10)] == [b"fresh"]


class Clocks:
    """A wall clock that can step, and the monotonic clock that never does."""

    def __init__(self, wall: float) -> None:
        self.wall_s = wall
        self.mono_s = 100.0

    def wall(self) -> float:
        return self.wall_s

    def monotonic(self) -> float:
        return self.mono_s

    def advance(self, seconds: float) -> None:
        self.wall_s += seconds
        self.mono_s += seconds


UNSET = 1_000_000.0  # 1970-01-12: a heater without a clock battery, before NTP answered
SET = 1_800_000_000.0  # 2027-01-15
FIFTY_YEARS_S = 50 * 365.25 * 86400


def test_a_heater_booting_in_1970_and_stepping_50_years_loses_no_backlog(tmp_path: Path) -> None:
    clocks = Clocks(UNSET)
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_age_s=3600, clock=clocks.wall, monotonic=clocks.monotonic)
    for i in range(10):
        box.put("t", f"m{i}".encode(), replayable=True)
        clocks.advance(60)
    clocks.wall_s += FIFTY_YEARS_S  # NTP answers
    clocks.advance(60)
    assert box.expire() == 0
    box.put("t", b"after")
    stats = box.stats()
    assert stats.queued == 11 and stats.dropped == {}
    # Ages are what the monotonic clock measured: ten minutes, not fifty years.
    assert stats.oldest_age_s is not None and 600 <= stats.oldest_age_s <= 700
    clocks.advance(3000)  # an hour after the first message: now it is old
    assert box.expire() == 1
    box.close()

    clocks.advance(30)  # a restart on the real clock: the rows' ages survive it
    reopened = Outbox(path, max_age_s=3600, clock=clocks.wall, monotonic=lambda: 5.0)
    assert reopened.expire() == 0
    assert reopened.stats().queued == 10


def test_rows_made_while_the_clock_was_unset_are_not_aged_after_a_restart(tmp_path: Path) -> None:
    clocks = Clocks(UNSET)
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_age_s=3600, clock=clocks.wall, monotonic=clocks.monotonic)
    box.put("t", b"made in 1970")
    box.close()  # the agent stopped before the clock was ever set
    later = Clocks(SET)
    reopened = Outbox(path, max_age_s=3600, clock=later.wall, monotonic=later.monotonic)
    assert reopened.expire() == 0  # its age is unknown, not 57 years
    assert [m.payload for m in reopened.batch(10)] == [b"made in 1970"]
    assert reopened.stats().oldest_age_s is None
    reopened.put("t", b"new")
    later.advance(7200)
    assert reopened.expire() == 1  # a dated row still ages
    assert [m.payload for m in reopened.batch(10)] == [b"made in 1970"]


def test_a_wall_clock_step_back_does_not_make_rows_younger_forever(tmp_path: Path) -> None:
    clocks = Clocks(SET + FIFTY_YEARS_S)  # a clock battery that said 2077
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_age_s=3600, clock=clocks.wall, monotonic=clocks.monotonic)
    box.put("t", b"x")
    clocks.wall_s = SET  # NTP steps back
    clocks.advance(3601)
    assert box.expire() == 1
