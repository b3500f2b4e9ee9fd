"""The heater wire protocol as a pure codec: typed messages to frames and back, no I/O.

PROTOCOL.md beside this file is normative; this module implements its framing. A frame on the
wire is COBS(version, type, seq, payload, crc16) followed by one 0x00 delimiter. The decoder is
streaming and never raises: every malformed frame is counted in `FrameDecoder.stats` and
dropped, so a noisy line can never reach the control loop as an exception. The message types
live in `messages.py` (base, ACK, NAK), `host_messages.py` and `mcu_messages.py`, and are
re-exported here, so callers need only this module.
"""

from __future__ import annotations

import binascii
import enum
import struct
from dataclasses import dataclass, field, fields
from typing import ClassVar

from cobs import cobs

from firmware_bridge.host_messages import Heartbeat, IdentRequest, Reset, SetDisplay
from firmware_bridge.mcu_messages import (
    MAX_SENSORS,
    NO_NEXT_CHANGE,
    NO_READING_CENTI,
    SERIAL_NUMBER_BYTES,
    Fault,
    FaultCode,
    HeaterKind,
    Ident,
    McuStatus,
    SensorKind,
    SensorReading,
    Sensors,
    SensorStatus,
    SetpointSource,
    Thermostat,
)
from firmware_bridge.messages import (
    Ack,
    Message,
    MessageType,
    Mode,
    Nak,
    NakReason,
    PayloadError,
    ProtocolError,
)

__all__ = [
    "CRC_BYTES",
    "DELIMITER",
    "HEADER_BYTES",
    "MAX_ENCODED_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_SENSORS",
    "MESSAGE_CLASSES",
    "NO_NEXT_CHANGE",
    "NO_READING_CENTI",
    "PROTOCOL_VERSION",
    "SERIAL_NUMBER_BYTES",
    "Ack",
    "DecoderStats",
    "Fault",
    "FaultCode",
    "FrameDecoder",
    "Heartbeat",
    "HeaterKind",
    "Ident",
    "IdentRequest",
    "McuStatus",
    "Message",
    "MessageType",
    "Mode",
    "Nak",
    "NakReason",
    "ProtocolError",
    "Reset",
    "SensorKind",
    "SensorReading",
    "SensorStatus",
    "Sensors",
    "SetDisplay",
    "SetpointSource",
    "Thermostat",
    "crc16",
    "encode",
    "to_dict",
]

PROTOCOL_VERSION = 1
# Largest unencoded frame (header + payload + CRC). Small frames keep the MCU's buffers tiny.
MAX_FRAME_BYTES = 64
HEADER_BYTES = 3
CRC_BYTES = 2
MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES - HEADER_BYTES - CRC_BYTES
# COBS adds one byte per started run of 254 (so one here); the delimiter comes on top.
MAX_ENCODED_BYTES = MAX_FRAME_BYTES + 1
DELIMITER = b"\x00"
# The decoder's table: every message class by its type code, both directions.
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


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); check value 0x29B1 over b"123456789"."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode(message: Message, *, version: int = PROTOCOL_VERSION) -> bytes:
    """One complete frame on the wire, delimiter included. Raises ProtocolError on bad fields.

    `version` exists so simulators and tests can speak another protocol version on purpose.
    """
    if not 0 <= message.seq <= 0xFF:
        raise ProtocolError(f"{message.TYPE.name} seq must be 0..255, got {message.seq}")
    try:
        payload = message.pack_payload()
    except (ValueError, OverflowError, struct.error) as exc:  # struct.error is no ValueError
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError(f"{message.TYPE.name}: a field is out of range ({exc})") from None
    body = bytes((version, message.TYPE, message.seq)) + payload
    if len(body) + CRC_BYTES > MAX_FRAME_BYTES:
        raise ProtocolError(f"{message.TYPE.name} frame exceeds {MAX_FRAME_BYTES} bytes")
    frame = body + crc16(body).to_bytes(CRC_BYTES, "big")
    return bytes(cobs.encode(frame)) + DELIMITER


