"""A fleet consumer for the tests: a plain paho subscriber that records what it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None


class Consumer:
    """Subscribes with a persistent session so that nothing is missed across broker restarts."""

    def __init__(
        self,
        port: int,
        *filters: str,
        client_id: str = "test-consumer",
        tls: tuple[Path, Path, Path] | None = None,  # CA, client certificate, key
    ) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._filters = filters
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.reconnect_delay_set(1, 2)
        if tls is not None:
            ca, cert, key = tls
            self.client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("consumer did not subscribe")

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe([(topic_filter, 1) for topic_filter in self._filters])

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None) if props else None
        with self._lock:
            self.received.append(
                Received(message.topic, bytes(message.payload), bool(message.retain), correlation)
            )

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.topic == topic]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def publish(self, topic: str, payload: bytes, **kwargs: object) -> None:
        self.client.publish(topic, payload, qos=1, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
