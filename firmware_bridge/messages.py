"""The protocol's message base, fixed payload layouts, and the answers both ends send (ACK, NAK).

PROTOCOL.md section 3. What each side sends lives beside this: `host_messages.py` (host to
MCU) and `mcu_messages.py` (MCU to host). No I/O; `protocol.py` frames them.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, Self, TypeVar

_E = TypeVar("_E", bound=enum.IntEnum)


class ProtocolError(ValueError):
    """A message that cannot be encoded: a caller bug, never raised by the decoder."""


class Mode(enum.IntEnum):
    OFF = 0
    HEAT = 1
    ECO = 2
    BOOST = 3


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


def decode_enum(kind: type[_E], value: int) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise PayloadError(f"{kind.__name__} has no value {value}") from None


def enum_decoder(kind: type[_E]) -> Callable[[int], int]:
    """A `FixedLayout._DECODE` entry: the raw integer as a member of `kind`."""
    return lambda value: decode_enum(kind, value)


def _type_or_code(code: int) -> int:
    """An answered message type: named when known, the bare code when not (still valid)."""
    try:
        return MessageType(code)
    except ValueError:
        return code


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedLayout(Message):
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(FixedLayout):
    """The frame `acked_seq` of type `acked_type` was received and applied."""

    TYPE = MessageType.ACK
    _FMT = struct.Struct(">BB")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {"acked_type": _type_or_code}
    acked_seq: int
    acked_type: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Nak(FixedLayout):
    """The frame `nacked_seq` was received but refused, for `reason`; do not retry it."""

    TYPE = MessageType.NAK
    _FMT = struct.Struct(">BBB")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {
        "nacked_type": _type_or_code,
        "reason": enum_decoder(NakReason),
    }
    nacked_seq: int
    nacked_type: int
    reason: NakReason
