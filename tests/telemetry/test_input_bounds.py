"""What arrives from the broker is bounded in bytes: the packet size, the inbox's queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from boiler_agent.telemetry.client import (
    MAX_PACKET_BYTES,
    ClientSettings,
    FleetClient,
    IncomingMessage,
)
from boiler_agent.telemetry.inbox import DEFAULT_MAX_BYTES, Inbox
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.outbox import Outbox
from tests.telemetry.consumer import Consumer

AVAILABILITY = "dh/v1/test/h1/availability"
COMMANDS = "dh/v1/test/h1/cmd/+"
MIB = 1024 * 1024
PROBE = "dh/v1/test/h1/probe"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def _client(broker: LocalBroker, outbox: Outbox, **overrides: int) -> FleetClient:
    settings = ClientSettings(
        url=broker.url, client_id="boiler-agent-h1", availability_topic=AVAILABILITY, **overrides
    )
    return FleetClient(settings, outbox)


def _until_subscribed(fleet: Consumer, probes: list[IncomingMessage]) -> None:
    """The client sends all its filters in one SUBSCRIBE on connect: once a probe on one of
    them comes back, every one is in place."""
    deadline = time.monotonic() + 10
    while not probes:
        assert time.monotonic() < deadline, "the client's subscriptions never took effect"
        fleet.client.publish(PROBE, b"probe", qos=1)
        fleet.wait_for(lambda: bool(probes), 0.2)


def test_an_oversized_publish_never_reaches_the_agents_handlers(
    broker: LocalBroker, outbox: Outbox
) -> None:
    received: list[IncomingMessage] = []
    probes: list[IncomingMessage] = []
    client = _client(broker, outbox)
    client.subscribe(COMMANDS, received.append)
    client.subscribe(PROBE, probes.append)
    client.start()
    fleet = Consumer(broker.port, "unused/#", client_id="fleet")
    try:
        assert client.wait_connected(10)
        _until_subscribed(fleet, probes)
        fleet.client.publish("dh/v1/test/h1/cmd/big", b"x" * (MAX_PACKET_BYTES + 1), qos=1)
        fleet.client.publish("dh/v1/test/h1/cmd/small", b"after", qos=1)
        # One connection delivers in order: had the big one come, it came before this.
        assert fleet.wait_for(lambda: any(m.payload == b"after" for m in received))
        sizes = {m.topic.rsplit("/", 1)[-1]: len(m.payload) for m in received}
        assert sizes == {"small": 5}, f"expected only the small command, got sizes {sizes}"
        # The broker held it back (MaximumPacketSize on CONNECT): paho never read 2 MiB.
        assert client.stats.oversized == 0
        assert client.connected
    finally:
        fleet.close()
        client.stop(flush_timeout_s=1)


def test_the_network_callback_drops_and_counts_what_exceeds_the_packet_size(
    broker: LocalBroker, outbox: Outbox
) -> None:
    """A broker that ignores MaximumPacketSize still gets nothing oversized past the callback."""
    received: list[IncomingMessage] = []
    client = _client(broker, outbox, max_packet_bytes=1000)
    client.subscribe(COMMANDS, received.append)
    for size in (2000, 10):
        message = mqtt.MQTTMessage(topic=b"dh/v1/test/h1/cmd/x")
        message.payload = b"y" * size
        client._handle_message(client._paho, None, message)
    assert [len(m.payload) for m in received] == [10]
    assert client.stats.oversized == 1


def test_a_flood_of_large_messages_keeps_the_inbox_under_its_byte_bound(
    broker: LocalBroker, outbox: Outbox
) -> None:
    inbox = Inbox(256)
    client = _client(broker, outbox)
    client.subscribe(COMMANDS, inbox.put)
    marker: list[IncomingMessage] = []
    client.subscribe("dh/v1/test/h1/done", marker.append)
    probes: list[IncomingMessage] = []
    client.subscribe(PROBE, probes.append)
    client.start()
    fleet = Consumer(broker.port, "unused/#", client_id="fleet")
    try:
        assert client.wait_connected(10)
        _until_subscribed(fleet, probes)
        for i in range(48):
            fleet.client.publish(f"dh/v1/test/h1/cmd/c{i}", bytes([i]) * MIB, qos=1)
        # Sent after the flood on the same connection: it arrives after it.
        fleet.client.publish("dh/v1/test/h1/done", b"done", qos=1)
        assert fleet.wait_for(lambda: bool(marker), 30)
        assert inbox.queued_bytes <= DEFAULT_MAX_BYTES
        kept = inbox.drain()
        kept_bytes = sum(len(m.payload) for m in kept)
        assert kept_bytes <= DEFAULT_MAX_BYTES, (
            f"{kept_bytes} bytes kept, bound {DEFAULT_MAX_BYTES}"
        )
        assert inbox.overflow == 48 - len(kept)
        assert inbox.queued_bytes == 0
    finally:
        fleet.close()
        client.stop(flush_timeout_s=1)


def test_the_inbox_refuses_by_bytes_as_well_as_by_count() -> None:
    inbox = Inbox(limit=10, max_bytes=100)
    for n in range(4):
        inbox.put(IncomingMessage("t", bytes([n]) * 40, None, None, 0.0))
    assert [m.payload[0] for m in inbox.drain()] == [0, 1]
    assert inbox.overflow == 2
    inbox.put(IncomingMessage("t", b"z" * 101, None, None, 0.0))  # larger than the bound alone
    assert inbox.drain() == [] and inbox.overflow == 3
