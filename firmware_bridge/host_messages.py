"""The messages the host sends to the MCU (PROTOCOL.md section 3), no I/O."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from firmware_bridge.messages import FixedLayout, Message, MessageType, Mode, enum_decoder


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentRequest(Message):
    """Host asks the MCU to identify itself; answered by IDENT (which serves as the ACK)."""

    TYPE = MessageType.IDENT_REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(FixedLayout):
    """Host is alive, applies `applied_power_w`, and holds a heat lease of `lease_ms`."""

    TYPE = MessageType.HEARTBEAT
    _FMT = struct.Struct(">HH")
    applied_power_w: int
    lease_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDisplay(FixedLayout):
    """Host sets what the heater shows and its fan: the setpoint in effect and fan duty."""

    TYPE = MessageType.SET
    RELIABLE = True
    SUPERSEDES = True
    _FMT = struct.Struct(">hBB")
    _DECODE: ClassVar[dict[str, Callable[[int], int]]] = {"mode": enum_decoder(Mode)}
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
