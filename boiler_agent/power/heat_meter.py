"""What the power loop measures: the heat the agent makes, all of it.

On a digital heater every watt the CPUs draw becomes heat, the supervisor's included. Two
meters, chosen by `power.meter`:

- `rapl`: the CPU package's energy counters (`power.meter.RaplMeter`), a measurement of the
  whole package, idle power included; only where the counters are readable (root on most
  kernels since CVE-2020-8694).
- `model`: the CPU time of the agent's own processes (the workers and the supervisor with its
  threads) times the watts of a busy core, scaled by the square of the frequency the loop set,
  plus the machine's idle power (`power.idle_w`). Its readings are estimates, and say so.

`auto` takes RAPL where it can be read, else the model. The simulator's plant receives what the
meter reads (the heartbeat carries it), so a simulated room gets the heat the machine made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from boiler_agent.power.meter import RaplMeter

log = logging.getLogger(__name__)

MeterKind = Literal["auto", "rapl", "model"]


class HeatMeter(Protocol):
    estimated: bool  # a model, not a measurement
    source: str  # what the readings come from, for the log and the status

    def read(self, now_s: float, freq_fraction: float | None) -> float | None:
        """Average watts since the previous read; None on the first read."""
        ...


class CpuTimeMeter:
    """idle_w + watts_per_busy_core x busy cores x f^2, over the agent's own processes."""

    estimated = True
    source = "model of the agent's CPU time"

    def __init__(
        self,
        busy_seconds: Sequence[Callable[[], float]],
        watts_per_busy_core: float,
        idle_w: float = 0.0,
    ) -> None:
        self.busy_seconds = list(busy_seconds)
        self.watts_per_busy_core = watts_per_busy_core
        self.idle_w = idle_w
        self._last: tuple[float, float] | None = None  # (time, busy CPU seconds)

    def read(self, now_s: float, freq_fraction: float | None) -> float | None:
        busy = sum(source() for source in self.busy_seconds)
        last, self._last = self._last, (now_s, busy)
        if last is None or now_s <= last[0]:
            return None
        cores = max(0.0, busy - last[1]) / (now_s - last[0])
        watts = cores * self.watts_per_busy_core
        if freq_fraction is not None:
            watts *= freq_fraction * freq_fraction  # the allocator's model: power ~ f^2 per core
        return self.idle_w + watts


class RaplHeatMeter:
    """The package's energy counters: measured watts, idle and every process included."""

    estimated = False
    source = "RAPL package energy"

    def __init__(self, rapl: RaplMeter) -> None:
        self.rapl = rapl

    def read(self, now_s: float, freq_fraction: float | None) -> float | None:
        reading = self.rapl.read()
        return None if reading is None else reading.watts


def build_heat_meter(
    kind: MeterKind,
    *,
    busy_seconds: Sequence[Callable[[], float]],
    watts_per_busy_core: float,
    idle_w: float,
    sysfs_root: Path,
) -> HeatMeter:
    """The meter `kind` asks for; `rapl` where the counters cannot be read falls back to the
    model with a warning (the heater still heats, on an estimate)."""
    if kind in ("auto", "rapl"):
        rapl = RaplMeter(sysfs_root)
        if rapl.available:
            return RaplHeatMeter(rapl)
        if kind == "rapl":
            log.warning("power.meter = rapl, but RAPL cannot be read: using the CPU-time model")
    return CpuTimeMeter(busy_seconds, watts_per_busy_core, idle_w)
