"""Nothing is lost when the broker or the agent goes away: real Mosquitto, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from boiler_agent.telemetry.client import ClientSettings, FleetClient
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.outbox import Outbox
from tests.telemetry.consumer import Consumer
from tests.telemetry.publisher_process import AVAILABILITY, TELEMETRY

ROOT = Path(__file__).resolve().parents[2]


def _unique_in_order(consumer: Consumer) -> list[dict[str, object]]:
    """What a fleet consumer keeps: the first copy of each msg_id, in arrival order."""
    seen: set[str] = set()
    kept: list[dict[str, object]] = []
    for message in consumer.on(TELEMETRY):
        document = json.loads(message.payload)
        if document["msg_id"] not in seen:
            seen.add(str(document["msg_id"]))
            kept.append(document)
    return kept


def _start_publisher(port: int, outbox: Path, count: int, interval: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.telemetry.publisher_process",
            "--port",
            str(port),
            "--outbox",
            str(outbox),
            "--count",
            str(count),
            "--interval",
            str(interval),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def _wait_line(process: subprocess.Popen[str], expected: str, timeout_s: float = 30.0) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == expected:
            return
    raise TimeoutError(f"publisher did not print {expected!r}")


def test_three_broker_restarts_lose_nothing_and_keep_order(tmp_path: Path) -> None:
    broker = LocalBroker(workdir=tmp_path / "broker", persistence=True)
    broker.start()
    consumer = Consumer(broker.port, TELEMETRY)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    client = FleetClient(
        ClientSettings(
            url=broker.url, client_id="boiler-agent-h1", availability_topic=AVAILABILITY
        ),
        outbox,
    )
    client.start()
    boot_id = uuid.uuid4().hex
    total = 600

    def publish_all() -> None:
        for _ in range(total):
            client.publish_numbered(
                "telemetry",
                TELEMETRY,
                lambda seq: json.dumps(
                    {
                        "boot_id": boot_id,
                        "seq": seq,
                        "msg_id": uuid.uuid4().hex,
                        "historical": False,
                    }
                ).encode(),
            )
            time.sleep(0.01)

    try:
        assert client.wait_connected(10)
        publisher = threading.Thread(target=publish_all)
        publisher.start()
        for _ in range(3):
            time.sleep(1.0)
            broker.stop()  # SIGTERM: the broker saves its sessions, then the connections drop
            time.sleep(0.7)
            broker.start()
        publisher.join()
        assert consumer.wait_for(lambda: len(_unique_in_order(consumer)) >= total, 60)
        kept = _unique_in_order(consumer)
        assert [doc["seq"] for doc in kept] == list(range(total))
        assert {doc["boot_id"] for doc in kept} == {boot_id}
        assert client.stats.disconnects >= 3
        assert consumer.wait_for(lambda: outbox.stats().queued == 0, 10)
    finally:
        client.stop(flush_timeout_s=2)
        consumer.close()
        broker.stop()


def test_agent_killed_during_an_outage_replays_and_continues_its_seq(tmp_path: Path) -> None:
    broker = LocalBroker(workdir=tmp_path / "broker", persistence=True)
    broker.start()
    consumer = Consumer(broker.port, TELEMETRY)
    outbox_path = tmp_path / "outbox.sqlite"
    broker.stop()  # the outage starts before the agent does
    first = _start_publisher(broker.port, outbox_path, count=50, interval=0.0)
    try:
        _wait_line(first, "published")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert Outbox(outbox_path).stats().queued == 50
    time.sleep(1.0)  # the outage lasts longer than the publisher's `historical_after_s`

    broker.start()
    second = _start_publisher(broker.port, outbox_path, count=20, interval=0.0)
    try:
        _wait_line(second, "published")
        assert consumer.wait_for(lambda: len(_unique_in_order(consumer)) >= 70, 30)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)
        consumer.close()
        broker.stop()
    kept = _unique_in_order(consumer)
    assert [doc["seq"] for doc in kept] == list(range(70))
    boots = [doc["boot_id"] for doc in kept]
    assert len(set(boots[:50])) == 1 and len(set(boots[50:])) == 1 and boots[0] != boots[-1]
    # What waited out the outage says so; the second run's own messages went out live.
    assert all(doc["historical"] for doc in kept[:50])


def test_a_killed_agent_leaves_offline_through_its_last_will(tmp_path: Path) -> None:
    broker = LocalBroker(workdir=tmp_path / "broker")
    broker.start()
    consumer = Consumer(broker.port, AVAILABILITY)
    process = _start_publisher(broker.port, tmp_path / "outbox.sqlite", count=1, interval=0.0)
    try:
        _wait_line(process, "published")
        assert consumer.wait_for(
            lambda: [m.payload for m in consumer.on(AVAILABILITY)] == [b"online"]
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        # Will delay is 1 s in the publisher: offline arrives after it, retained.
        assert consumer.wait_for(lambda: consumer.on(AVAILABILITY)[-1].payload == b"offline", 10)
    finally:
        if process.poll() is None:
            process.kill()
        consumer.close()
    late = Consumer(broker.port, AVAILABILITY, client_id="late-consumer")
    try:
        assert late.wait_for(lambda: bool(late.on(AVAILABILITY)))
        retained = late.on(AVAILABILITY)[0]
        assert retained.payload == b"offline" and retained.retain
    finally:
        late.close()
        broker.stop()
