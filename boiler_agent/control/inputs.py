"""What a control law sees at one step: the time, the temperatures, the setpoint and the next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ControlInput:
    """One step's inputs: times in the plant's clock (seconds), temperatures in °C."""

    now_s: float
    measured_c: float  # the controlled temperature: a room's air, a tank's water
    setpoint_c: float
    outdoor_c: float | None = None  # what the heat is lost to: outdoors, or a boiler's room
    next_setpoint: tuple[float, float] | None = None  # (when, °C): a change the schedule announced
