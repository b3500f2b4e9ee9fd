"""The daemon's clocks, injected so that its loops run in simulated time in tests.

`monotonic` counts real seconds: leases, staleness, stalls, the power loop's CPU-time
measurements. `wall` stamps what the fleet is told. `plant` is the heater's own time (the
controller, the runaway window, the thermostat's announced changes): on a heater it is the
monotonic clock; against the simulator the plant runs faster than real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clocks:
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    plant: Callable[[], float] | None = None  # None: the plant runs on the monotonic clock

    def plant_now(self) -> float:
        return (self.plant or self.monotonic)()


class VirtualClock:
    """Simulated seconds that pass only when someone sleeps: a day runs in moments."""

    def __init__(self, start_s: float = 0.0, *, epoch_s: float = 1_767_225_600.0) -> None:
        self.now_s = start_s
        self.epoch_s = epoch_s  # the wall clock at start_s (default 2026-01-01T00:00Z)

    def now(self) -> float:
        return self.now_s

    def wall(self) -> float:
        return self.epoch_s + self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += max(0.0, seconds)

    def clocks(self) -> Clocks:
        """The daemon's clocks, all on this one."""
        return Clocks(monotonic=self.now, wall=self.wall, plant=self.now)
