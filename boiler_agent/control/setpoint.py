"""Which temperature to aim at: the thermostat, a remote override, and the mode, arbitrated.

Pure: events and times in, a `Target` out; times are the agent's control clock in seconds.

Precedence, highest first:
1. The occupant's knob. Turning the knob cancels a remote override: the person in the room
   wins over the fleet, as with any thermostat that can be set from afar.
2. A remote override (`setpoint_override` command) until it expires.
3. The thermostat's own setpoint (its schedule, or a knob setting it still holds).

The mode comes from a remote `set_mode` (until it expires) or else from the thermostat. What
the modes mean is the agent's business (the MCU only reports them):
- heat: the setpoint as is;
- eco: the setpoint lowered by ECO_OFFSET_K;
- boost: the setpoint raised by BOOST_OFFSET_K;
- off: only frost protection (FROST_C): pipes and tanks must not freeze.
Every setpoint, whatever its source (knob, schedule, the thermostat's announced next setpoint,
a command, frost protection, a range changed by a reload), goes through one clamp to the
configured setpoint range on its way out; the safety limits apply after this, whatever the
setpoint says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from boiler_agent.heater_type import HeaterType

ModeName = Literal["heat", "eco", "off", "boost"]
SourceName = Literal["schedule", "knob", "remote", "override"]

ECO_OFFSET_K = {"room": 2.0, "boiler": 5.0}
BOOST_OFFSET_K = {"room": 1.0, "boiler": 5.0}
FROST_C = {"room": 7.0, "boiler": 10.0}


@dataclass(frozen=True)
class Target:
    setpoint_c: float  # what the controller aims at, mode applied
    base_setpoint_c: float  # before the mode
    source: SourceName
    mode: ModeName
    override_until_s: float | None
    mode_until_s: float | None
    next_setpoint: tuple[float, float] | None  # (at_s, °C) announced by the schedule


class SetpointArbiter:
    def __init__(self, kind: HeaterType, setpoint_min_c: float, setpoint_max_c: float) -> None:
        if not setpoint_min_c < setpoint_max_c:
            raise ValueError(
                f"setpoint_min_c {setpoint_min_c} must be below setpoint_max_c {setpoint_max_c}"
            )
        self.kind = kind
        self.setpoint_min_c = setpoint_min_c
        self.setpoint_max_c = setpoint_max_c
        self._thermostat_c: float | None = None
        self._thermostat_source: SourceName = "schedule"
        self._thermostat_mode: ModeName = "heat"
        self._knob_c: float | None = None
        self._next: tuple[float, float] | None = None
        self._override: tuple[float, float | None] | None = None  # (°C, until_s)
        self._mode_override: tuple[ModeName, float | None] | None = None

    # -- inputs -----------------------------------------------------------------------------

    def thermostat(
        self,
        now_s: float,
        setpoint_c: float,
        source: SourceName,
        mode: ModeName,
        next_change: tuple[float, float] | None = None,  # (in_s, °C)
    ) -> bool:
        """A thermostat report. Returns True when it cancelled a remote override."""
        cancelled = False
        if source == "knob" and setpoint_c != self._knob_c:
            # A new knob position: the occupant acted, so the remote override ends here.
            cancelled = self._override is not None
            self._override = None
            self._knob_c = setpoint_c
        elif source != "knob":
            self._knob_c = None
        self._thermostat_c = setpoint_c
        self._thermostat_source = source
        self._thermostat_mode = mode
        self._next = (now_s + next_change[0], next_change[1]) if next_change else None
        return cancelled

    def override(self, setpoint_c: float, until_s: float | None) -> None:
        if not math.isfinite(setpoint_c):
            raise ValueError(f"setpoint_c must be finite, got {setpoint_c!r}")
        self._override = (self._clamp(setpoint_c), until_s)

    def set_mode(self, mode: ModeName, until_s: float | None) -> None:
        self._mode_override = (mode, until_s)

    # -- output -----------------------------------------------------------------------------

    def target(self, now_s: float) -> Target | None:
        """The target now, or None before the thermostat has said anything."""
        self._expire(now_s)
        if self._override is not None:
            base, source, until = self._override[0], "override", self._override[1]
        elif self._thermostat_c is not None:
            base, source, until = self._thermostat_c, self._thermostat_source, None
        else:
            return None
        mode, mode_until = (
            self._mode_override
            if self._mode_override is not None
            else (self._thermostat_mode, None)
        )
        base = self._clamp(base)
        upcoming = None if self._override is not None else self._next
        next_setpoint = (upcoming[0], self._clamp(upcoming[1])) if upcoming else None
        return Target(
            setpoint_c=self._apply_mode(base, mode),
            base_setpoint_c=base,
            source=source,  # type: ignore[arg-type]  # one of the literals above
            mode=mode,
            override_until_s=until,
            mode_until_s=mode_until,
            next_setpoint=next_setpoint if mode in ("heat", "boost") else None,
        )

    def _expire(self, now_s: float) -> None:
        if self._override is not None and _expired(self._override[1], now_s):
            self._override = None
        if self._mode_override is not None and _expired(self._mode_override[1], now_s):
            self._mode_override = None

    def _apply_mode(self, base_c: float, mode: ModeName) -> float:
        if mode == "off":
            return self._clamp(FROST_C[self.kind])
        if mode == "eco":
            return self._clamp(base_c - ECO_OFFSET_K[self.kind])
        if mode == "boost":
            return self._clamp(base_c + BOOST_OFFSET_K[self.kind])
        return self._clamp(base_c)

    def _clamp(self, value_c: float) -> float:
        """The one clamp every setpoint goes through; a value that is not a number is the
        lowest setpoint allowed (the safe end for a heater)."""
        if not math.isfinite(value_c):
            return self.setpoint_min_c
        return min(self.setpoint_max_c, max(self.setpoint_min_c, value_c))


def _expired(until_s: float | None, now_s: float) -> bool:
    return until_s is not None and now_s >= until_s
