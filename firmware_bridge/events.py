"""What the heater link tells its caller: identity, readings, thermostat, faults, link changes.

These are plain values in host units (°C, W, seconds), built from protocol messages, so
callers never see centi-degrees, sequence numbers or frames.
"""

from __future__ import annotations

import collections
import queue
import threading
from dataclasses import dataclass, field

from firmware_bridge.protocol import (
    NO_NEXT_CHANGE,
    NO_READING_CENTI,
    PROTOCOL_VERSION,
    DecoderStats,
    Fault,
    FaultCode,
    HeaterKind,
    Ident,
    McuStatus,
    Mode,
    SensorKind,
    Sensors,
    SensorStatus,
    SetpointSource,
    Thermostat,
)


def centi_to_c(value: int) -> float | None:
    return None if value == NO_READING_CENTI else value / 100.0


@dataclass(frozen=True)
class HeaterIdentity:
    """The MCU's IDENT, as the handshake found it."""

    serial_number: str
    firmware_version: str
    heater_kind: HeaterKind
    rated_power_w: int
    min_temp_c: float
    max_temp_c: float
    report_interval_s: float
    boot_id: int
    config_checksum: int
    sensors: tuple[SensorKind, ...]
    protocol_version: int = PROTOCOL_VERSION

    @classmethod
    def from_ident(cls, ident: Ident) -> HeaterIdentity:
        return cls(
            serial_number=ident.serial_number,
            firmware_version=".".join(str(part) for part in ident.firmware_version),
            heater_kind=ident.heater_kind,
            rated_power_w=ident.rated_power_w,
            min_temp_c=ident.min_temp_centi / 100.0,
            max_temp_c=ident.max_temp_centi / 100.0,
            report_interval_s=ident.report_interval_ms / 1000.0,
            boot_id=ident.boot_id,
            config_checksum=ident.config_checksum,
            sensors=ident.sensors,
        )

    def describe(self) -> str:
        kind = self.heater_kind.name.lower().replace("_", " ")
        return (
            f"{kind} {self.serial_number}, firmware {self.firmware_version}, "
            f"{self.rated_power_w} W, limits {self.min_temp_c:g}..{self.max_temp_c:g} °C, "
            f"sensors {', '.join(s.name.lower() for s in self.sensors)}"
        )


@dataclass(frozen=True)
class Readings:
    """One SENSORS report. `temps_c[i]` is None when sensor i gave no usable value."""

    at_s: float
    sensors: tuple[SensorKind, ...]
    temps_c: tuple[float | None, ...]
    statuses: tuple[SensorStatus, ...]
    heater_power_w: int
    lease_active: bool
    shutdown: bool
    uptime_s: float

    @classmethod
    def from_message(
        cls, message: Sensors, sensors: tuple[SensorKind, ...], at_s: float
    ) -> Readings:
        return cls(
            at_s=at_s,
            sensors=sensors,
            temps_c=tuple(reading.temp_c for reading in message.readings),
            statuses=tuple(reading.status for reading in message.readings),
            heater_power_w=message.heater_power_w,
            lease_active=bool(message.status & McuStatus.LEASE_ACTIVE),
            shutdown=bool(message.status & McuStatus.SHUTDOWN),
            uptime_s=message.uptime_ms / 1000.0,
        )

    def temp_of(self, kind: SensorKind) -> float | None:
        """The reading of the first sensor of this kind, or None."""
        for sensor, temp in zip(self.sensors, self.temps_c, strict=True):
            if sensor == kind:
                return temp
        return None

    @property
    def controlled_temp_c(self) -> float | None:
        """The first sensor is the controlled one (room air, or top of the tank)."""
        return self.temps_c[0]


