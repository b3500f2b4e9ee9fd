"""The heater's own wall thermostat: a daily setpoint schedule, a knob and remote overrides."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from heater_physics.plant import PlantKind
from heater_physics.units import DAY_S, HOUR_S

# What the knob can be turned to, by what the heater warms.
KNOB_RANGE_C: dict[PlantKind, tuple[float, float]] = {
    PlantKind.SPACE: (5.0, 30.0),
    PlantKind.TANK: (30.0, 75.0),
}


class SetpointOrigin(enum.StrEnum):
    """Who set the setpoint in force."""

    SCHEDULE = "schedule"
    KNOB = "knob"
    REMOTE = "remote"


@dataclass(frozen=True)
class _Override:
    setpoint_c: float
    origin: SetpointOrigin
    until_s: float  # simulated time of the next scheduled change when it was set; inf if none


class ScheduledThermostat:
    """Setpoint by time of day, overridable by the knob or the host until the next change.

    Simulated time (seconds since 1 January 00:00) is passed in. An override, from the knob or
    from the host, holds until the next scheduled change, then the schedule takes over again,
    as ordinary programmable room thermostats do.
    """

    def __init__(
        self,
        schedule: Sequence[tuple[float, float]],
        *,
        knob_range_c: tuple[float, float] = KNOB_RANGE_C[PlantKind.SPACE],
    ) -> None:
        low, high = knob_range_c
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"knob range must be finite with low < high, got {knob_range_c}")
        self.knob_range_c = (float(low), float(high))
        self._changes = _normalise(schedule)
        self._override: _Override | None = None

    @property
    def schedule(self) -> tuple[tuple[float, float], ...]:
        """The schedule in effect: (start, setpoint) sorted by start, repeats dropped."""
        return tuple((start_s / HOUR_S, setpoint) for start_s, setpoint in self._changes)

    def turn_knob(self, setpoint_c: float, sim_time_s: float) -> None:
        """Override the schedule until its next change. Raises ValueError outside the knob range."""
        low, high = self.knob_range_c
        if not low <= setpoint_c <= high:  # also rejects NaN
            raise ValueError(f"knob setpoint {setpoint_c} °C is outside {low:g}..{high:g} °C")
        self._set_override(setpoint_c, SetpointOrigin.KNOB, sim_time_s)

    def set_remote(self, setpoint_c: float, sim_time_s: float) -> None:
        """The host's setpoint (the MCU checked its hard limits), held like a knob override."""
        if not math.isfinite(setpoint_c):
            raise ValueError(f"remote setpoint must be finite, got {setpoint_c}")
        self._set_override(setpoint_c, SetpointOrigin.REMOTE, sim_time_s)

    def setpoint(self, sim_time_s: float) -> tuple[float, SetpointOrigin]:
        override = self._override
        if override is not None:
            if sim_time_s < override.until_s:
                return override.setpoint_c, override.origin
            self._override = None  # the schedule has changed since: it takes over again
        return self._scheduled_c(sim_time_s), SetpointOrigin.SCHEDULE

    def next_change(self, sim_time_s: float) -> tuple[float, float] | None:
        """(seconds from now, setpoint °C) of the next scheduled change; None if flat."""
        if len(self._changes) == 1:
            return None
        time_of_day = sim_time_s % DAY_S
        for start_s, setpoint in self._changes:
            if start_s > time_of_day:
                return start_s - time_of_day, setpoint
        start_s, setpoint = self._changes[0]
        return start_s + DAY_S - time_of_day, setpoint

    def _scheduled_c(self, sim_time_s: float) -> float:
        time_of_day = sim_time_s % DAY_S
        # Before the first change of the day, yesterday's last change is still in force.
        current = self._changes[-1][1]
        for start_s, setpoint in self._changes:
            if start_s > time_of_day:
                break
            current = setpoint
        return current

    def _set_override(self, setpoint_c: float, origin: SetpointOrigin, sim_time_s: float) -> None:
        if not math.isfinite(sim_time_s):
            raise ValueError(f"simulated time must be finite, got {sim_time_s}")
        upcoming = self.next_change(sim_time_s)
        until_s = math.inf if upcoming is None else sim_time_s + upcoming[0]
        self._override = _Override(float(setpoint_c), origin, until_s)


def _normalise(schedule: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """(start s, setpoint) sorted, checked, without entries that repeat the setpoint before."""
    if not schedule:
        raise ValueError("a thermostat schedule needs at least one (hour, setpoint) entry")
    for hour, setpoint in schedule:
        if not (0.0 <= hour < 24.0) or not math.isfinite(setpoint):
            raise ValueError(
                f"schedule entry ({hour}, {setpoint}) needs 0 <= hour < 24, a finite setpoint"
            )
    ordered = sorted((hour * HOUR_S, float(setpoint)) for hour, setpoint in schedule)
    starts = [start for start, _ in ordered]
    if len(set(starts)) != len(starts):
        raise ValueError(f"schedule has two entries at the same hour: {list(schedule)}")
    # An entry that sets what is already in force (the day wraps around) is not a change.
    changes = [entry for index, entry in enumerate(ordered) if entry[1] != ordered[index - 1][1]]
    return tuple(changes) if changes else (ordered[0],)
