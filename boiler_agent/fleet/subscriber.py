"""A fleet-side MQTT v5 subscriber: every message under the root, handed over in order.

paho's network thread only parses and queues (bounded, in bytes); the tool's own thread takes
them with `take()`. With a `client_id` the session persists (`SessionExpiryInterval`,
`clean_start=False`): a recorder restarted within the expiry gets what the broker kept for it
at QoS 1, so a restart of the consumer loses nothing. Without one, a watcher starts fresh and
sees the retained state (birth, state, availability) at once.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from boiler_agent.fleet.messages import FleetMessage, parse, subscription
from boiler_agent.telemetry.config import BrokerUrl
from boiler_agent.telemetry.topics import DEFAULT_ROOT

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600  # a recorder down for less than a week loses nothing
MAX_PACKET_BYTES = 2 * 1024 * 1024  # the agent's own bound (job hand-offs carry checkpoints)
MAX_QUEUED_BYTES = 64 * 1024 * 1024  # beyond, the consumer is too slow: drop, count, say


class FleetSubscriber:
    def __init__(
        self,
        url: str,
        *,
        fleet: str | None = None,
        root: str = DEFAULT_ROOT,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        topic_filter: str | list[str] | None = None,
    ) -> None:
        self.address = BrokerUrl(url)
        self.root = root
        if isinstance(topic_filter, str):
            topic_filter = [topic_filter]
        self.filters = topic_filter or [subscription(fleet, root)]
        self.filter = ", ".join(self.filters)
        self.received = 0
        self.received_bytes = 0  # topic and payload bytes of every message received
        self.unreadable = 0
        self.overflowed = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._queue: collections.deque[FleetMessage] = collections.deque()
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._persistent = client_id is not None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=mqtt.MQTTv5
        )
        if username is not None:
            client.username_pw_set(username, password)
        if self.address.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(1, 30)
        self._client = client

    def start(self) -> FleetSubscriber:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S if self._persistent else 0
        properties.MaximumPacketSize = MAX_PACKET_BYTES
        self._client.connect_async(
            self.address.host,
            self.address.port,
            clean_start=not self._persistent,
            properties=properties,
        )
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """QoS 1; paho queues it while the connection is down."""
        return self._client.publish(topic, payload, qos=1, retain=retain)

    def take(self, timeout_s: float) -> list[FleetMessage]:
        """What has arrived, waiting up to `timeout_s` for something."""
        with self._arrived:
            if not self._queue:
                self._arrived.wait(timeout_s)
            messages = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        return messages

    # -- paho's thread --------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, *_: Any
    ) -> None:
        if reason.is_failure:
            log.warning("fleet: broker %s refused the connection: %s", self.address, reason)
            return
        self.connected.set()
        log.info("fleet: connected to %s, subscribing to %s", self.address, self.filter)
        client.subscribe([(topic_filter, 1) for topic_filter in self.filters])

    def _on_subscribe(self, *_: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, *_: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if reason.is_failure:
            log.warning("fleet: lost the broker %s (%s); reconnecting", self.address, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        parsed = parse(
            message.topic, bytes(message.payload), retained=message.retain, root=self.root
        )
        with self._arrived:
            self.received += 1
            self.received_bytes += len(message.topic) + len(message.payload)
            if parsed is None:
                self.unreadable += 1
                return
            if self._queued_bytes + len(message.payload) > MAX_QUEUED_BYTES:
                self.overflowed += 1
                return
            self._queue.append(parsed)
            self._queued_bytes += len(message.payload)
            self._arrived.notify()
