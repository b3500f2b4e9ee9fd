"""The daemon's fleet side against a real broker: topics, retained flags, command replies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from boiler_agent.daemon.uplink import Uplink, UplinkSettings
from boiler_agent.telemetry.client import ClientSettings
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.samples import telemetry_fields
from boiler_agent.telemetry.topics import Topics
from tests import factories
from tests.telemetry.consumer import Consumer

TOPICS = Topics("test", "h1")
REPLIES = TOPICS.reply_base + "/console-7"  # a requester's own topic under the reply subtree


@pytest.fixture
def fleet(broker: LocalBroker, tmp_path: Path) -> Iterator[Uplink]:
    side = Uplink(
        UplinkSettings(
            client=ClientSettings(
                url=broker.url,
                client_id="boiler-agent-h1",
                availability_topic=TOPICS.availability,
                will_delay_s=1,
            ),
            topics=TOPICS,
            outbox_path=tmp_path / "outbox.sqlite",
            outbox_max_bytes=10_000_000,
            outbox_max_age_s=3600,
            setpoint_range_c=(5.0, 28.0),
        ),
        boot_id="boot-1",
    )
    side.start()
    assert side.client.wait_connected(10)
    _wait_listening(side, broker)
    yield side
    side.stop(flush_timeout_s=2)


def _wait_listening(side: Uplink, broker: LocalBroker) -> None:
    """Connected is not yet subscribed (the SUBSCRIBE follows the CONNACK): wait until a probe
    command arrives, so a test's first command is not published before anyone listens."""
    probe = Consumer(broker.port, "probe/unused", client_id="probe")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe.client.publish(TOPICS.cmd("probe"), b"{}", qos=1)
            time.sleep(0.05)
            if side.commands.drain():
                return
        raise AssertionError("the uplink never received a command: not subscribed after 10 s")
    finally:
        probe.close()


def _command(consumer: Consumer, name: str, payload: bytes, correlation: bytes) -> None:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ResponseTopic = REPLIES
    properties.CorrelationData = correlation
    consumer.client.publish(TOPICS.cmd(name), payload, qos=1, properties=properties)


def _drain(fleet: Uplink) -> None:
    deadline = time.monotonic() + 10
    while fleet.outbox.stats().queued and time.monotonic() < deadline:
        time.sleep(0.05)


def test_every_topic_with_its_retained_flag(fleet: Uplink, broker: LocalBroker) -> None:
    fleet.publish_birth(factories.birth(fleet="test", boot_id="boot-1"))
    assert fleet.publish_state(factories.state(setpoint_c=19.0))
    assert not fleet.publish_state(factories.state(setpoint_c=19.0))  # unchanged: not sent again
    fleet.publish_event("mode_change", "remote", mode="eco")
    _drain(fleet)
    # A consumer arriving later sees exactly the retained ones.
    late = Consumer(broker.port, "dh/v1/test/h1/#", "homeassistant/#", client_id="late")
    try:

        def retained_topics() -> set[str]:
            return {m.topic for m in late.received if m.retain}

        def all_there() -> bool:
            retained = retained_topics()
            wanted = {TOPICS.availability, TOPICS.birth, TOPICS.state}
            return wanted <= retained and any(t.startswith("homeassistant/") for t in retained)

        assert late.wait_for(all_there), sorted(retained_topics())
        retained = retained_topics()
        assert TOPICS.events not in retained
        assert any(t.startswith("homeassistant/climate/h1/") for t in retained)
        birth = json.loads(late.on(TOPICS.birth)[0].payload)
        assert birth["schema"] == 1 and birth["boot_id"] == "boot-1"
    finally:
        late.close()


