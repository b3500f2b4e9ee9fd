"""Outbox drops are reported, but not once per drop: in a long outage each report is one more
row in a full outbox, and events go last, so reports would crowd out the telemetry."""

from __future__ import annotations

import json
from pathlib import Path

from boiler_agent.daemon.uplink import DROP_REPORT_EVERY_S, Uplink, UplinkSettings
from boiler_agent.telemetry.client import ClientSettings
from boiler_agent.telemetry.config import BrokerUrl
from boiler_agent.telemetry.outbox import Priority
from boiler_agent.telemetry.topics import Topics

TOPICS = Topics("test", "h1")


def test_a_long_outage_reports_its_drops_once_per_interval_with_every_drop_counted(
    tmp_path: Path,
) -> None:
    now = [0.0]
    side = Uplink(  # never started: the broker is away for the whole test
        UplinkSettings(
            client=ClientSettings(
                url=BrokerUrl("mqtt://127.0.0.1:9"),
                client_id="boiler-agent-h1",
                availability_topic=TOPICS.availability,
            ),
            topics=TOPICS,
            outbox_path=tmp_path / "outbox.sqlite",
            outbox_max_bytes=20_000,
            outbox_max_age_s=86400,
            setpoint_range_c=(5.0, 28.0),
        ),
        boot_id="boot-1",
        monotonic=lambda: now[0],
    )
    try:
        for _ in range(120):  # an hour of telemetry every 30 s, 1 kB each
            side.outbox.put(TOPICS.telemetry, b"x" * 1000, priority=Priority.BULK)
            side.housekeeping()
            now[0] += 30.0
        reports = [
            json.loads(m.payload)
            for m in side.outbox.batch(1000)
            if m.topic == TOPICS.events and b"outbox_dropped" in m.payload
        ]
        dropped = sum(side.outbox.dropped().values())
    finally:
        side.outbox.close()
    assert dropped > 90
    assert 1 <= len(reports) <= 3600 / DROP_REPORT_EVERY_S + 1, len(reports)
    reported = sum(r["details"]["count"] for r in reports)
    # What is not reported yet is less than one interval's drops, and comes with the next.
    assert dropped - reported <= DROP_REPORT_EVERY_S / 30.0 + 1
