"""The fleet as its messages show it: de-duplication, gaps, the latest state per heater."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from boiler_agent.fleet.messages import FleetMessage, parse
from boiler_agent.fleet.streams import StreamTracker
from boiler_agent.fleet.view import FleetView
from boiler_agent.telemetry.payloads import dump
from tests.factories import NOW, birth, telemetry

BASE = "dh/v1/north/h1"


def _telemetry(seq: int, boot: str = "b1", **changes: Any) -> FleetMessage:
    at = NOW + timedelta(seconds=10 * seq)
    payload = telemetry(boot_id=boot, seq=seq, msg_id=f"{boot}-{seq}", ts=at, **changes)
    message = parse(f"{BASE}/telemetry", dump(payload))
    assert message is not None
    return message


def test_topics_outside_the_tree_and_bodies_that_are_not_objects_are_skipped() -> None:
    assert parse("dh/v1/north/h1/cmd/set_mode", b"{}") is None
    assert parse("other/north/h1/telemetry", b"{}") is None
    assert parse(f"{BASE}/telemetry", b"[1, 2]") is None
    assert parse(f"{BASE}/telemetry", b"\xff not json") is None
    status = parse(f"{BASE}/jobs/j-1/status", b'{"state": "running"}')
    assert status is not None and status.kind == "job_status" and status.job_id == "j-1"
    offer = parse("dh/v1/north/jobs", b'{"job_id": "j-2"}')
    assert offer is not None and offer.heater is None and offer.kind == "offer"
    for topic in ("dh/v1/north/weather", "dh/v1/north/weather/coast"):  # a fleet's, a zone's
        weather = parse(topic, b'{"outdoor_c": 3.0}')
        assert weather is not None and weather.heater is None and weather.kind == "weather"


def test_a_redelivered_message_is_counted_once() -> None:
    tracker = StreamTracker()
    assert tracker.observe("h1", "telemetry", "b1", 1, msg_id="a", historical=False) == "new"
    assert tracker.observe("h1", "telemetry", "b1", 1, msg_id="a", historical=False) == "duplicate"
    assert tracker.duplicates == 1 and tracker.missing() == 0


def test_a_skipped_seq_is_missing_until_it_arrives_late() -> None:
    tracker = StreamTracker()
    for seq in (1, 2, 5):
        tracker.observe("h1", "telemetry", "b1", seq, msg_id=f"m{seq}", historical=False)
    assert tracker.missing() == 2
    assert tracker.observe("h1", "telemetry", "b1", 3, msg_id="m3", historical=True) == "late"
    assert tracker.missing() == 1 and tracker.late() == 1
    assert tracker.by_heater("h1") == {
        "received": 4, "missing": 1, "late": 1, "historical": 1, "boots": 1
    }  # fmt: skip


def test_each_boot_is_its_own_stream() -> None:
    tracker = StreamTracker()
    tracker.observe("h1", "telemetry", "b1", 10, msg_id="x", historical=False)
    tracker.observe("h1", "telemetry", "b2", 11, msg_id="y", historical=False)
    tracker.observe("h1", "events", "b2", 3, msg_id="z", historical=False)
    assert tracker.missing() == 0
    assert tracker.by_heater("h1")["boots"] == 2


def test_the_view_keeps_each_heaters_latest_and_an_old_message_does_not_overwrite_it() -> None:
    view = FleetView()
    born = parse(f"{BASE}/birth", dump(birth()), retained=True)
    assert born is not None
    view.apply(born)
    energy = {"total_kwh": 10.0, "wanted_kwh": 9.0}
    view.apply(_telemetry(2, power_w=300.0, energy=energy))
    replayed = _telemetry(1, power_w=50.0, historical=True)
    assert view.apply(replayed)
    row = view.heaters["h1"]
    assert row.power_w == 300.0 and row.kind == "room" and row.valorisation == 0.9
    assert view.summary()["late"] == 1
    assert not view.apply(_telemetry(2, power_w=999.0))  # the same msg_id again
    assert view.heaters["h1"].power_w == 300.0


def test_trips_come_and_go_with_the_heaters_events() -> None:
    view = FleetView()
    for seq, kind in ((1, "safety_trip"), (2, "safety_recovered")):
        body = (
            f'{{"boot_id": "b1", "seq": {seq}, "msg_id": "e{seq}", "kind": "{kind}",'
            ' "reason": "frozen_sensor", "ts": "2025-01-31T18:00:00+00:00"}'
        )
        message = parse(f"{BASE}/events", body.encode())
        assert message is not None
        view.apply(message)
        assert view.heaters["h1"].trips == (["frozen_sensor"] if seq == 1 else [])
