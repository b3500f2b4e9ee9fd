"""The protocol's typed messages and their payload layouts (PROTOCOL.md section 3), no I/O."""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, Self, TypeVar

MAX_SENSORS = 8
MIN_REPORT_INTERVAL_MS = 250  # 4 Hz
MAX_REPORT_INTERVAL_MS = 1000  # 1 Hz
SERIAL_NUMBER_BYTES = 12
NO_READING_CENTI = -0x8000  # int16 minimum: the sensor gave no value (open, short, absent)
NO_NEXT_CHANGE = 0xFFFFFFFF

_E = TypeVar("_E", bound=enum.IntEnum)


class ProtocolError(ValueError):
    """A message that cannot be encoded: a caller bug, never raised by the decoder."""


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


class Mode(enum.IntEnum):
    OFF = 0
    HEAT = 1
    ECO = 2
    BOOST = 3


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


class NakReason(enum.IntEnum):
    BAD_PAYLOAD = 1
    OUT_OF_RANGE = 2
    NOT_READY = 3
    UNSUPPORTED = 4


class MessageType(enum.IntEnum):
    IDENT_REQUEST = 0x01
    HEARTBEAT = 0x02
    SET = 0x03
    RESET = 0x04
    IDENT = 0x41
    SENSORS = 0x42
    THERMOSTAT = 0x43
    FAULT = 0x44
    ACK = 0x7E
    NAK = 0x7F


class PayloadError(ValueError):
    """Internal: a payload does not fit its message type (counted as bad_payload)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message. `seq` is the sender's 8-bit frame counter."""

    TYPE: ClassVar[MessageType]
    # Messages a receiver must ACK (or NAK); the sender retries them until it does.
    RELIABLE: ClassVar[bool] = False
    # A reliable message that carries state: a newer one makes an unanswered older one moot.
    SUPERSEDES: ClassVar[bool] = False
    seq: int = 0

    def pack_payload(self) -> bytes:
        return b""

    @classmethod
    def unpack_payload(cls, payload: bytes, seq: int) -> Self:
        if payload:
            raise PayloadError(f"{cls.TYPE.name} carries no payload, got {len(payload)} bytes")
        return cls(seq=seq)


def _unpack(fmt: struct.Struct, payload: bytes, name: str) -> tuple[int, ...]:
    if len(payload) != fmt.size:
        raise PayloadError(f"{name} payload is {fmt.size} bytes, got {len(payload)}")
    return fmt.unpack(payload)


def _enum(kind: type[_E], value: int) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise PayloadError(f"{kind.__name__} has no value {value}") from None


def _type_or_code(code: int) -> int:
    """An answered message type: named when known, the bare code when not (still valid)."""
    try:
        return MessageType(code)
    except ValueError:
        return code


@dataclass(frozen=True, slots=True, kw_only=True)
class _FixedLayout(Message):
    """A message whose payload is its fields in declaration order, in one struct format."""

    _FMT: ClassVar[struct.Struct]
    # How a raw integer becomes the field's type (an enum); plain integers need no entry.
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {}

    def problem(self) -> str | None:
        """What makes this message invalid beyond its struct format, if anything."""
        return None

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "seq")

    def pack_payload(self) -> bytes:
        problem = self.problem()
        if problem:
            raise ProtocolError(problem)
        return self._FMT.pack(*(getattr(self, name) for name in self._names()))

    @classmethod
    def unpack_payload(cls, payload: bytes, seq: int) -> Self:
        values = _unpack(cls._FMT, payload, cls.TYPE.name)
        decoded = {
            name: cls._DECODE.get(name, int)(value)
            for name, value in zip(cls._names(), values, strict=True)
        }
        message = cls(seq=seq, **decoded)
        problem = message.problem()
        if problem:
            raise PayloadError(problem)
        return message


def _decoder(kind: type[_E]) -> Callable[[int], int]:
    return lambda value: _enum(kind, value)


# --- host to MCU -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentRequest(Message):
    """Host asks the MCU to identify itself; answered by IDENT (which serves as the ACK)."""

    TYPE = MessageType.IDENT_REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(_FixedLayout):
    """Host is alive, applies `applied_power_w`, and holds a heat lease of `lease_ms`."""

    TYPE = MessageType.HEARTBEAT
    _FMT = struct.Struct(">HH")
    applied_power_w: int
    lease_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDisplay(_FixedLayout):
    """Host sets what the heater shows and its fan: the setpoint in effect and fan duty."""

    TYPE = MessageType.SET
    RELIABLE = True
    SUPERSEDES = True
    _FMT = struct.Struct(">hBB")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {"mode": _decoder(Mode)}
    setpoint_centi: int
    mode: Mode
    fan_pct: int

    def problem(self) -> str | None:
        return (
            None if 0 <= self.fan_pct <= 100 else f"SET fan_pct must be 0..100, got {self.fan_pct}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reset(Message):
    """Host asks the MCU to restart, which clears a latched failsafe shutdown."""

    TYPE = MessageType.RESET
    RELIABLE = True


# --- MCU to host -------------------------------------------------------------------------


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
            heater_kind=_enum(HeaterKind, kind),
            rated_power_w=power,
            min_temp_centi=tmin,
            max_temp_centi=tmax,
            report_interval_ms=interval,
            boot_id=boot,
            config_checksum=checksum,
            sensors=tuple(_enum(SensorKind, s) for s in sensor_bytes),
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
class Thermostat(_FixedLayout):
    """The occupant's wish: setpoint, mode, where it came from, and the next scheduled change."""

    TYPE = MessageType.THERMOSTAT
    RELIABLE = True
    SUPERSEDES = True
    _FMT = struct.Struct(">hBBhI")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {
        "mode": _decoder(Mode),
        "source": _decoder(SetpointSource),
    }
    setpoint_centi: int
    mode: Mode
    source: SetpointSource
    next_setpoint_centi: int = 0
    next_change_s: int = NO_NEXT_CHANGE  # simulated or real seconds from now; none: 0xFFFFFFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault(_FixedLayout):
    """Something the MCU detected or did on its own: sensor faults, limits, lease lapse."""

    TYPE = MessageType.FAULT
    RELIABLE = True
    _FMT = struct.Struct(">BBh")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {"code": _decoder(FaultCode)}
    NO_SENSOR: ClassVar[int] = 0xFF
    code: FaultCode
    sensor_index: int = 0xFF
    value_centi: int = NO_READING_CENTI


# --- both directions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(_FixedLayout):
    """The frame `acked_seq` of type `acked_type` was received and applied."""

    TYPE = MessageType.ACK
    _FMT = struct.Struct(">BB")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {"acked_type": _type_or_code}
    acked_seq: int
    acked_type: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Nak(_FixedLayout):
    """The frame `nacked_seq` was received but refused, for `reason`; do not retry it."""

    TYPE = MessageType.NAK
    _FMT = struct.Struct(">BBB")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {
        "nacked_type": _type_or_code,
        "reason": _decoder(NakReason),
    }
    nacked_seq: int
    nacked_type: int
    reason: NakReason


MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        IdentRequest,
        Heartbeat,
        SetDisplay,
        Reset,
        Ident,
        Sensors,
        Thermostat,
        Fault,
        Ack,
        Nak,
    )
}
