"""The inner power loop: track a watt target with the workers, as measured.

Every control period it turns the target (corrected by an integral trim for what the allocator's
model gets wrong) into an allocation, applies it to the scheduler (how many workers run) and to
the duty cycler, and measures the heat the agent really made (its `HeatMeter`: RAPL, or the
CPU time of the workers and the supervisor). Between periods `tick()` keeps the staggered duty
windows moving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from boiler_agent.power.allocator import Allocation, PowerAllocator
from boiler_agent.power.duty import DutyCycler
from boiler_agent.power.heat_meter import CpuTimeMeter, HeatMeter
from boiler_agent.power.knob import KnobInfo, PowerKnob

TRIM_GAIN = 0.5  # share of the measured error folded into the trim each period
MAX_TRIM_SHARE = 0.2  # the trim never moves the request by more than this share of capacity
TRIM_DECAY = 0.5  # per period, of a trim that leaves no worker running to measure it
SATURATION_SLACK_W = 1e-6  # rounding, not a shortfall


class WorkerControl(Protocol):
    """What the loop needs of the compute side (a JobScheduler and its pool)."""

    def set_active(self, count: int) -> None: ...

    def busy_cpu_seconds(self) -> float: ...

    def running_indices(self) -> list[int]: ...


@dataclass(frozen=True)
class PowerSample:
    at_s: float
    target_w: float
    measured_w: float
    allocation: Allocation


class PowerLoop:
    def __init__(
        self,
        workers: WorkerControl,
        allocator: PowerAllocator,
        cycler: DutyCycler,
        *,
        watts_per_busy_core: float,
        frequency: tuple[PowerKnob, KnobInfo] | None = None,
        meter: HeatMeter | None = None,
    ) -> None:
        self.workers = workers
        # Default: the workers' CPU time alone (benchmarks and tests of the loop by itself).
        self.meter = meter or CpuTimeMeter([workers.busy_cpu_seconds], watts_per_busy_core)
        self.allocator = allocator
        self.cycler = cycler
        self.watts_per_busy_core = watts_per_busy_core
        # A usable frequency cap (cpufreq or intel_pstate) and what its probe found; the
        # allocator's frequency fraction is of the maximum, the knob's of its own range.
        self.frequency = frequency
        self._applied_knob_fraction: float | None = None
        self.trim_w = 0.0
        self.allocation = Allocation(0, 1.0, None, 0.0)
        self._saturated = False  # the allocation in force could not give what was asked

    def step(self, target_w: float, now_s: float, plant_now_s: float | None = None) -> PowerSample:
        """One control period: measure the last period, then allocate for the next.

        `now_s` is real time: CPU seconds are measured over it and the duty windows run on it.
        The allocator's hold times shape the plant's response, so they run on the plant's
        clock (`plant_now_s`; on a heater the same clock, against a fast simulator not).
        """
        measured = self._measure(now_s)
        capacity = self.allocator.capacity_w
        if measured is not None and self.allocation.workers:
            error = self.allocation.expected_w - measured
            # A shortfall while the allocation could not give what was asked (a worker held
            # back by the allocator, or every worker flat out) is the allocation's, not the
            # model's: folded in, it overshoots by as much once the worker starts (bench power
            # saw 31.9 W asked 30.2, for 3 periods). Anti-windup: leave it out.
            if not (self._saturated and error > 0):
                limit = MAX_TRIM_SHARE * capacity
                self.trim_w = max(-limit, min(limit, self.trim_w + TRIM_GAIN * error))
        elif target_w > 0 and self.trim_w < 0 and target_w + self.trim_w <= 0:
            # A negative trim larger than a small request stops every worker, and with none
            # running nothing measures it again: it would hold the heat at zero for good. What
            # cannot be measured decays, until the request starts a worker.
            self.trim_w *= TRIM_DECAY
        request = target_w + self.trim_w if target_w > 0 else 0.0
        self.allocation = self.allocator.allocate(
            request, now_s if plant_now_s is None else plant_now_s
        )
        # Judged on what the allocator itself expects: with frequency scaling a held add
        # still gives the request (one worker runs faster), and the trim must learn from it.
        self._saturated = self.allocation.expected_w < request - SATURATION_SLACK_W
        # What was asked is what we compare against, not the trimmed request.
        self.allocation = Allocation(
            self.allocation.workers,
            self.allocation.duty,
            self.allocation.freq_fraction,
            min(target_w, capacity) if self.allocation.workers else 0.0,
        )
        self.workers.set_active(self.allocation.workers)
        self._set_frequency(self.allocation.freq_fraction)
        self.cycler.set_duty(self.allocation.duty)
        self.cycler.tick(self.workers.running_indices(), now_s)
        return PowerSample(now_s, target_w, measured or 0.0, self.allocation)

    def _set_frequency(self, fraction_of_max: float | None) -> None:
        if self.frequency is None or fraction_of_max is None:
            return
        knob, info = self.frequency
        low = info.minimum / info.maximum if info.maximum > 0 else 0.0
        knob_fraction = (fraction_of_max - low) / (1.0 - low) if low < 1.0 else 1.0
        knob_fraction = round(min(1.0, max(0.0, knob_fraction)), 2)
        if knob_fraction != self._applied_knob_fraction:  # sysfs writes only on change
            knob.apply(knob_fraction)
            self._applied_knob_fraction = knob_fraction

    def release(self) -> None:
        """Give the machine back: every worker resumed, the frequency cap at its maximum."""
        self.cycler.release()
        if self.frequency is not None:
            self.frequency[0].apply(1.0)
            self._applied_knob_fraction = 1.0

    def tick(self, now_s: float) -> None:
        """Between periods: keep the duty windows moving."""
        self.cycler.tick(self.workers.running_indices(), now_s)

    def _measure(self, now_s: float) -> float | None:
        freq = self.allocation.freq_fraction if self.frequency is not None else None
        return self.meter.read(now_s, freq)