@dataclass(frozen=True)
class ThermostatState:
    at_s: float
    setpoint_c: float
    mode: Mode
    source: SetpointSource
    next_setpoint_c: float | None
    next_change_in_s: float | None  # heater time: simulated seconds on a simulator

    @classmethod
    def from_message(cls, message: Thermostat, at_s: float) -> ThermostatState:
        has_next = message.next_change_s != NO_NEXT_CHANGE
        return cls(
            at_s=at_s,
            setpoint_c=message.setpoint_centi / 100.0,
            mode=message.mode,
            source=message.source,
            next_setpoint_c=message.next_setpoint_centi / 100.0 if has_next else None,
            next_change_in_s=float(message.next_change_s) if has_next else None,
        )


@dataclass(frozen=True)
class McuFault:
    at_s: float
    code: FaultCode
    sensor_index: int | None
    value_c: float | None

    @classmethod
    def from_message(cls, message: Fault, at_s: float) -> McuFault:
        index = None if message.sensor_index == Fault.NO_SENSOR else message.sensor_index
        return cls(at_s, message.code, index, centi_to_c(message.value_centi))

    def describe(self) -> str:
        where = "" if self.sensor_index is None else f" on sensor {self.sensor_index}"
        value = "" if self.value_c is None else f" ({self.value_c:.2f} °C)"
        return f"{self.code.name.lower()}{where}{value}"


@dataclass(frozen=True)
class LinkUp:
    at_s: float
    identity: HeaterIdentity
    reason: str  # "handshake", "MCU restarted", "MCU configuration changed", ...


@dataclass(frozen=True)
class LinkDown:
    at_s: float
    reason: str


@dataclass(frozen=True)
class LinkRefused:
    """The link will not run this heater (e.g. protocol version mismatch): no heat, ever."""

    at_s: float
    reason: str


LinkEvent = Readings | ThermostatState | McuFault | LinkUp | LinkDown | LinkRefused


class EventQueue:
    """The link's events for its caller, bounded. When full, the oldest reading goes first:
    a fault, a thermostat change or a link change is never dropped to make room for readings.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self._items: collections.deque[LinkEvent] = collections.deque()
        self._ready = threading.Condition()

    def put(self, event: LinkEvent) -> None:
        with self._ready:
            if len(self._items) >= self.maxsize:
                self.dropped += 1
                self._drop_one()
            self._items.append(event)
            self._ready.notify()

    def _drop_one(self) -> None:
        for index, queued in enumerate(self._items):
            if isinstance(queued, Readings):
                del self._items[index]
                return
        self._items.popleft()  # nothing but important events: the oldest is the least news

    def get(self, timeout: float | None = None) -> LinkEvent:
        """The next event; raises queue.Empty after `timeout` seconds without one."""
        with self._ready:
            if not self._ready.wait_for(lambda: bool(self._items), timeout):
                raise queue.Empty
            return self._items.popleft()

    def get_nowait(self) -> LinkEvent:
        return self.get(timeout=0)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class LinkStats:
    """Counters an operator reads at 3 a.m.: frames, errors by kind, round trip, reconnects."""

    frames_rx: int = 0
    frames_tx: int = 0
    bytes_tx: int = 0
    seq_gaps: int = 0
    duplicates: int = 0
    retransmissions: int = 0
    commands_failed: int = 0
    naks_received: int = 0
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0  # the MCU heard them: the host-to-MCU direction works
    rtt_last_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    reconnects: int = 0
    handshakes: int = 0
    mcu_resets: int = 0
    lease_expiries: int = 0
    bad_readings: int = 0
    unexpected_messages: int = 0  # valid frames meant for the MCU (an echo on the line?)
    events_dropped: int = 0
    decoder: DecoderStats = field(default_factory=DecoderStats)

    def record_rtt(self, seconds: float) -> None:
        ms = seconds * 1000.0
        self.rtt_last_ms = ms
        self.rtt_max_ms = ms if self.rtt_max_ms is None else max(self.rtt_max_ms, ms)
        # An exponential average: recent round trips matter, one outlier does not dominate.
        self.rtt_avg_ms = ms if self.rtt_avg_ms is None else 0.9 * self.rtt_avg_ms + 0.1 * ms
