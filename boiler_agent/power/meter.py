"""Power meters: RAPL energy counters where readable, else a model from CPU time and frequency."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from boiler_agent.power.rapl import package_zones

log = logging.getLogger(__name__)

# Model defaults for a desktop-class CPU; calibration replaces the per-core figure.
DEFAULT_IDLE_W = 10.0
DEFAULT_PER_CORE_W = 8.0
# How far one calibration moves the coefficient toward the fit: smooths noisy measurements.
CALIBRATION_GAIN = 0.3
PER_CORE_W_BOUNDS = (0.1, 200.0)
# Below this many busy full-speed cores a measurement says too little about the per-core figure.
MIN_LOAD_TO_CALIBRATE = 0.05

Clock = Callable[[], float]


@dataclass(frozen=True)
class PowerReading:
    """Average watts over the interval that ends `at_s`; `estimated` when not measured."""

    watts: float
    at_s: float
    estimated: bool


def _read_energy(path: Path) -> int:
    return int(path.read_text(encoding="ascii").strip())


class RaplMeter:
    """Package power from `energy_uj` deltas between two reads, counter wrap handled."""

    def __init__(self, root: str | Path = "/", clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._zones: list[tuple[Path, int]] = []
        self._last: tuple[float, list[int]] | None = None
        self.available = self._probe(Path(root))

    def _probe(self, root: Path) -> bool:
        zones = [z for z in package_zones(root) if (z / "energy_uj").is_file()]
        if not zones:
            log.info("power meter: no RAPL energy counters under %s; not available", root)
            return False
        try:
            for zone in zones:
                _read_energy(zone / "energy_uj")
                self._zones.append((zone, _read_energy(zone / "max_energy_range_uj")))
        except PermissionError:
            log.warning(
                "power meter: %s is root-only (CVE-2020-8694); RAPL meter not available",
                zones[0] / "energy_uj",
            )
            return False
        except (OSError, ValueError) as exc:
            log.warning("power meter: RAPL counters unreadable (%s); not available", exc)
            return False
        return True

    def read(self) -> PowerReading | None:
        """Watts since the previous read; None on the first read, or if a counter fails."""
        if not self.available:
            return None
        now = self.clock()
        try:
            counts = [_read_energy(zone / "energy_uj") for zone, _ in self._zones]
        except (OSError, ValueError) as exc:
            log.warning("power meter: RAPL read failed (%s)", exc)
            return None
        last, self._last = self._last, (now, counts)
        if last is None or now <= last[0]:
            return None
        joules = 0.0
        for (_, top), before, after in zip(self._zones, last[1], counts, strict=True):
            # The counter runs from 0 to max_energy_range_uj, then starts again from 0.
            delta = after - before if after >= before else top - before + after
            joules += delta / 1e6
        return PowerReading(joules / (now - last[0]), now, estimated=False)


def _busy_cpu_seconds() -> float:
    """CPU-seconds spent busy, summed over cores (guest time is already in user time)."""
    times = psutil.cpu_times()
    idle = sum(getattr(times, f, 0.0) for f in ("idle", "iowait", "guest", "guest_nice"))
    return sum(times) - idle


def _freq_ratio() -> float:
    """Current over maximum frequency, 1.0 where the kernel does not say."""
    freq = psutil.cpu_freq()
    if freq is None or not freq.max:
        return 1.0
    return min(1.0, max(0.0, freq.current / freq.max))


class EstimatedMeter:
    """P = idle_w + per_core_w × busy_cores × (f / f_max)²; every reading is `estimated`.

    Dynamic power goes as C·V²·f. Along the DVFS curve the voltage climbs with frequency at
    the top and sits at its floor at the bottom, so power grows between f¹ and f³; the square
    is the middle, and calibration against RAPL absorbs what the exponent misses.
    """

    def __init__(
        self,
        clock: Clock = time.monotonic,
        *,
        idle_w: float = DEFAULT_IDLE_W,
        per_core_w: float = DEFAULT_PER_CORE_W,
        busy_seconds: Callable[[], float] = _busy_cpu_seconds,
        freq_ratio: Callable[[], float] = _freq_ratio,
    ) -> None:
        self.clock, self.idle_w, self.per_core_w = clock, idle_w, per_core_w
        self.busy_seconds, self.freq_ratio = busy_seconds, freq_ratio
        self.calibrated = False
        self._last: tuple[float, float] | None = None
        self._load = 0.0  # busy cores × (f / f_max)² over the last interval

    def read(self) -> PowerReading | None:
        """Estimated watts since the previous read; None on the first read."""
        now, busy = self.clock(), self.busy_seconds()
        last, self._last = self._last, (now, busy)
        if last is None or now <= last[0]:
            return None
        busy_cores = max(0.0, (busy - last[1]) / (now - last[0]))
        self._load = busy_cores * self.freq_ratio() ** 2
        return PowerReading(self.idle_w + self.per_core_w * self._load, now, estimated=True)

    def calibrate(self, measured_w: float) -> None:
        """Move the per-core figure toward what a measurement over the same interval implies."""
        if self._load < MIN_LOAD_TO_CALIBRATE:
            return
        fit = (measured_w - self.idle_w) / self._load
        low, high = PER_CORE_W_BOUNDS
        target = min(high, max(low, fit))
        self.per_core_w += CALIBRATION_GAIN * (target - self.per_core_w)
        self.calibrated = True
