"""The MQTT sender thread: outbox rows to paho, a window in flight, each deleted on its PUBACK.

It is the only thread that talks to paho's publish path and to the mid -> row map, so an ack
can never be matched before its publish. paho resends its in-flight QoS 1 messages itself after
a reconnect (same packet ids), so rows handed to paho are not handed again while this process
lives; a restarted agent starts with an empty map and sends every row still in the outbox.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from boiler_agent.runtime.sqlite_open import storage_failure
from boiler_agent.telemetry.client_types import ClientSettings, ClientStats, new_properties
from boiler_agent.telemetry.outage import Outage
from boiler_agent.telemetry.outbox import Outbox, OutboxMessage

# The operator knows one MQTT client, whichever of its threads speaks.
log = logging.getLogger("boiler_agent.telemetry.client")

COALESCE_S = 0.002
EXPIRE_EVERY_S = 60.0  # how often messages past the outbox's age limit are dropped


class OutboxSender:
    """Drains the outbox into paho while connected; wake it when there is news."""

    def __init__(
        self,
        outbox: Outbox,
        paho: mqtt.Client,
        settings: ClientSettings,
        stats: ClientStats,
        *,
        connected: threading.Event,
    ) -> None:
        self._outbox = outbox
        self._paho = paho
        self._settings = settings
        self._stats = stats
        self._connected = connected  # set and cleared by the connection's callbacks
        self._acks: queue.SimpleQueue[tuple[int, ReasonCode]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._in_flight: dict[int, OutboxMessage] = {}  # paho mid -> row; sender thread only
        # Rows the broker acknowledged that the outbox could not yet delete (a full disk):
        # deleted at the next step that can write, so they are not sent again.
        self._acked_undeleted: list[int] = []
        self._after: dict[int, int] = {}  # priority -> highest row id handed out
        self._thread: threading.Thread | None = None
        self._storage = Outage(f"MQTT sender: outbox {outbox.path}", log)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something changed (a row stored, the connection up): look at the outbox now."""
        self._wake.set()

    def acked(self, mid: int, reason: ReasonCode) -> None:
        """paho's PUBACK for `mid` (called on paho's network thread: queue it and return)."""
        self._acks.put((mid, reason))
        self._wake.set()

    def stop(self) -> None:
        """End the thread after its current step; acks already received are applied."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _send_loop(self) -> None:
        next_expiry = float("-inf")
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            # Let a burst of puts land first: one query for many rows, not one per row.
            time.sleep(COALESCE_S)
            self._wake.clear()
            try:
                self._drain_acks()
                if self._connected.is_set():
                    self._hand_out()
                # On the outbox's clock (virtual in a fault campaign, where a minute of
                # real time is hours of the heater's).
                if self._outbox.monotonic() >= next_expiry:
                    self._outbox.expire()
                    next_expiry = self._outbox.monotonic() + EXPIRE_EVERY_S
                self._storage.recovered()
            except Exception as error:
                if isinstance(error, sqlite3.DatabaseError) and storage_failure(error):
                    # A full or failing disk: said once per outage, not a traceback a second.
                    self._storage.failed(error, "sending and acknowledging wait")
                else:
                    # Not the disk's doing: say all of it, keep the loop, try again later.
                    log.exception("MQTT: sender step failed")
                time.sleep(1.0)
        try:
            self._drain_acks()
        except sqlite3.DatabaseError as error:
            # Stopping on a failing disk: the rows stay and are sent again after the restart
            # (receivers de-duplicate by msg_id); a traceback here would say nothing more.
            log.warning(
                "MQTT: %d acknowledged messages stay in the outbox: %s",
                len(self._acked_undeleted),
                error,
            )

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
                self._stats.acked += 1
        if done or self._acked_undeleted:
            self._acked_undeleted.extend(done)
            self._outbox.ack(self._acked_undeleted)
            self._acked_undeleted = []

    def _count_refusal(self, name: str) -> None:
        self._stats.refused += 1
        self._stats.refused_reasons[name] = self._stats.refused_reasons.get(name, 0) + 1

    def _hand_out(self) -> None:
        room = self._settings.window - len(self._in_flight)
        if room <= 0:
            return
        for row in self._outbox.batch(room, after=self._after):
            properties: Properties | None = None
            if row.correlation is not None:
                properties = new_properties(PacketTypes.PUBLISH)
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
                self._outbox.ack([row.id])
                self._count_refusal("refused by paho")
                log.warning("MQTT: cannot publish to %r: %s; message dropped", row.topic, error)
                continue
            if row.qos == 0:
                self._outbox.ack([row.id])  # nothing will acknowledge it
            else:
                self._in_flight[info.mid] = row
            if not self._connected.is_set():
                break  # paho keeps what it took and resends it on reconnect

    def _wire_payload(self, row: OutboxMessage) -> bytes:
        age = self._outbox.age_s(row)  # None: made before a restart, when the clock was unset
        late = age is None or age > self._settings.historical_after_s
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