def test_telemetry_and_events_carry_their_own_persisted_sequences(
    fleet: Uplink, broker: LocalBroker
) -> None:
    watcher = Consumer(broker.port, TOPICS.telemetry, TOPICS.events, client_id="watch")
    fields = telemetry_fields()
    try:
        assert [fleet.publish_telemetry(fields) for _ in range(3)] == [0, 1, 2]
        assert fleet.publish_event("link_lost", "port_vanished") == 0
        assert watcher.wait_for(lambda: len(watcher.received) == 4)
        telemetry = [json.loads(m.payload) for m in watcher.on(TOPICS.telemetry)]
        assert [t["seq"] for t in telemetry] == [0, 1, 2]
        assert len({t["msg_id"] for t in telemetry}) == 3
        assert all(t["boot_id"] == "boot-1" and t["historical"] is False for t in telemetry)
    finally:
        watcher.close()


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("set_mode", b"not json", "not_json"),
        ("set_mode", b"[1]", "not_object"),
        ("set_mode", b'{"cmd_id": "a", "mode": 3}', "invalid"),
        ("set_mode", b'{"cmd_id": "a", "mode": "heat", "colour": "red"}', "invalid"),
        ("setpoint_override", b'{"cmd_id": "b", "setpoint_c": 90, "duration_s": 60}', "invalid"),
        ("self_destruct", b'{"cmd_id": "c"}', "unknown_command"),
        (
            "set_mode",
            b'{"cmd_id": "d", "mode": "eco", "expires_at": "2001-01-01T00:00:00Z"}',
            "expired",
        ),
        ("set_mode", b"{" * 10_000, "oversized"),
    ],
)
def test_bad_commands_are_answered_through_the_response_topic(
    fleet: Uplink, broker: LocalBroker, name: str, payload: bytes, reason: str
) -> None:
    fleet_consumer = Consumer(broker.port, REPLIES, TOPICS.events, client_id="fleet")
    try:
        _command(fleet_consumer, name, payload, b"corr-1")
        deadline = time.monotonic() + 10
        while not fleet_consumer.on(REPLIES) and time.monotonic() < deadline:
            assert fleet.poll_commands() == []  # nothing bad is ever handed on
            time.sleep(0.05)
        reply = json.loads(fleet_consumer.on(REPLIES)[0].payload)
        assert reply["ok"] is False and reply["reason"] == reason
        assert fleet_consumer.on(REPLIES)[0].correlation == b"corr-1"
        assert fleet.gate.rejected[reason] == 1
        assert fleet_consumer.wait_for(lambda: bool(fleet_consumer.on(TOPICS.events)))
        event = json.loads(fleet_consumer.on(TOPICS.events)[0].payload)
        assert event["kind"] == "command_rejected" and event["reason"] == reason
    finally:
        fleet_consumer.close()


def test_a_good_command_is_handed_on_once_and_its_duplicate_answered_as_before(
    fleet: Uplink, broker: LocalBroker
) -> None:
    fleet_consumer = Consumer(broker.port, REPLIES, client_id="fleet")
    arrived = threading.Event()
    fleet.on_command = arrived.set  # the control loop's wake-up: it sleeps until it is called
    try:
        good = b'{"cmd_id": "x1", "mode": "eco"}'
        _command(fleet_consumer, "set_mode", good, b"c1")
        assert arrived.wait(10), "the command's arrival woke nobody"
        received = fleet.poll_commands()
        assert [r.name for r in received] == ["set_mode"]
        fleet.answer(received[0].response_topic, received[0].correlation, received[0].reply)
        _command(fleet_consumer, "set_mode", good, b"c2")
        deadline = time.monotonic() + 10
        while len(fleet_consumer.on(REPLIES)) < 2 and time.monotonic() < deadline:
            assert fleet.poll_commands() == []
            time.sleep(0.05)
        first, second = (json.loads(m.payload) for m in fleet_consumer.on(REPLIES))
        assert first["ok"] and second["ok"] and second["duplicate"] and not first["duplicate"]
        assert [m.correlation for m in fleet_consumer.on(REPLIES)] == [b"c1", b"c2"]
    finally:
        fleet_consumer.close()


