"""The messages the MCU sends to the host, and their fields' values (PROTOCOL.md section 3)."""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

from firmware_bridge.messages import (
    FixedLayout,
    Message,
    MessageType,
    Mode,
    PayloadError,
    ProtocolError,
    decode_enum,
    enum_decoder,
)

MAX_SENSORS = 8
MIN_REPORT_INTERVAL_MS = 250  # 4 Hz
MAX_REPORT_INTERVAL_MS = 1000  # 1 Hz
SERIAL_NUMBER_BYTES = 12
NO_READING_CENTI = -0x8000  # int16 minimum: the sensor gave no value (open, short, absent)
NO_NEXT_CHANGE = 0xFFFFFFFF


class HeaterKind(enum.IntEnum):
    SPACE_HEATER = 1
    WATER_BOILER = 2


class SensorKind(enum.IntEnum):
    ROOM_AIR = 1
    HEATER_BODY = 2
    TANK_TOP = 3
    TANK_BOTTOM = 4
    OUTDOOR = 5


class SensorStatus(enum.IntFlag):
    OK = 0
    OPEN = 0x01
    SHORT = 0x02
    OUT_OF_RANGE = 0x04


class McuStatus(enum.IntFlag):
    NONE = 0
    LEASE_ACTIVE = 0x01  # the host holds a heat lease: compute power is allowed
    SHUTDOWN = 0x02  # latched failsafe: no heat until RESET
    HOST_SEEN = 0x04  # a HEARTBEAT arrived since boot


class SetpointSource(enum.IntEnum):
    SCHEDULE = 0
    KNOB = 1
    REMOTE = 2


class FaultCode(enum.IntEnum):
    SENSOR_OPEN = 1
    SENSOR_SHORT = 2
    OVER_TEMPERATURE = 3
    UNDER_TEMPERATURE = 4
    LEASE_EXPIRED = 5
    FAILSAFE_SHUTDOWN = 6
    MCU_RESET = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class Ident(Message):
    """The MCU's identity, limits and configuration: the handshake's answer."""

    TYPE = MessageType.IDENT
    _FMT: ClassVar[struct.Struct] = struct.Struct(">BBB12sBHhhHHIB")
    firmware_version: tuple[int, int, int]
    serial_number: str
    heater_kind: HeaterKind
    rated_power_w: int
    min_temp_centi: int
    max_temp_centi: int
    report_interval_ms: int
    boot_id: int
    config_checksum: int
    sensors: tuple[SensorKind, ...]

    def pack_payload(self) -> bytes:
        serial = self.serial_number.encode("ascii")
        if len(serial) > SERIAL_NUMBER_BYTES:
            raise ProtocolError(f"IDENT serial_number longer than 12 bytes: {serial!r}")
        if not 1 <= len(self.sensors) <= MAX_SENSORS:
            raise ProtocolError(f"IDENT needs 1..{MAX_SENSORS} sensors, got {len(self.sensors)}")
        if b"\x00" in serial:
            raise ProtocolError(f"IDENT serial_number must not contain NUL: {serial!r}")
        if self.min_temp_centi >= self.max_temp_centi:
            raise ProtocolError(
                f"IDENT min_temp_centi {self.min_temp_centi} must be below {self.max_temp_centi}"
            )
        if not MIN_REPORT_INTERVAL_MS <= self.report_interval_ms <= MAX_REPORT_INTERVAL_MS:
            raise ProtocolError(
                f"IDENT report_interval_ms must be 250..1000, got {self.report_interval_ms}"
            )
        major, minor, patch = self.firmware_version
        head = self._FMT.pack(
            major,
            minor,
            patch,
            serial.ljust(SERIAL_NUMBER_BYTES, b"\x00"),
            self.heater_kind,
            self.rated_power_w,
            self.min_temp_centi,
            self.max_temp_centi,
            self.report_interval_ms,
            self.boot_id,
            self.config_checksum,
            len(self.sensors),
        )
        return head + bytes(self.sensors)

    @classmethod
    def unpack_payload(cls, payload: bytes, seq: int) -> Self:
        size = cls._FMT.size
        if len(payload) < size:
            raise PayloadError(f"IDENT payload is at least {size} bytes, got {len(payload)}")
        (major, minor, patch, serial, kind, power, tmin, tmax, interval, boot, checksum, count) = (
            cls._FMT.unpack(payload[:size])
        )
        sensor_bytes = payload[size:]
        if not 1 <= count <= MAX_SENSORS or len(sensor_bytes) != count:
            raise PayloadError(f"IDENT announces {count} sensors, carries {len(sensor_bytes)}")
        try:
            serial_text = serial.rstrip(b"\x00").decode("ascii")
        except UnicodeDecodeError:
            raise PayloadError("IDENT serial_number is not ASCII") from None
        if tmin >= tmax:
            raise PayloadError(f"IDENT limits {tmin}..{tmax}: min must be below max")
        if not MIN_REPORT_INTERVAL_MS <= interval <= MAX_REPORT_INTERVAL_MS:
            raise PayloadError(f"IDENT report_interval_ms {interval} is not 250..1000")
        return cls(
            seq=seq,
            firmware_version=(major, minor, patch),
            serial_number=serial_text,
            heater_kind=decode_enum(HeaterKind, kind),
            rated_power_w=power,
            min_temp_centi=tmin,
            max_temp_centi=tmax,
            report_interval_ms=interval,
            boot_id=boot,
            config_checksum=checksum,
            sensors=tuple(decode_enum(SensorKind, s) for s in sensor_bytes),
        )


