"""The MQTT client's values: the client's settings and counters, a message.

Shared by the connection (`client.py`) and the sender thread (`sender.py`); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from paho.mqtt.properties import Properties

from boiler_agent.telemetry.config import BrokerUrl

# The largest MQTT packet the agent takes (the v5 MaximumPacketSize it announces on CONNECT):
# a compliant broker drops a larger message for us instead of sending it, so paho never reads it
# into memory. Commands are at most 4 KiB and offers 64 KiB; the room above is for job
# hand-offs that will carry checkpoints of up to about 1 MiB.
MAX_PACKET_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ClientSettings:
    url: BrokerUrl  # parsed once, where the config was read
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
    max_packet_bytes: int = MAX_PACKET_BYTES  # announced on CONNECT, checked on every message


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
    oversized: int = 0  # messages over max_packet_bytes that a broker sent anyway: dropped
    last_error: str | None = None
    refused_reasons: dict[str, int] = field(default_factory=dict)


def new_properties(packet_type: int) -> Properties:
    """MQTT v5 properties for one packet type."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it untyped
