from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from boiler_agent.telemetry.client import (
    ClientSettings,
    FleetClient,
)
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.outbox import Outbox, Priority
from tests.telemetry.consumer import Consumer

AVAILABILITY = "dh/v1/test/h1/availability"
TELEMETRY = "dh/v1/test/h1/telemetry"


def _settings(broker: LocalBroker, **overrides: object) -> ClientSettings:
    values: dict[str, object] = {
        "url": broker.url,
        "client_id": "boiler-agent-h1",
        "availability_topic": AVAILABILITY,
        "will_delay_s": 1,
    }
    values.update(overrides)
    return ClientSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def test_messages_reach_a_consumer_and_leave_the_outbox(
    broker: LocalBroker, outbox: Outbox
) -> None:
    consumer = Consumer(broker.port, "dh/v1/test/#")
    client = FleetClient(_settings(broker), outbox)
    client.start()
    try:
        assert client.wait_connected(10)
        for _ in range(20):
            client.publish_numbered(
                "telemetry",
                TELEMETRY,
                lambda n: json.dumps({"seq": n, "historical": False}).encode(),
            )
        client.publish("dh/v1/test/h1/events", b'{"kind":"x"}', priority=Priority.EVENT)
        assert consumer.wait_for(lambda: len(consumer.on(TELEMETRY)) == 20)
        seqs = [json.loads(m.payload)["seq"] for m in consumer.on(TELEMETRY)]
        assert seqs == list(range(20))
        assert consumer.wait_for(lambda: outbox.stats().queued == 0)
        online = consumer.on(AVAILABILITY)
        assert online and online[-1].payload == b"online"
    finally:
        assert client.stop(flush_timeout_s=5)
        consumer.close()
    assert consumer.wait_for(lambda: consumer.on(AVAILABILITY)[-1].payload == b"offline", 5)


def test_a_message_paho_refuses_is_dropped_and_counted_not_retried_forever(
    broker: LocalBroker, outbox: Outbox
) -> None:
    consumer = Consumer(broker.port, TELEMETRY)
    client = FleetClient(_settings(broker), outbox)
    client.start()
    try:
        assert client.wait_connected(10)
        client.publish("fleet/+/replies", b"{}")  # a wildcard: no broker may take it
        client.publish(TELEMETRY, b'{"after": true}')
        assert consumer.wait_for(lambda: bool(consumer.on(TELEMETRY)))
        assert client.stats.refused_reasons == {"refused by paho": 1}
        assert consumer.wait_for(lambda: outbox.stats().queued == 0)
    finally:
        client.stop(flush_timeout_s=1)
        consumer.close()


def test_subscriptions_are_not_settled_while_the_connect_callback_still_sends(
    tmp_path: Path,
) -> None:
    """`connected` is set inside the connect callback before it sends the SUBSCRIBE and the
    UNSUBSCRIBE of a resumed session's stale filter: waiting on `subscriptions_settled` right
    after `wait_connected` found nothing unacknowledged yet and returned at once, and offers
    still went to the stale subscription (a flaky job-feed test)."""
    from types import SimpleNamespace

    from boiler_agent.telemetry.config import BrokerUrl

    client = FleetClient(
        ClientSettings(url=BrokerUrl("mqtt://127.0.0.1:1"), client_id="h1", availability_topic="a"),
        Outbox(tmp_path / "outbox.sqlite"),
    )
    client.manage("$share/pool/dh/v1/f/jobs")  # held by the old session, not wanted now
    settled_while_sending: list[bool] = []

    class Broker:
        def publish(self, *args: object, **kwargs: object) -> None:
            pass

        def unsubscribe(self, topic_filter: object) -> tuple[int, int]:
            settled_while_sending.append(client.subscriptions_settled(0))
            return 0, 7

    flags = SimpleNamespace(session_present=True)
    reason = SimpleNamespace(is_failure=False)
    client._handle_connect(Broker(), None, flags, reason, None)  # type: ignore[arg-type]
    assert settled_while_sending == [False]
    assert not client.subscriptions_settled(0), "the UNSUBSCRIBE is not acknowledged yet"
    client._handle_sub_ack(Broker(), None, 7)  # type: ignore[arg-type]
    assert client.subscriptions_settled(0)