def test_ha_coming_online_gets_discovery_again(fleet: Uplink, broker: LocalBroker) -> None:
    fleet.publish_birth(factories.birth(fleet="test", boot_id="boot-1"))
    watcher = Consumer(broker.port, "homeassistant/climate/#", client_id="ha")
    try:
        assert watcher.wait_for(lambda: len(watcher.received) == 1)
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5
        )
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while len(watcher.received) < 2 and time.monotonic() < deadline:
            fleet.housekeeping()
            time.sleep(0.05)
        assert len(watcher.received) >= 2
        client.disconnect()
        client.loop_stop()
    finally:
        watcher.close()


def test_a_wildcard_response_topic_gets_the_reply_on_the_default_topic(
    fleet: Uplink, broker: LocalBroker
) -> None:
    fleet_consumer = Consumer(broker.port, TOPICS.reply("set_mode"), client_id="fleet")
    try:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = "fleet/+/replies"
        properties.CorrelationData = b"w1"
        fleet_consumer.client.publish(
            TOPICS.cmd("set_mode"), b'{"cmd_id": "w", "mode": "eco"}', qos=1, properties=properties
        )
        deadline = time.monotonic() + 10
        received = []
        while not received and time.monotonic() < deadline:
            received = fleet.poll_commands()
            time.sleep(0.05)
        assert [r.response_topic for r in received] == [TOPICS.reply("set_mode")]
        fleet.answer(received[0].response_topic, received[0].correlation, received[0].reply)
        assert fleet_consumer.wait_for(lambda: bool(fleet_consumer.on(TOPICS.reply("set_mode"))))
    finally:
        fleet_consumer.close()


@pytest.mark.parametrize(
    "response_topic",
    [
        TOPICS.state,  # the heater's own retained state would be overwritten by a reply
        "homeassistant/climate/h1/config",  # a discovery config: HA would lose the entity
        Topics("test", "h2").reply("set_mode"),  # another heater's: outside the ACL
        "fleet/replies",  # outside the heater's subtree: outside the ACL, the connection flaps
        TOPICS.reply_base,  # the subtree itself is not under it
    ],
)
def test_a_response_topic_outside_the_reply_subtree_gets_the_reply_on_the_heaters_own(
    fleet: Uplink, broker: LocalBroker, response_topic: str
) -> None:
    watcher = Consumer(broker.port, "#", client_id="fleet")
    try:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = response_topic
        properties.CorrelationData = b"r1"
        watcher.client.publish(
            TOPICS.cmd("set_mode"), b'{"cmd_id": "r", "mode": "eco"}', qos=1, properties=properties
        )
        deadline = time.monotonic() + 10
        received = []
        while not received and time.monotonic() < deadline:
            received = fleet.poll_commands()
            time.sleep(0.05)
        assert [r.response_topic for r in received] == [TOPICS.reply("set_mode")]
        assert fleet.gate.replies_redirected == 1
        fleet.answer(received[0].response_topic, received[0].correlation, received[0].reply)
        assert watcher.wait_for(lambda: bool(watcher.on(TOPICS.reply("set_mode"))))
        assert watcher.on(TOPICS.reply("set_mode"))[0].correlation == b"r1"
        _drain(fleet)
        replies = [m.topic for m in watcher.received if m.correlation == b"r1"]
        assert replies == [TOPICS.cmd("set_mode"), TOPICS.reply("set_mode")]  # command, reply
    finally:
        watcher.close()


def test_a_response_topic_deeper_in_the_reply_subtree_is_used_as_given(
    fleet: Uplink, broker: LocalBroker
) -> None:
    per_request = TOPICS.reply("set_mode") + "/req-42"
    watcher = Consumer(broker.port, per_request, client_id="fleet")
    try:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = per_request
        watcher.client.publish(
            TOPICS.cmd("set_mode"), b'{"cmd_id": "d", "mode": "eco"}', qos=1, properties=properties
        )
        deadline = time.monotonic() + 10
        received = []
        while not received and time.monotonic() < deadline:
            received = fleet.poll_commands()
            time.sleep(0.05)
        assert [r.response_topic for r in received] == [per_request]
        assert fleet.gate.replies_redirected == 0
    finally:
        watcher.close()
