"""The MQTT client's values: the broker's address, the client's settings and counters, a message.

Shared by the connection (`client.py`) and the sender thread (`sender.py`); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from paho.mqtt.properties import Properties

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerUrlError(ValueError):
    """A broker URL that cannot be used; the message names the URL and what is allowed."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://host[:port]` or `mqtts://host[:port]` (TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise BrokerUrlError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise BrokerUrlError(f"broker URL {url!r}: no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise BrokerUrlError(f"broker URL {url!r}: {error}") from None
    return BrokerAddress(parts.hostname, port, parts.scheme == "mqtts")


@dataclass(frozen=True)
class ClientSettings:
    url: str
    client_id: str
    availability_topic: str
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 3600
    will_delay_s: int = 10
    window: int = 256  # rows handed to paho and not yet acknowledged
    historical_after_s: float = 30.0  # a replayable row sent later than this is `historical`
    reconnect_max_s: int = 30


@dataclass(frozen=True)
class IncomingMessage:
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None
    received_at: float


@dataclass
class ClientStats:
    connects: int = 0
    disconnects: int = 0
    acked: int = 0
    refused: int = 0  # the broker answered a publish with a failure reason (e.g. ACL)
    unhandled: int = 0  # messages matching no current subscription (a stale session's)
    last_error: str | None = None
    refused_reasons: dict[str, int] = field(default_factory=dict)


def new_properties(packet_type: int) -> Properties:
    """MQTT v5 properties for one packet type."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it untyped
