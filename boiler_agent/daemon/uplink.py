"""The agent's MQTT side (its uplink to the fleet): what it publishes, the commands it takes.

Everything the control loop wants to tell the fleet goes through here into the outbox (never
blocking on the broker); commands arrive on paho's thread, wait in a bounded queue, and are
validated and answered on the control loop's thread by `poll_commands`, which hands back only
commands that passed the gate. Applying them (within local limits) is the control loop's job.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boiler_agent.control.safety import SafetyEvent
from boiler_agent.telemetry.client import ClientSettings, FleetClient, IncomingMessage
from boiler_agent.telemetry.command_gate import CommandGate, printable
from boiler_agent.telemetry.discovery import discovery_messages, ha_status_topic
from boiler_agent.telemetry.inbox import Inbox
from boiler_agent.telemetry.outbox import Outbox, Priority
from boiler_agent.telemetry.payloads import (
    Birth,
    Command,
    CommandReply,
    Event,
    State,
    Telemetry,
    dump,
)
from boiler_agent.telemetry.topics import Topics
from boiler_agent.telemetry.weather import WeatherFeed

log = logging.getLogger(__name__)

COMMAND_QUEUE_LIMIT = 64  # a flood of commands is refused, not buffered without bound
DROP_REPORT_EVERY_S = 600.0  # outbox_dropped events: one per this long at most, counts summed


@dataclass(frozen=True)
class UplinkSettings:
    client: ClientSettings
    topics: Topics
    outbox_path: Path
    outbox_max_bytes: int
    outbox_max_age_s: float
    setpoint_range_c: tuple[float, float]
    ha_discovery: bool = True
    ha_prefix: str = "homeassistant"
    weather_zone: str | None = None  # None: the fleet-wide weather report


@dataclass(frozen=True)
class UplinkHealth:
    """What the operator and the fleet are told of the broker side."""

    url: str
    connected: bool
    outbox_queued: int
    outbox_dropped: int
    last_error: str | None
    outbox_writes_failing: bool = False  # the disk refuses the outbox: telemetry is dropped
    oversized_dropped: int = 0  # messages over MaximumPacketSize the broker sent anyway
    replies_redirected: int = 0  # replies kept out of topics outside the heater's reply subtree


@dataclass(frozen=True)
class ReceivedCommand:
    name: str
    command: Command
    reply: CommandReply
    response_topic: str
    correlation: bytes | None


class Uplink:
    def __init__(
        self,
        settings: UplinkSettings,
        *,
        boot_id: str,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.setpoint_range_c = settings.setpoint_range_c
        self.boot_id = boot_id
        self._wall = wall_clock
        self.outbox = Outbox(
            settings.outbox_path,
            max_bytes=settings.outbox_max_bytes,
            max_age_s=settings.outbox_max_age_s,
            clock=wall_clock,
            monotonic=monotonic,
        )
        self.gate = CommandGate(wall_clock, setpoint_range_c=settings.setpoint_range_c)
        self.client = FleetClient(settings.client, self.outbox, clock=wall_clock)
        self.commands = Inbox(COMMAND_QUEUE_LIMIT)
        self._birth: Birth | None = None
        self._last_state: bytes | None = None
        self._ha_wants_discovery = threading.Event()
        self._dropped_reported = sum(self.outbox.dropped().values())
        self._monotonic = monotonic
        self._drops_reported_at: float | None = None
        # Called on paho's thread once a command is queued: the control loop's wake-up.
        self.on_command: Callable[[], None] = lambda: None
        self.client.subscribe(self.topics.cmd_filter, self._command_in)
        self.weather = WeatherFeed(wall_clock)
        self.client.subscribe(self.topics.weather_in(settings.weather_zone), self.weather.inbox.put)
        if settings.ha_discovery:
            self.client.subscribe(ha_status_topic(settings.ha_prefix), self._on_ha_status)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        moved = self.outbox.corrupt_moved_to
        if moved is not None:
            self.publish_event("fault", "outbox_corrupt", moved_to=moved.name)
        self.client.start()

    def stop(self, flush_timeout_s: float) -> bool:
        flushed = self.client.stop(flush_timeout_s)
        self.outbox.close()
        return flushed

    def set_setpoint_range(self, setpoint_range_c: tuple[float, float]) -> None:
        """A new setpoint range (SIGHUP): the command gate and Home Assistant's climate entity
        must say the same, so discovery is published again with it."""
        if setpoint_range_c == self.setpoint_range_c:
            return
        self.setpoint_range_c = setpoint_range_c
        self.gate.setpoint_range_c = setpoint_range_c
        if self.settings.ha_discovery:
            self._publish_discovery()

    def health(self) -> UplinkHealth:
        """Connection and outbox counters (control loop thread: the outbox is its own)."""
        outbox = self.outbox.stats()
        return UplinkHealth(
            url=self.settings.client.url,
            connected=self.client.connected,
            outbox_queued=outbox.queued,
            outbox_dropped=outbox.dropped_total,
            last_error=self.client.stats.last_error,
            outbox_writes_failing=self.outbox.writes_failing,
            oversized_dropped=self.client.stats.oversized,
            replies_redirected=self.gate.replies_redirected,
        )

    # -- publishing (control loop thread) ----------------------------------------------------

    def publish_birth(self, birth: Birth) -> None:
        self._birth = birth
        self.client.publish(self.topics.birth, dump(birth), priority=Priority.STATE, retain=True)
        if self.settings.ha_discovery:
            self._publish_discovery()

    def publish_state(self, state: State) -> bool:
        """Publish the state if it changed; True when it did."""
        payload = dump(state)
        if payload == self._last_state:
            return False
        self._last_state = payload
        self.client.publish(self.topics.state, payload, priority=Priority.STATE, retain=True)
        return True

    def publish_telemetry(self, fields: dict[str, Any]) -> int:
        """Telemetry with the next persisted `seq`; `fields` are the rest of the payload."""
        return self.client.publish_numbered(
            "telemetry",
            self.topics.telemetry,
            lambda seq: dump(Telemetry(**self._sequenced(seq), **fields)),
            priority=Priority.BULK,
        )

    def publish_event(self, kind: str, reason: str, **details: str | float | int | bool) -> int:
        log.info("event %s: %s %s", kind, printable(reason), printable(str(details or "")))
        return self.client.publish_numbered(
            "events",
            self.topics.events,
            lambda seq: dump(
                Event(**self._sequenced(seq), kind=kind, reason=reason, details=details)  # type: ignore[arg-type]
            ),
            priority=Priority.EVENT,
        )

    def publish_safety_events(self, events: Iterable[SafetyEvent]) -> None:
        for event in events:
            kind = "safety_trip" if event.tripped else "safety_recovered"
            self.publish_event(kind, event.kind.value, message=event.reason[:200])

    def housekeeping(self) -> None:
        """Periodic: republish discovery when HA asked; report outbox drops as an event."""
        if self._ha_wants_discovery.is_set():
            self._ha_wants_discovery.clear()
            self._publish_discovery()
        if self.outbox.writes_failing:
            return  # an event about drops would be one more drop: said once writes work again
        # At most one drop report per DROP_REPORT_EVERY_S, with the count since the last: in
        # a long outage each report is one more row in a full outbox, and events are dropped
        # last, so a report per drop would crowd out the telemetry it reports on.
        now = self._monotonic()
        last = self._drops_reported_at
        if last is not None and now - last < DROP_REPORT_EVERY_S:
            return
        dropped = sum(self.outbox.dropped().values())
        if dropped > self._dropped_reported:
            self._drops_reported_at = now
            self.publish_event(
                "outbox_dropped", "outbox_full_or_old", count=dropped - self._dropped_reported
            )
            self._dropped_reported = dropped

    def _sequenced(self, seq: int) -> dict[str, Any]:
        return {
            "boot_id": self.boot_id,
            "seq": seq,
            "msg_id": uuid.uuid4().hex,
            "ts": datetime.fromtimestamp(self._wall(), tz=UTC),
        }

    def _publish_discovery(self) -> None:
        if self._birth is None:
            return
        for topic, payload in discovery_messages(
            self.topics,
            self._birth,
            self.settings.ha_prefix,
            setpoint_range_c=self.setpoint_range_c,
        ):
            self.client.publish(topic, payload, priority=Priority.STATE, retain=True)

    # -- commands ---------------------------------------------------------------------------

    def _on_ha_status(self, message: IncomingMessage) -> None:
        if message.payload.strip() == b"online":
            self._ha_wants_discovery.set()

    def _command_in(self, message: IncomingMessage) -> None:
        self.commands.put(message)
        self.on_command()

    def poll_commands(self) -> list[ReceivedCommand]:
        """Validate the queued commands; refused ones are answered here and not returned."""
        batch = self.commands.drain()
        accepted: list[ReceivedCommand] = []
        for message in batch:
            name = self.topics.command_name(message.topic) or message.topic.rsplit("/", 1)[-1]
            reply, command = self.gate.handle(name, message.payload)
            # A reply goes only under this heater's reply subtree: elsewhere it could overwrite
            # its state or HA's discovery, or break the broker ACL and flap the connection.
            response_topic = self.topics.reply(name if _plain(name) else "unknown")
            requested = message.response_topic
            if requested is not None and requested != response_topic:
                if _publishable(requested) and self.topics.owns_reply(requested):
                    response_topic = requested
                else:
                    self.gate.reply_redirected(name, requested)
            if command is None:
                self.answer(response_topic, message.correlation, reply)
                if not reply.duplicate:
                    self.publish_event(
                        "command_rejected",
                        str(reply.reason),
                        command=name[:64],
                        error=str(reply.error)[:200],
                    )
                continue
            accepted.append(
                ReceivedCommand(name, command, reply, response_topic, message.correlation)
            )
        return accepted

    def poll_weather(self) -> None:
        """Take the fleet's weather reports; a refused one is an event naming what was wrong."""
        for error in self.weather.poll():
            self.publish_event("fault", "weather_rejected", error=error[:200])

    def answer(self, response_topic: str, correlation: bytes | None, reply: CommandReply) -> None:
        self.gate.record(reply)
        self.client.publish(
            response_topic, dump(reply), priority=Priority.STATE, correlation=correlation
        )


def _publishable(topic: str) -> bool:
    """A topic we may publish a reply to: a fleet's bad ResponseTopic must not jam the outbox."""
    return (
        bool(topic)
        and not set(topic) & {"+", "#", "\x00"}
        and len(topic.encode("utf-8", "surrogatepass")) <= 65535
        and topic.isprintable()
    )


def _plain(name: str) -> bool:
    return bool(name) and len(name) <= 64 and all(c.isalnum() or c in "_-" for c in name)
