"""A heater link stand-in for in-process tests of the daemon: an MCU and a tiny room."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from firmware_bridge.events import (
    EventQueue,
    HeaterIdentity,
    LinkDown,
    LinkStats,
    LinkUp,
    Readings,
    ThermostatState,
)
from firmware_bridge.link import LinkState
from firmware_bridge.protocol import HeaterKind, Mode, SensorKind, SensorStatus, SetpointSource

ROOM_IDENTITY = HeaterIdentity(
    serial_number="QH1-TEST",
    firmware_version="1.0.0",
    heater_kind=HeaterKind.SPACE_HEATER,
    rated_power_w=500,
    min_temp_c=-40.0,
    max_temp_c=100.0,
    report_interval_s=1.0,
    boot_id=1,
    config_checksum=0,
    sensors=(SensorKind.ROOM_AIR, SensorKind.OUTDOOR),
)


@dataclass
class Heartbeat:
    at_s: float
    power_w: float
    lease_s: float


@dataclass
class TinyRoom:
    """One thermal mass losing heat to the outdoors: enough physics for the loop to close."""

    temp_c: float = 15.0
    outdoor_c: float = 0.0
    capacity_j_per_k: float = 2.0e5
    loss_w_per_k: float = 15.0

    def step(self, power_w: float, seconds: float) -> None:
        loss = self.loss_w_per_k * (self.temp_c - self.outdoor_c)
        self.temp_c += (power_w - loss) * seconds / self.capacity_j_per_k


@dataclass
class FakeHeater:
    """The HeaterPort the daemon drives: it queues link events; heartbeats heat the room while
    their lease lasts, as the MCU grants heat."""

    clock: object  # a VirtualClock (now())
    room: TinyRoom = field(default_factory=TinyRoom)
    identity: HeaterIdentity = ROOM_IDENTITY
    events: EventQueue = field(default_factory=lambda: EventQueue(256))
    stats: LinkStats = field(default_factory=LinkStats)
    state: LinkState = LinkState.CONNECTING
    heartbeats: list[Heartbeat] = field(default_factory=list)
    frozen_reading_c: float | None = None
    silent: bool = False
    deaf: bool = False  # the host-to-MCU direction is dead: heartbeats never arrive
    report_every_s: float = 1.0
    _lease_until: float = 0.0
    _power_w: float = 0.0
    _last_step: float = 0.0
    _next_report: float = 0.0

    def now(self) -> float:
        return float(self.clock.now())  # type: ignore[attr-defined]

    # the HeaterPort
    def start(self) -> FakeHeater:
        return self

    def close(self) -> None:
        self.state = LinkState.CLOSED

    def heartbeat(
        self, applied_power_w: float, lease_s: float = 3.0, *, boot_id: int | None = None
    ) -> bool:
        if self.state is not LinkState.UP:
            return False
        if boot_id is not None and boot_id != self.identity.boot_id:
            return False
        self.stats.heartbeats_sent += 1
        if self.deaf:
            return True  # written to the wire; nobody hears it
        self.stats.heartbeats_acked += 1
        now = self.now()
        self.heartbeats.append(Heartbeat(now, applied_power_w, lease_s))
        self._lease_until = now + lease_s
        self._power_w = applied_power_w
        return True

    def reset_mcu(self) -> None:
        self.reboot()

    # what the test does to the world
    def connect(self, reason: str = "handshake") -> None:
        self.state = LinkState.UP
        self.events.put(LinkUp(self.now(), self.identity, reason))

    def reboot(self) -> None:
        """The MCU restarts on its own (a brown-out): a new boot id, a new handshake."""
        self.identity = replace(self.identity, boot_id=self.identity.boot_id + 1)
        self._lease_until = 0.0
        self.events.put(LinkDown(self.now(), "MCU restarted"))
        self.events.put(LinkUp(self.now(), self.identity, "MCU restarted"))

    def unplug(self, reason: str = "port vanished") -> None:
        self.state = LinkState.CONNECTING
        self.events.put(LinkDown(self.now(), reason))

    def knob(self, setpoint_c: float) -> None:
        self.events.put(
            ThermostatState(self.now(), setpoint_c, Mode.HEAT, SetpointSource.KNOB, None, None)
        )

    def schedule(self, setpoint_c: float, next_c: float, in_s: float) -> None:
        """The thermostat's schedule, announcing its next setpoint."""
        self.events.put(
            ThermostatState(
                self.now(), setpoint_c, Mode.HEAT, SetpointSource.SCHEDULE, next_c, in_s
            )
        )

    def advance(self) -> None:
        """Step the room to now and, unless silent, report the sensors when a report is due."""
        now = self.now()
        power = self._power_w if now <= self._lease_until else 0.0
        self.room.step(power, now - self._last_step)
        self._last_step = now
        if self.silent or self.state is not LinkState.UP or now < self._next_report:
            return
        self._next_report = now + self.report_every_s
        reading = self.room.temp_c if self.frozen_reading_c is None else self.frozen_reading_c
        self.stats.frames_rx += 1
        # The sensors the identity says, in its order: the controlled one, then the outdoor.
        sensors = self.identity.sensors
        self.events.put(
            Readings(
                at_s=now,
                sensors=sensors,
                temps_c=(reading, self.room.outdoor_c)[: len(sensors)],
                statuses=(SensorStatus.OK,) * len(sensors),
                heater_power_w=round(power),
                lease_active=now <= self._lease_until,
                shutdown=False,
                uptime_s=now,
            )
        )
