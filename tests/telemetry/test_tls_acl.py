"""TLS with client certificates and the per-heater ACL of docs/mosquitto, on a real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

from boiler_agent.telemetry.client import ClientSettings, FleetClient
from boiler_agent.telemetry.config import BrokerUrl
from boiler_agent.telemetry.local_broker import LocalBroker, free_loopback_port
from boiler_agent.telemetry.outbox import Outbox
from tests.telemetry.certs import Pki, make_pki
from tests.telemetry.consumer import Consumer

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "docs" / "mosquitto" / "fleet.acl"


def _tls_broker(tmp_path: Path, pki: Pki, *acl: str) -> tuple[LocalBroker, int]:
    """A started broker with a plain listener (no anonymous) and a client-certificate one."""
    tls_port = free_loopback_port()
    broker = LocalBroker(
        workdir=tmp_path / "broker",
        allow_anonymous=False,
        extra_config=[
            *acl,
            f"listener {tls_port} 127.0.0.1",
            f"cafile {pki.ca_cert}",
            f"certfile {pki.broker_cert}",
            f"keyfile {pki.broker_key}",
            "require_certificate true",
            "use_identity_as_username true",
        ],
    )
    broker.start()
    return broker, tls_port


def test_tls_heater_publishes_its_own_topics_and_the_acl_refuses_another_heaters(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki")
    broker, tls_port = _tls_broker(tmp_path, pki, f"acl_file {ACL}")
    h1_cert, h1_key = pki.client("h1")
    consumer_cert, consumer_key = pki.client("fleet-consumer")
    consumer = Consumer(
        tls_port,
        "dh/v1/test/+/telemetry",
        client_id="fleet-consumer",
        tls=(pki.ca_cert, consumer_cert, consumer_key),
    )

    def settings(client_id: str, cert: Path, key: Path, availability: str) -> ClientSettings:
        return ClientSettings(
            url=BrokerUrl(f"mqtts://127.0.0.1:{tls_port}"),
            client_id=client_id,
            availability_topic=availability,
            ca_file=pki.ca_cert,
            cert_file=cert,
            key_file=key,
        )

    heater = FleetClient(
        settings("boiler-agent-h1", h1_cert, h1_key, "dh/v1/test/h1/availability"),
        Outbox(tmp_path / "h1.sqlite"),
    )
    heater.start()
    try:
        assert heater.wait_connected(10)
        heater.publish("dh/v1/test/h2/telemetry", json.dumps({"who": "impostor"}).encode())
        heater.publish("dh/v1/test/h1/telemetry", json.dumps({"who": "h1"}).encode())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and heater.outbox.stats().queued:
            time.sleep(0.05)
        assert consumer.wait_for(lambda: bool(consumer.on("dh/v1/test/h1/telemetry")))
        assert [(m.topic, m.payload) for m in consumer.received] == [
            ("dh/v1/test/h1/telemetry", b'{"who": "h1"}')
        ]
        # The broker answered the impostor message with "Not authorized" (and, being mosquitto
        # 2.0, dropped the connection: eclipse-mosquitto issue #2579): counted, not retried.
        assert heater.stats.refused == 1
        assert heater.stats.refused_reasons == {"Not authorized": 1}
        assert heater.outbox.stats().queued == 0
        assert heater.wait_connected(10)
    finally:
        heater.stop(flush_timeout_s=1)
        consumer.close()
        broker.stop()


def test_a_heater_without_a_certificate_is_refused_and_says_why(tmp_path: Path) -> None:
    broker, _ = _tls_broker(tmp_path, make_pki(tmp_path / "pki"))
    heater = FleetClient(
        ClientSettings(
            url=broker.url,  # the plain listener: anonymous is not allowed
            client_id="boiler-agent-h1",
            availability_topic="dh/v1/test/h1/availability",
        ),
        Outbox(tmp_path / "h1.sqlite"),
    )
    heater.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and heater.stats.last_error is None:
            time.sleep(0.05)
        assert not heater.connected
        assert heater.stats.last_error is not None
        assert "refused the connection" in heater.stats.last_error
        assert "Not authorized" in heater.stats.last_error
    finally:
        heater.stop(flush_timeout_s=0.1)
        broker.stop()
