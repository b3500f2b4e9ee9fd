"""The link's event queue: bounded, and readings make room before anything important does."""

from __future__ import annotations

import queue

import pytest

from firmware_bridge.events import EventQueue, LinkDown, Readings
from firmware_bridge.protocol import SensorKind, SensorStatus


def _readings(at: float) -> Readings:
    return Readings(
        at_s=at,
        sensors=(SensorKind.ROOM_AIR,),
        temps_c=(20.0,),
        statuses=(SensorStatus.OK,),
        heater_power_w=0,
        lease_active=False,
        shutdown=False,
        uptime_s=at,
    )


def test_full_queue_drops_the_oldest_reading_not_a_link_event() -> None:
    events = EventQueue(maxsize=3)
    events.put(LinkDown(0.0, "first"))
    events.put(_readings(1.0))
    events.put(_readings(2.0))
    events.put(LinkDown(3.0, "second"))
    got = [events.get_nowait() for _ in range(3)]
    assert got == [LinkDown(0.0, "first"), _readings(2.0), LinkDown(3.0, "second")]
    assert events.dropped == 1


def test_empty_queue_times_out() -> None:
    with pytest.raises(queue.Empty):
        EventQueue(maxsize=2).get(timeout=0.01)
