"""The power side of the daemon: which knobs it drives, and the power loop for a heater's rating.

Workers and duty cycling always make the heat; a usable frequency cap (cpufreq, else
intel_pstate) lets the allocator run many cores slower before stopping any. RAPL and cgroup
caps are probed and reported, not driven. The power loop is rebuilt when an MCU of another
rating is accepted: watts per core are the rating spread over the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from boiler_agent.compute.pool import Pool
from boiler_agent.compute.scheduler import JobScheduler
from boiler_agent.power.allocator import PowerAllocator
from boiler_agent.power.duty import DutyCycler
from boiler_agent.power.heat_meter import MeterKind, build_heat_meter
from boiler_agent.power.knob import KnobInfo, PowerKnob
from boiler_agent.power.loop import PowerLoop
from boiler_agent.power.probe import build_knobs

log = logging.getLogger(__name__)

FREQUENCY_KNOBS = ("cpufreq", "intel_pstate")  # in order of preference
# config `power.actuators` name -> the probed knob's name prefix
KNOB_PREFIXES = {"rapl": "rapl", "cpufreq": "cpufreq", "pstate": "intel_pstate", "cgroup": "cgroup"}
PLACEHOLDER_W_PER_CORE = 100.0  # until the MCU's IDENT says the rating
MIN_ADD_HOLD_S = 5.0


def probe_frequency_knob(
    actuators: Sequence[str], sysfs_root: Path
) -> tuple[PowerKnob, KnobInfo] | None:
    """Probe the sysfs knobs the config allows, log what was found, return a frequency cap."""
    prefixes = tuple(KNOB_PREFIXES[name] for name in actuators if name in KNOB_PREFIXES)
    if not prefixes:
        return None
    found: list[KnobInfo] = []
    frequency: tuple[PowerKnob, KnobInfo] | None = None
    for knob in build_knobs(sysfs_root):
        if not knob.name.startswith(prefixes):
            continue
        info = knob.probe()
        if info is None:
            continue
        found.append(info)
        usable_cap = info.usable and info.maximum > 0
        if usable_cap and knob.name in FREQUENCY_KNOBS and frequency is None:
            frequency = (knob, info)
    log.info(
        "power: driving workers, duty cycling%s; sysfs knobs: %s",
        f" and {frequency[0].name}" if frequency else "",
        "; ".join(info.describe() for info in found) or "none found",
    )
    return frequency


class PowerStage:
    """The power loop in force, and the rating it was built for."""

    def __init__(
        self,
        scheduler: JobScheduler[Pool],
        workers: int,
        *,
        period_s: float,
        watts_per_core: float | None,
        frequency: tuple[PowerKnob, KnobInfo] | None,
        rated_power_w: float | None = None,
        meter: MeterKind = "model",
        idle_w: float = 0.0,
        own_busy_seconds: Callable[[], float] | None = None,
        sysfs_root: Path = Path("/"),
    ) -> None:
        self.scheduler = scheduler
        self.meter_kind = meter
        self.idle_w = idle_w
        # The supervisor's own CPU time is heat too (None: stand-in workers on a virtual
        # clock, whose heat the real process's CPU time has nothing to do with).
        self.own_busy_seconds = own_busy_seconds
        self.sysfs_root = sysfs_root
        self.workers = workers
        self.period_s = period_s
        self.configured_watts_per_core = watts_per_core
        self.frequency = frequency
        self.built_for_w: float | None = None
        self.max_power_w = 0.0
        self.loop = self._build(rated_power_w)  # a placeholder rating until IDENT says

    def rebuild_for(self, rated_power_w: float) -> bool:
        """A loop for this rating (True), or False when the one in force already fits."""
        if rated_power_w == self.built_for_w:
            return False
        self.loop.release()
        self.loop = self._build(rated_power_w)
        return True

    def _build(self, rated_power_w: float | None) -> PowerLoop:
        self.built_for_w = rated_power_w
        rated = rated_power_w or PLACEHOLDER_W_PER_CORE * self.workers
        per_core = self.configured_watts_per_core or rated / self.workers
        self.max_power_w = per_core * self.workers
        self.scheduler.watts_per_core = per_core  # one mapping: heat made and jobs' energy
        frequency = self.frequency
        allocator = PowerAllocator(
            self.workers,
            per_core,
            add_hold_s=max(self.period_s, MIN_ADD_HOLD_S),
            frequency_settable=frequency is not None,
            min_freq_fraction=(
                max(0.05, frequency[1].minimum / frequency[1].maximum) if frequency else 0.4
            ),
        )
        cycler = DutyCycler(self.scheduler.pool, period_s=self.period_s)
        sources = [self.scheduler.busy_cpu_seconds]
        if self.own_busy_seconds is not None:
            sources.append(self.own_busy_seconds)
        meter = build_heat_meter(
            self.meter_kind,
            busy_seconds=sources,
            watts_per_busy_core=per_core,
            idle_w=self.idle_w,
            sysfs_root=self.sysfs_root,
        )
        if rated_power_w is not None:
            log.info("power: heat measured by the %s", meter.source)
        return PowerLoop(
            self.scheduler,
            allocator,
            cycler,
            watts_per_busy_core=per_core,
            frequency=frequency,
            meter=meter,
        )

    @property
    def actuator_names(self) -> list[str]:
        """What the birth message lists as driven."""
        return ["workers", "duty"] + ([self.frequency[0].name] if self.frequency else [])
