"""The daemon's side facing the heater: what the link said, folded into the latest state.

The control loop calls `poll()` each turn; it drains the link's event queue (never blocking),
keeps the newest readings and thermostat state, checks a new MCU against what the config
expects, and returns what happened as `HeaterNews` for the loop to act on and to publish.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass, field
from typing import Protocol

from firmware_bridge.events import (
    EventQueue,
    HeaterIdentity,
    LinkDown,
    LinkRefused,
    LinkStats,
    LinkUp,
    McuFault,
    Readings,
    ThermostatState,
)
from firmware_bridge.link import LinkState
from firmware_bridge.protocol import HeaterKind, SensorKind

log = logging.getLogger(__name__)

KIND_NAMES = {HeaterKind.SPACE_HEATER: "room", HeaterKind.WATER_BOILER: "boiler"}


class HeaterPort(Protocol):
    """What the daemon needs of the heater link (firmware_bridge.link.HeaterLink, or a fake)."""

    events: EventQueue
    stats: LinkStats
    state: LinkState

    def start(self) -> object: ...

    def close(self) -> None: ...

    def heartbeat(
        self, applied_power_w: float, lease_s: float = ..., *, boot_id: int | None = None
    ) -> bool: ...

    def reset_mcu(self) -> object: ...


@dataclass
class HeaterNews:
    """What changed since the last poll."""

    link_up: LinkUp | None = None
    link_down: LinkDown | None = None
    refused: str | None = None
    thermostat: ThermostatState | None = None
    faults: list[McuFault] = field(default_factory=list)
    readings: int = 0


class HeaterSide:
    """The latest of what the heater's MCU said, and whether the agent accepts it."""

    def __init__(
        self, link: HeaterPort, *, expected_kind: str, expected_serial: str | None = None
    ) -> None:
        self.link = link
        self.expected_kind = expected_kind
        self.expected_serial = expected_serial
        # The connected MCU once checked against the config; `link.identity` is whoever is
        # connected, accepted or not.
        self.accepted: HeaterIdentity | None = None
        self.readings: Readings | None = None
        self.mismatch: str | None = None  # why the connected MCU is not accepted
        self.links_lost = 0

    def poll(self) -> HeaterNews:
        news = HeaterNews()
        while True:
            try:
                event = self.link.events.get_nowait()
            except queue.Empty:
                return news
            if isinstance(event, Readings):
                if self.accepted is not None:
                    self.readings = event
                    news.readings += 1
            elif isinstance(event, ThermostatState):
                news.thermostat = event
            elif isinstance(event, McuFault):
                news.faults.append(event)
            elif isinstance(event, LinkUp):
                self._on_up(event)
                news.link_up = event
            elif isinstance(event, LinkDown):
                self.accepted = None
                self.readings = None
                self.links_lost += 1
                news.link_down = event
            elif isinstance(event, LinkRefused):
                self.accepted = None
                news.refused = event.reason

    def _on_up(self, event: LinkUp) -> None:
        identity = event.identity
        kind = KIND_NAMES.get(identity.heater_kind, identity.heater_kind.name.lower())
        problems = []
        if kind != self.expected_kind:
            problems.append(
                f"the MCU is a {kind} heater, the config says heater.kind = {self.expected_kind!r}"
            )
        if self.expected_serial is not None and identity.serial_number != self.expected_serial:
            problems.append(
                f"the MCU's serial is {identity.serial_number!r}, the config expects "
                f"heater.expected_serial = {self.expected_serial!r}"
            )
        if problems:
            # Heat is refused (no heartbeat is ever sent) until the right heater is connected.
            self.mismatch = "; ".join(problems)
            self.accepted = None
            log.error("heater refused: %s", self.mismatch)
            return
        self.mismatch = None
        self.accepted = identity
        log.info("heater: %s (%s)", identity.describe(), event.reason)

    def controlled_temp(self) -> tuple[float | None, float | None]:
        """(°C, reading time) of the controlled sensor, from the newest readings."""
        if self.readings is None:
            return None, None
        return self.readings.controlled_temp_c, self.readings.at_s

    def temp_of(self, kind: SensorKind) -> float | None:
        return None if self.readings is None else self.readings.temp_of(kind)

    def refuse(self, reason: str) -> None:
        """The agent refuses this MCU after all (e.g. its limits do not fit the config)."""
        self.accepted = None
        self.mismatch = reason

    @property
    def shutdown(self) -> bool:
        return self.readings is not None and self.readings.shutdown
