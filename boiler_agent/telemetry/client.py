"""The MQTT connection to the fleet: paho-mqtt 2.x, MQTT v5, fed from the on-disk outbox.

Threads and their jobs:
- paho's network thread (`loop_start`) runs the callbacks. They only record what happened
  (acks, incoming messages, connection state) and return: no I/O, no parsing beyond the topic.
- our sender thread moves rows from the outbox to paho while connected, at most `window` in
  flight, and deletes a row when its PUBACK arrives. It is the only thread that talks to paho's
  publish path and to the mid -> row map, so an ack can never be matched before its publish.
- callers (the agent's loops) only write to the outbox and read the incoming queues; nothing
  here blocks them when the broker is away.

paho resends its in-flight QoS 1 messages itself after a reconnect (same packet ids), so rows
handed to paho are not handed again while this process lives; a restarted agent starts with an
empty map and sends every row still in the outbox. Consumers de-duplicate by `msg_id`.

`availability` is the exception to "everything through the outbox": `online` describes the
connection that carries it, so it is published directly on every connect, and `offline` is the
last will (with a will delay against flapping) or the last message of a clean stop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from boiler_agent.telemetry.outbox import Outbox, OutboxMessage, Priority

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
COALESCE_S = 0.002


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


class FleetClient:
    """Keeps one MQTT v5 session to the fleet's broker and drains the outbox through it."""

    def __init__(
        self,
        settings: ClientSettings,
        outbox: Outbox,
        *,
        subscriptions: list[tuple[str, Callable[[IncomingMessage], None]]] | None = None,
        on_connected: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.address = parse_broker_url(settings.url)
        self._clock = clock
        self._on_connected = on_connected
        # topic filter -> handler; handlers run on the paho thread, so they must only enqueue.
        self._subscriptions: dict[str, Callable[[IncomingMessage], None]] = dict(
            subscriptions or []
        )
        self._subscriptions_lock = threading.Lock()
        self._managed: set[str] = set()
        self.stats = ClientStats()
        self._acks: queue.SimpleQueue[tuple[int, ReasonCode]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._in_flight: dict[int, OutboxMessage] = {}  # paho mid -> row; sender thread only
        self._after: dict[int, int] = {}  # priority -> highest row id handed out
        self._sender: threading.Thread | None = None
        self._paho = self._build_paho()

    # -- lifecycle --------------------------------------------------------------------------

    def _build_paho(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=mqtt.MQTTv5,
        )
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        if self.address.tls:
            client.tls_set(
                ca_certs=str(self.settings.ca_file) if self.settings.ca_file else None,
                certfile=str(self.settings.cert_file) if self.settings.cert_file else None,
                keyfile=str(self.settings.key_file) if self.settings.key_file else None,
            )
        will_properties = _properties(PacketTypes.WILLMESSAGE)
        will_properties.WillDelayInterval = self.settings.will_delay_s
        client.will_set(
            self.settings.availability_topic,
            b"offline",
            qos=1,
            retain=True,
            properties=will_properties,
        )
        client.max_inflight_messages_set(self.settings.window)
        client.reconnect_delay_set(1, self.settings.reconnect_max_s)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        return client

    def start(self) -> None:
        """Connect in the background and start draining the outbox; never blocks on the broker."""
        connect_properties = _properties(PacketTypes.CONNECT)
        # A session that outlives short outages keeps our subscriptions and queued commands.
        connect_properties.SessionExpiryInterval = self.settings.session_expiry_s
        self._paho.connect_async(
            self.address.host,
            self.address.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=connect_properties,
        )
        self._paho.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()
        log.info("MQTT: connecting to %s as %s", self.settings.url, self.settings.client_id)

    def stop(self, flush_timeout_s: float = 5.0) -> bool:
        """Flush the outbox (up to the timeout), publish `offline`, disconnect cleanly.

        Returns True if the outbox was empty when the connection closed. What is left stays on
        disk and leaves with the next start.
        """
        deadline = time.monotonic() + flush_timeout_s
        while time.monotonic() < deadline and self._connected.is_set():
            if self.outbox.empty():
                break
            self._wake.set()
            time.sleep(0.02)
        flushed = self.outbox.empty()
        self._stopping.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout=5)
        if self._connected.is_set():
            info = self._paho.publish(
                self.settings.availability_topic, b"offline", qos=1, retain=True
            )
            # If the connection goes away meanwhile, the will says offline instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=max(0.5, deadline - time.monotonic()))
        self._paho.disconnect()
        self._paho.loop_stop()
        log.info("MQTT: stopped (outbox %s)", "flushed" if flushed else "kept for next start")
        return flushed

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    # -- what callers use -------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        priority: Priority = Priority.BULK,
        retain: bool = False,
        correlation: bytes | None = None,
        replayable: bool = False,
    ) -> None:
        """Store a message in the outbox; it leaves when the broker can take it."""
        self.outbox.put(
            topic,
            payload,
            priority=priority,
            retain=retain,
            correlation=correlation,
            replayable=replayable,
        )
        self._wake.set()

    def publish_numbered(
        self,
        counter: str,
        topic: str,
        build: Callable[[int], bytes],
        *,
        priority: Priority = Priority.BULK,
        replayable: bool = True,
    ) -> int:
        number = self.outbox.put_numbered(
            counter, topic, build, priority=priority, replayable=replayable
        )
        self._wake.set()
        return number

    def subscribe(self, topic_filter: str, handler: Callable[[IncomingMessage], None]) -> None:
        """Subscribe now if connected, and again on every reconnect."""
        with self._subscriptions_lock:
            self._subscriptions[topic_filter] = handler
            connected = self.connected
        if connected:
            self._paho.subscribe(topic_filter, qos=1)

    def unsubscribe(self, topic_filter: str) -> None:
        with self._subscriptions_lock:
            known = self._subscriptions.pop(topic_filter, None)
            connected = self.connected
        if known is not None and connected:
            self._paho.unsubscribe(topic_filter)

    def manage(self, topic_filter: str) -> None:
        """A filter this client may hold: cleared from a resumed session when not wanted."""
        with self._subscriptions_lock:
            self._managed.add(topic_filter)

    # -- paho callbacks (network thread: record and return) ---------------------------------

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            # Refused credentials or ACL: say it once per distinct reason; paho keeps retrying.
            message = f"broker {self.settings.url} refused the connection: {reason.getName()}"
            if message != self.stats.last_error:
                log.error("MQTT: %s", message)
            self.stats.last_error = message
            return
        self.stats.connects += 1
        self.stats.last_error = None
        client.publish(self.settings.availability_topic, b"online", qos=1, retain=True)
        with self._subscriptions_lock:
            # Connected before the copy, under the lock: a subscribe() racing this callback is
            # either in the copy or sends its own SUBSCRIBE (twice is harmless, never is not).
            self._connected.set()
            filters = list(self._subscriptions)
            stale = [f for f in self._managed if f not in self._subscriptions]
        if filters:
            client.subscribe([(topic_filter, 1) for topic_filter in filters])
        if stale and flags.session_present:
            # The resumed session may still hold a subscription this run does not want (e.g.
            # the job pool of a run that stopped while taking jobs): offers would arrive here
            # and be lost to the rest of the pool.
            client.unsubscribe(stale)
        log.info(
            "MQTT: connected to %s (session %s)",
            self.settings.url,
            "resumed" if flags.session_present else "new",
        )
        self._wake.set()
        if self._on_connected is not None:
            self._on_connected(True)

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            self.stats.disconnects += 1
            if not self._stopping.is_set():
                log.warning(
                    "MQTT: lost the broker (%s); messages wait in the outbox", reason.getName()
                )
            if self._on_connected is not None:
                self._on_connected(False)

    def _handle_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._acks.put((mid, reason))
        self._wake.set()

    def _handle_message(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        properties = message.properties
        response_topic = getattr(properties, "ResponseTopic", None) if properties else None
        correlation = getattr(properties, "CorrelationData", None) if properties else None
        incoming = IncomingMessage(
            topic=message.topic,
            payload=bytes(message.payload),
            response_topic=response_topic,
            correlation=bytes(correlation) if correlation is not None else None,
            received_at=self._clock(),
        )
        with self._subscriptions_lock:
            handlers = [
                handler
                for topic_filter, handler in self._subscriptions.items()
                if mqtt.topic_matches_sub(topic_filter, message.topic)
                or _shared_matches(topic_filter, message.topic)
            ]
        if not handlers:
            self.stats.unhandled += 1
        for handler in handlers:
            try:
                handler(incoming)
            except Exception:  # a handler bug must not kill paho's network thread
                log.exception("MQTT: handler for %s failed", message.topic)

    # -- the sender thread ------------------------------------------------------------------

    def _send_loop(self) -> None:
        next_expiry = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            # Let a burst of puts land first: one query for many rows, not one per row.
            time.sleep(COALESCE_S)
            self._wake.clear()
            try:
                self._drain_acks()
                if self._connected.is_set():
                    self._hand_out()
                if time.monotonic() >= next_expiry:
                    self.outbox.expire()
                    next_expiry = time.monotonic() + 60.0
            except Exception:
                # The disk or the database failed: say so, keep the loop, try again later.
                log.exception("MQTT: sender step failed")
                time.sleep(1.0)
        self._drain_acks()

    def _drain_acks(self) -> None:
        done: list[int] = []
        while True:
            try:
                mid, reason = self._acks.get_nowait()
            except queue.Empty:
                break
            row = self._in_flight.pop(mid, None)
            if row is None:
                continue  # an ack of a direct publish (availability)
            done.append(row.id)
            if reason.is_failure:
                # The broker will never take it (ACL, quota, bad topic): resending cannot help.
                self._count_refusal(reason.getName())
                log.warning("MQTT: broker refused a message on %s: %s", row.topic, reason.getName())
            else:
                self.stats.acked += 1
        if done:
            self.outbox.ack(done)

    def _count_refusal(self, name: str) -> None:
        self.stats.refused += 1
        self.stats.refused_reasons[name] = self.stats.refused_reasons.get(name, 0) + 1

    def _hand_out(self) -> None:
        room = self.settings.window - len(self._in_flight)
        if room <= 0:
            return
        for row in self.outbox.batch(room, after=self._after):
            properties: Properties | None = None
            if row.correlation is not None:
                properties = _properties(PacketTypes.PUBLISH)
                properties.CorrelationData = row.correlation
            self._after[int(row.priority)] = row.id
            try:
                info = self._paho.publish(
                    row.topic,
                    self._wire_payload(row),
                    qos=row.qos,
                    retain=row.retain,
                    properties=properties,
                )
            except (ValueError, TypeError) as error:
                # paho refuses it (a wildcard or invalid topic, an oversized payload): it never
                # will take it, so the row goes, counted, rather than block everything behind it.
                self.outbox.ack([row.id])
                self._count_refusal("refused by paho")
                log.warning("MQTT: cannot publish to %r: %s; message dropped", row.topic, error)
                continue
            if row.qos == 0:
                self.outbox.ack([row.id])  # nothing will acknowledge it
            else:
                self._in_flight[info.mid] = row
            if not self._connected.is_set():
                break  # paho keeps what it took and resends it on reconnect

    def _wire_payload(self, row: OutboxMessage) -> bytes:
        late = self._clock() - row.created > self.settings.historical_after_s
        if not (row.replayable and late):
            return row.payload
        try:
            document = json.loads(row.payload)
        except ValueError:
            return row.payload
        if isinstance(document, dict) and document.get("historical") is False:
            document["historical"] = True
            return json.dumps(document, separators=(",", ":")).encode()
        return row.payload


def _shared_matches(topic_filter: str, topic: str) -> bool:
    """`$share/<group>/<filter>` delivers messages whose topic matches `<filter>`."""
    if not topic_filter.startswith("$share/"):
        return False
    parts = topic_filter.split("/", 2)
    return len(parts) == 3 and mqtt.topic_matches_sub(parts[2], topic)


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it untyped