@dataclass(frozen=True, slots=True)
class SensorReading:
    temp_centi: int
    status: SensorStatus = SensorStatus.OK

    @property
    def temp_c(self) -> float | None:
        """Degrees Celsius, or None when the sensor gave no usable value."""
        if self.temp_centi == NO_READING_CENTI or self.status & (
            SensorStatus.OPEN | SensorStatus.SHORT
        ):
            return None
        return self.temp_centi / 100.0


# Flag values by bits, built once: constructing an IntFlag per reading dominated decoding time.
_SENSOR_STATUS = tuple(SensorStatus(bits) for bits in range(8))
_MCU_STATUS = tuple(McuStatus(bits) for bits in range(8))


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensors(Message):
    """Periodic temperatures in IDENT's sensor order; best effort, never acknowledged."""

    TYPE = MessageType.SENSORS
    _FMT: ClassVar[struct.Struct] = struct.Struct(">HIHBB")
    _READING: ClassVar[struct.Struct] = struct.Struct(">hB")
    boot_id: int
    uptime_ms: int
    heater_power_w: int  # the power the MCU allows right now: 0 without a lease
    status: McuStatus
    readings: tuple[SensorReading, ...]

    def pack_payload(self) -> bytes:
        if not 1 <= len(self.readings) <= MAX_SENSORS:
            raise ProtocolError(f"SENSORS needs 1..{MAX_SENSORS} readings")
        head = self._FMT.pack(
            self.boot_id, self.uptime_ms, self.heater_power_w, self.status, len(self.readings)
        )
        return head + b"".join(self._READING.pack(r.temp_centi, r.status) for r in self.readings)

    @classmethod
    def unpack_payload(cls, payload: bytes, seq: int) -> Self:
        size = cls._FMT.size
        if len(payload) < size:
            raise PayloadError(f"SENSORS payload is at least {size} bytes, got {len(payload)}")
        boot, uptime, power, status, count = cls._FMT.unpack(payload[:size])
        body = payload[size:]
        if not 1 <= count <= MAX_SENSORS or len(body) != count * cls._READING.size:
            raise PayloadError(f"SENSORS announces {count} readings, carries {len(body)} bytes")
        readings = tuple(
            SensorReading(temp, _SENSOR_STATUS[flags & 0x07])
            for temp, flags in cls._READING.iter_unpack(body)
        )
        return cls(
            seq=seq,
            boot_id=boot,
            uptime_ms=uptime,
            heater_power_w=power,
            status=_MCU_STATUS[status & 0x07],
            readings=readings,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Thermostat(FixedLayout):
    """The occupant's wish: setpoint, mode, where it came from, and the next scheduled change."""

    TYPE = MessageType.THERMOSTAT
    RELIABLE = True
    SUPERSEDES = True
    _FMT = struct.Struct(">hBBhI")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {
        "mode": enum_decoder(Mode),
        "source": enum_decoder(SetpointSource),
    }
    setpoint_centi: int
    mode: Mode
    source: SetpointSource
    next_setpoint_centi: int = 0
    next_change_s: int = NO_NEXT_CHANGE  # simulated or real seconds from now; none: 0xFFFFFFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault(FixedLayout):
    """Something the MCU detected or did on its own: sensor faults, limits, lease lapse."""

    TYPE = MessageType.FAULT
    RELIABLE = True
    _FMT = struct.Struct(">BBh")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {"code": enum_decoder(FaultCode)}
    NO_SENSOR: ClassVar[int] = 0xFF
    code: FaultCode
    sensor_index: int = 0xFF
    value_centi: int = NO_READING_CENTI
