"""Telemetry benchmark: the outbox's publish rate against raw paho, and a day's backlog replayed."""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from boiler_agent.benchmarks._entry import emit, positive_int, run_main
from boiler_agent.telemetry.client import ClientSettings, FleetClient
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.outbox import Outbox
from boiler_agent.telemetry.samples import telemetry_fields

TOPIC = "dh/v1/bench/h1/telemetry"
AVAILABILITY = "dh/v1/bench/h1/availability"
DAY_AT_1HZ = 86_400
DESCRIPTION = f"""\
Measure the cost of store-and-forward against a private Mosquitto on a free loopback port.

(a) rate: MESSAGES telemetry payloads (about 500 bytes of JSON, as the agent sends) at QoS 1,
    first with a bare paho client (publish all, wait for every PUBACK), then through the agent's
    path (each message committed to the SQLite outbox, handed to paho by the sender thread,
    deleted on PUBACK). Same broker, same run. Reported as messages/s and their ratio.
(b) replay: the broker is stopped; the agent keeps producing a day of 1 Hz telemetry
    ({DAY_AT_1HZ:,} messages) into its outbox; the broker comes back; a consumer with a
    persistent session counts what arrives. replay_s runs from the agent's reconnection to the
    last message at the consumer; lost and out-of-order are counted after de-duplication by
    msg_id, as a fleet consumer would.
Targets: outbox_rate_ratio_vs_raw >= 0.5; replay_s <= 60 with replay_lost == 0 and
replay_out_of_order == 0.
"""


def _payload(boot_id: str, seq: int) -> bytes:
    # The shape and size of a real telemetry message.
    envelope = {
        "schema": 1,
        "boot_id": boot_id,
        "seq": seq,
        "msg_id": uuid.uuid4().hex,
        "historical": False,
        "ts": "2026-01-15T12:00:00Z",
    }
    return json.dumps({**envelope, **telemetry_fields()}, separators=(",", ":")).encode()


class _Counter:
    """A consumer that keeps the first copy of every msg_id and checks the seq order."""

    def __init__(self, port: int, expected: int) -> None:
        self.expected = expected
        self.seen: set[str] = set()
        self.last_seq = -1
        self.out_of_order = 0
        self.seqs: set[int] = set()
        self.last_arrival = 0.0
        self.done = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"bench-consumer-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda client, *args: client.subscribe(TOPIC, qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", port, clean_start=False, properties=properties)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the benchmark's consumer could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        document = json.loads(message.payload)
        if document["msg_id"] in self.seen:
            return
        self.seen.add(document["msg_id"])
        seq = int(document["seq"])
        if seq < self.last_seq:
            self.out_of_order += 1
        self.last_seq = max(self.last_seq, seq)
        self.seqs.add(seq)
        self.last_arrival = time.monotonic()
        if len(self.seen) >= self.expected:
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _raw_paho_rate(port: int, messages: int) -> float:
    acked = threading.Event()
    count = [0]

    def on_publish(*args: object) -> None:
        count[0] += 1
        if count[0] >= messages:
            acked.set()

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="bench-raw",
        protocol=mqtt.MQTTv5,
    )
    client.on_publish = on_publish
    client.max_inflight_messages_set(256)  # the same window as the agent's sender
    client.connect("127.0.0.1", port)
    client.loop_start()
    boot_id = uuid.uuid4().hex
    started = time.perf_counter()
    for seq in range(messages):
        client.publish(TOPIC, _payload(boot_id, seq), qos=1)
    acked.wait(120)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return messages / elapsed


def _agent(broker: LocalBroker, outbox: Outbox) -> FleetClient:
    return FleetClient(
        ClientSettings(url=broker.url, client_id="bench-agent", availability_topic=AVAILABILITY),
        outbox,
    )


def _outbox_rate(broker: LocalBroker, workdir: Path, messages: int) -> float:
    outbox = Outbox(workdir / "rate.sqlite")
    client = _agent(broker, outbox)
    client.start()
    client.wait_connected(10)
    boot_id = uuid.uuid4().hex
    started = time.perf_counter()
    for _ in range(messages):
        client.publish_numbered("telemetry", TOPIC, lambda seq: _payload(boot_id, seq))
    while outbox.stats().queued:
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    client.stop(flush_timeout_s=1)
    outbox.close()
    return messages / elapsed


def _replay(broker: LocalBroker, workdir: Path, messages: int) -> dict[str, float | int]:
    consumer = _Counter(broker.port, messages)
    outbox = Outbox(workdir / "replay.sqlite")
    reconnected = threading.Event()
    client = FleetClient(
        ClientSettings(
            url=broker.url, client_id="bench-agent-replay", availability_topic=AVAILABILITY
        ),
        outbox,
        on_connected=lambda up: reconnected.set() if up else None,
    )
    client.start()
    client.wait_connected(10)
    broker.stop()  # the outage
    reconnected.clear()
    boot_id = uuid.uuid4().hex
    fill_started = time.perf_counter()
    for _ in range(messages):
        client.publish_numbered("telemetry", TOPIC, lambda seq: _payload(boot_id, seq))
    fill_s = time.perf_counter() - fill_started
    broker.start()
    if not reconnected.wait(60):
        raise RuntimeError("the agent did not reconnect within 60 s")
    replay_started = time.monotonic()
    consumer.done.wait(600)
    replay_s = (consumer.last_arrival or time.monotonic()) - replay_started
    client.stop(flush_timeout_s=5)
    consumer.close()
    outbox.close()
    return {
        "replay_messages": messages,
        "replay_s": round(replay_s, 2),
        "replay_lost": messages - len(consumer.seqs),
        "replay_out_of_order": consumer.out_of_order,
        "backlog_fill_s": round(fill_s, 2),
        "replay_messages_per_s": round(messages / replay_s, 1) if replay_s > 0 else 0.0,
    }


def run(messages: int = 20_000, replay_messages: int = DAY_AT_1HZ) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="boiler-agent-bench-telemetry-") as scratch:
        workdir = Path(scratch)
        broker = LocalBroker(workdir=workdir / "broker", persistence=True)
        broker.start()
        try:
            raw = _raw_paho_rate(broker.port, messages)
            through_outbox = _outbox_rate(broker, workdir, messages)
            replay = _replay(broker, workdir, replay_messages)
        finally:
            broker.stop()
    return {
        "outbox_rate_ratio_vs_raw": round(through_outbox / raw, 3),
        "outbox_msgs_per_s": round(through_outbox, 1),
        "raw_paho_msgs_per_s": round(raw, 1),
        "rate_messages": messages,
        **replay,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages", type=positive_int, default=20_000, help="messages for the rate (20000)"
    )
    parser.add_argument(
        "--replay-messages",
        type=positive_int,
        default=DAY_AT_1HZ,
        help=f"backlog size for the replay ({DAY_AT_1HZ}: a day at 1 Hz)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line, no table")


def report(args: argparse.Namespace) -> int:
    result = run(messages=args.messages, replay_messages=args.replay_messages)
    emit("telemetry: outbox against raw paho, and a day's backlog replayed", result, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
