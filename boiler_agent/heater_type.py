"""What a heater heats, by name: a room's air or a tank's water (the wire's HeaterKind)."""

from typing import Literal

HeaterType = Literal["room", "boiler"]
