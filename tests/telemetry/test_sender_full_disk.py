"""The sender on a disk that refuses writes: acknowledged rows are deleted once it can write,
never handed out twice in one run."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from boiler_agent.telemetry.client_types import ClientSettings, ClientStats
from boiler_agent.telemetry.config import BrokerUrl
from boiler_agent.telemetry.outbox import Outbox
from boiler_agent.telemetry.sender import OutboxSender

_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}


def _refuse_writes(action: int, *_: object) -> int:
    return sqlite3.SQLITE_DENY if action in _WRITES else sqlite3.SQLITE_OK


class RecordingPaho:
    """Takes publishes and remembers them; the test acknowledges them by mid."""

    def __init__(self) -> None:
        self.published: list[tuple[int, str, bytes]] = []
        self.condition = threading.Condition()

    def publish(self, topic: str, payload: bytes, **_: Any) -> SimpleNamespace:
        with self.condition:
            mid = len(self.published) + 1
            self.published.append((mid, topic, payload))
            self.condition.notify_all()
        return SimpleNamespace(mid=mid)

    def wait_for(self, count: int) -> list[tuple[int, str, bytes]]:
        with self.condition:
            assert self.condition.wait_for(lambda: len(self.published) >= count, timeout=10)
            return list(self.published)


def test_acks_on_a_full_disk_are_applied_when_it_frees_and_nothing_is_sent_twice(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    for i in range(3):
        box.put("heaters/h/events", f"event {i}".encode(), qos=1)
    paho = RecordingPaho()
    connected = threading.Event()
    connected.set()
    settings = ClientSettings(BrokerUrl("mqtt://127.0.0.1:1"), "h", "heaters/h/availability")
    stats = ClientStats()
    sender = OutboxSender(box, paho, settings, stats, connected=connected)  # type: ignore[arg-type]
    sender.start()
    try:
        published = paho.wait_for(3)
        with box._lock:
            box._db.set_authorizer(_refuse_writes)
        success = ReasonCode(PacketTypes.PUBACK, identifier=0)
        for mid, _, _ in published:
            sender.acked(mid, success)
        assert _wait(lambda: stats.acked == 3)
        assert box.stats().queued == 3
        with box._lock:
            box._db.set_authorizer(None)
        sender.wake()
        assert _wait(lambda: box.stats().queued == 0)
        assert len(paho.published) == 3  # nothing was handed out again
    finally:
        sender.stop()
    assert not sender._thread or not sender._thread.is_alive()


def _wait(condition: Any, timeout_s: float = 10.0) -> bool:
    done = threading.Event()
    deadline = threading.Timer(timeout_s, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if condition():
                return True
            done.wait(0.01)
        return bool(condition())
    finally:
        deadline.cancel()