@dataclass
class DecoderStats:
    """What the decoder saw. Every dropped frame lands in exactly one error counter."""

    frames_ok: int = 0
    bytes_in: int = 0
    oversize: int = 0
    cobs_error: int = 0
    short: int = 0
    bad_crc: int = 0
    bad_version: int = 0
    unknown_type: int = 0
    bad_payload: int = 0
    last_bad_version: int | None = None
    last_error: str = ""

    ERROR_KINDS: ClassVar[tuple[str, ...]] = (
        "oversize",
        "cobs_error",
        "short",
        "bad_crc",
        "bad_version",
        "unknown_type",
        "bad_payload",
    )

    @property
    def errors(self) -> int:
        return sum(getattr(self, kind) for kind in self.ERROR_KINDS)


class _FrameDroppedError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class FrameDecoder:
    """Streaming decoder: `feed()` any bytes, get back the messages completed so far."""

    version: int = PROTOCOL_VERSION
    stats: DecoderStats = field(default_factory=DecoderStats)
    _pending: bytearray = field(default_factory=bytearray)
    _discarding: bool = False  # inside an oversize frame: drop bytes up to the next delimiter

    def feed(self, data: bytes) -> list[Message]:
        self.stats.bytes_in += len(data)
        chunks = data.split(DELIMITER)
        last = len(chunks) - 1
        messages: list[Message] = []
        # The last chunk has no delimiter yet: it stays pending for the next feed.
        for index, chunk in enumerate(chunks):
            complete = index < last
            if self._discarding:
                self._discarding = not complete
                continue
            if self._pending:
                self._pending += chunk
                encoded = bytes(self._pending)
            else:
                encoded = chunk
            if len(encoded) > MAX_ENCODED_BYTES:
                self._pending.clear()
                self._count("oversize", f"more than {MAX_ENCODED_BYTES} bytes without a delimiter")
                self._discarding = not complete
            elif not complete:
                if not self._pending:
                    self._pending += chunk
            elif encoded:  # back-to-back delimiters are idle filler, not errors
                self._pending.clear()
                try:
                    messages.append(self._decode_frame(encoded))
                except _FrameDroppedError as drop:
                    self._count(drop.kind, drop.detail)
        return messages

    def _decode_frame(self, encoded: bytes) -> Message:
        try:
            frame = cobs.decode(encoded)
        except cobs.DecodeError:
            raise _FrameDroppedError("cobs_error", "COBS decoding failed") from None
        if len(frame) < HEADER_BYTES + CRC_BYTES:
            raise _FrameDroppedError("short", f"frame of {len(frame)} bytes")
        body, crc = frame[:-CRC_BYTES], int.from_bytes(frame[-CRC_BYTES:], "big")
        if crc16(body) != crc:
            raise _FrameDroppedError("bad_crc", f"CRC {crc:#06x}, computed {crc16(body):#06x}")
        version, type_code, seq = body[0], body[1], body[2]
        if version != self.version:
            self.stats.last_bad_version = version
            raise _FrameDroppedError("bad_version", f"protocol version {version}")
        cls = MESSAGE_CLASSES.get(type_code)
        if cls is None:
            raise _FrameDroppedError("unknown_type", f"message type {type_code:#04x}")
        try:
            message = cls.unpack_payload(body[HEADER_BYTES:], seq)
        except PayloadError as exc:
            raise _FrameDroppedError("bad_payload", str(exc)) from None
        self.stats.frames_ok += 1
        return message

    def _count(self, kind: str, detail: str) -> None:
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)
        self.stats.last_error = f"{kind}: {detail}"


def to_dict(message: Message) -> dict[str, object]:
    """A JSON-ready view of a message: enum members by name, flags as lists of names."""
    out: dict[str, object] = {"type": message.TYPE.name}
    for f in fields(message):
        out[f.name] = _jsonable(getattr(message, f.name))
    return out


def _jsonable(value: object) -> object:
    if isinstance(value, enum.IntFlag):
        return [member.name for member in type(value) if member.value and member in value]
    if isinstance(value, enum.IntEnum):
        return value.name
    if isinstance(value, SensorReading):
        return {"temp_centi": value.temp_centi, "status": _jsonable(value.status)}
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
