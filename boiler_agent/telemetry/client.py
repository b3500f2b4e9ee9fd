"""The MQTT connection to the fleet: paho-mqtt 2.x, MQTT v5, fed from the on-disk outbox.

Threads and their jobs:
- paho's network thread (`loop_start`) runs the callbacks. They only record what happened
  (acks, incoming messages, connection state) and return: no I/O, no parsing beyond the topic.
- the sender thread (`sender.py`) moves rows from the outbox to paho while connected, at most
  `window` in flight, and deletes a row when its PUBACK arrives.
- callers (the agent's loops) only write to the outbox and read the incoming queues; nothing
  here blocks them when the broker is away.

Consumers de-duplicate by `msg_id`: a row can leave twice when the agent restarts before its
PUBACK.

`availability` is the exception to "everything through the outbox": `online` describes the
connection that carries it, so it is published directly on every connect, and `offline` is the
last will (with a will delay against flapping) or the last message of a clean stop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from boiler_agent.telemetry.client_types import (
    MAX_PACKET_BYTES,
    ClientSettings,
    ClientStats,
    IncomingMessage,
    new_properties,
)
from boiler_agent.telemetry.outbox import Outbox, Priority
from boiler_agent.telemetry.sender import OutboxSender

__all__ = [
    "MAX_PACKET_BYTES",
    "ClientSettings",
    "ClientStats",
    "FleetClient",
    "IncomingMessage",
]

log = logging.getLogger(__name__)


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
        self.address = settings.url  # host, port and tls, parsed when the config was read
        self._clock = clock
        self._on_connected = on_connected
        # topic filter -> handler; handlers run on the paho thread, so they must only enqueue.
        self._subscriptions: dict[str, Callable[[IncomingMessage], None]] = dict(
            subscriptions or []
        )
        self._subscriptions_lock = threading.Lock()
        # SUBSCRIBE and UNSUBSCRIBE packets sent and not acknowledged yet (their paho mids).
        self._unacked = threading.Condition()
        self._unacked_mids: set[int] = set()
        self._acked_early: set[int] = set()
        # True from CONNACK until the connect callback has sent its SUBSCRIBE and UNSUBSCRIBE:
        # `connected` is already set then, and nothing would be unacknowledged yet.
        self._connect_sending = False
        self._managed: set[str] = set()
        self.stats = ClientStats()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._paho = self._build_paho()
        self._sender = OutboxSender(
            outbox, self._paho, settings, self.stats, connected=self._connected
        )

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
        will_properties = new_properties(PacketTypes.WILLMESSAGE)
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
        client.on_subscribe = self._handle_sub_ack
        client.on_unsubscribe = self._handle_sub_ack
        return client

    def start(self) -> None:
        """Connect in the background and start draining the outbox; never blocks on the broker."""
        connect_properties = new_properties(PacketTypes.CONNECT)
        # A session that outlives short outages keeps our subscriptions and queued commands.
        connect_properties.SessionExpiryInterval = self.settings.session_expiry_s
        # Bounded in bytes, not only in count: Mosquitto drops a larger message for us ("Dropping
        # too large outgoing PUBLISH") and keeps the connection; paho itself would read any size.
        connect_properties.MaximumPacketSize = self.settings.max_packet_bytes
        self._paho.connect_async(
            self.address.host,
            self.address.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=connect_properties,
        )
        self._paho.loop_start()
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
            self._sender.wake()
            time.sleep(0.02)
        flushed = self.outbox.empty()
        self._stopping.set()
        self._sender.stop()
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

    def abort(self) -> None:
        """Go as a killed process goes: no flush, no `offline` (the broker's will says it), the
        connection dropped without DISCONNECT. For in-process fault campaigns."""
        self._stopping.set()
        self._sender.stop()
        sock = self._paho.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._paho.loop_stop()

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
        self._sender.wake()

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
        self._sender.wake()
        return number

    def subscribe(self, topic_filter: str, handler: Callable[[IncomingMessage], None]) -> None:
        """Subscribe now if connected, and again on every reconnect."""
        with self._subscriptions_lock:
            self._subscriptions[topic_filter] = handler
            connected = self.connected
        if connected:
            self._sent(self._paho.subscribe(topic_filter, qos=1))

    def unsubscribe(self, topic_filter: str) -> None:
        with self._subscriptions_lock:
            known = self._subscriptions.pop(topic_filter, None)
            connected = self.connected
        if known is not None and connected:
            self._sent(self._paho.unsubscribe(topic_filter))

    def subscriptions_settled(self, timeout_s: float) -> bool:
        """Wait until every SUBSCRIBE and UNSUBSCRIBE sent is acknowledged by the broker (a
        subscription is in place only then); False when time ran out first."""
        with self._unacked:
            return self._unacked.wait_for(
                lambda: not self._unacked_mids and not self._connect_sending, timeout_s
            )

    def _sent(self, result: tuple[int, int | None]) -> None:
        code, mid = result
        if code == mqtt.MQTT_ERR_SUCCESS and mid is not None:
            with self._unacked:
                if mid in self._acked_early:  # the broker answered before we got here
                    self._acked_early.discard(mid)
                else:
                    self._unacked_mids.add(mid)

    def _handle_sub_ack(self, client: mqtt.Client, userdata: object, mid: int, *_: object) -> None:
        with self._unacked:
            if mid in self._unacked_mids:
                self._unacked_mids.discard(mid)
            else:
                self._acked_early.add(mid)
            self._unacked.notify_all()

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
        with self._unacked:
            self._connect_sending = True
        try:
            with self._subscriptions_lock:
                # Connected before the copy, under the lock: a subscribe() racing this callback is
                # either in the copy or sends its own SUBSCRIBE (twice is harmless, never is not).
                self._connected.set()
                filters = list(self._subscriptions)
                stale = [f for f in self._managed if f not in self._subscriptions]
            if filters:
                self._sent(client.subscribe([(topic_filter, 1) for topic_filter in filters]))
            if stale and flags.session_present:
                # The resumed session may still hold a subscription this run does not want (e.g.
                # the job pool of a run that stopped while taking jobs): offers would arrive here
                # and be lost to the rest of the pool.
                self._sent(client.unsubscribe(stale))
        finally:
            with self._unacked:
                self._connect_sending = False
                self._unacked.notify_all()
        log.info(
            "MQTT: connected to %s (session %s)",
            self.settings.url,
            "resumed" if flags.session_present else "new",
        )
        self._sender.wake()
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
        self._sender.acked(mid, reason)

    def _handle_message(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        if len(message.payload) > self.settings.max_packet_bytes:
            # A broker that ignores our MaximumPacketSize: paho has read it, but nothing queues it.
            self.stats.oversized += 1
            if self.stats.oversized == 1:  # once per run: a flood must not flood the log too
                log.warning(
                    "MQTT: dropped a %d-byte message on %s (limit %d bytes); later ones are "
                    "only counted",
                    len(message.payload),
                    message.topic,
                    self.settings.max_packet_bytes,
                )
            return
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


def _shared_matches(topic_filter: str, topic: str) -> bool:
    """`$share/<group>/<filter>` delivers messages whose topic matches `<filter>`."""
    if not topic_filter.startswith("$share/"):
        return False
    parts = topic_filter.split("/", 2)
    return len(parts) == 3 and mqtt.topic_matches_sub(parts[2], topic)
