"""The power loop: the trim removes what the allocator's model gets wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.power.allocator import PowerAllocator
from boiler_agent.power.cpufreq import CpufreqKnob
from boiler_agent.power.duty import DutyCycler
from boiler_agent.power.loop import PowerLoop
from tests.power.conftest import read

WATTS = 25.0


class FakeWorkers:
    """Workers that deliver only `efficiency` of what they were given, in simulated time."""

    def __init__(self, efficiency: float) -> None:
        self.efficiency = efficiency
        self.active = 0
        self.duty = 1.0
        self.cpu_s = 0.0

    def set_active(self, count: int) -> None:
        self.active = count

    def busy_cpu_seconds(self) -> float:
        return self.cpu_s

    def running_indices(self) -> list[int]:
        return list(range(self.active))

    def run(self, seconds: float) -> None:
        self.cpu_s += self.active * self.duty * self.efficiency * seconds

    def pause(self, index: int) -> None:
        pass

    def resume(self, index: int) -> None:
        pass


def test_trim_converges_on_the_target_despite_a_wrong_model() -> None:
    workers = FakeWorkers(efficiency=0.9)
    cycler = DutyCycler(workers, period_s=1.0)
    allocator = PowerAllocator(4, WATTS, add_hold_s=0.0)
    loop = PowerLoop(workers, allocator, cycler, watts_per_busy_core=WATTS)
    sample = None
    for period in range(30):
        sample = loop.step(50.0, float(period))
        workers.duty = loop.allocation.duty
        workers.run(1.0)
    assert sample is not None
    assert sample.measured_w == pytest.approx(50.0, abs=1.0)
    assert loop.trim_w > 0, "the workers under-deliver: the loop asks for more"


def test_zero_target_stops_everything() -> None:
    workers = FakeWorkers(efficiency=1.0)
    allocator = PowerAllocator(4, WATTS)
    loop = PowerLoop(workers, allocator, DutyCycler(workers), watts_per_busy_core=WATTS)
    loop.step(80.0, 0.0)
    loop.step(0.0, 1.0)
    assert workers.active == 0


def test_a_frequency_cap_runs_every_worker_slower_before_stopping_any(
    sysfs: Callable[[str], Path],
) -> None:
    root = sysfs("intel_desktop")
    knob = CpufreqKnob(root)
    info = knob.probe()
    assert info is not None and info.usable
    workers = FakeWorkers(efficiency=1.0)
    low = info.minimum / info.maximum
    allocator = PowerAllocator(
        4, WATTS, add_hold_s=0.0, frequency_settable=True, min_freq_fraction=low
    )
    loop = PowerLoop(
        workers, allocator, DutyCycler(workers), watts_per_busy_core=WATTS, frequency=(knob, info)
    )
    caps = sorted(root.glob("sys/devices/system/cpu/cpu*/cpufreq/scaling_max_freq"))
    loop.step(50.0, 0.0)  # half of the 100 W capacity
    assert workers.active == 4, "many slow cores, not two fast ones"
    half = [int(read(cap)) for cap in caps]
    assert all(info.minimum < value < info.maximum for value in half)
    # sqrt(0.5) of the maximum frequency: about 71 %, as the f^2 power model says
    assert half[0] == pytest.approx(0.707 * info.maximum, rel=0.02)
    loop.step(100.0, 1.0)
    assert all(int(read(cap)) == info.maximum for cap in caps)
    loop.step(50.0, 2.0)
    loop.release()  # at stop the machine gets its full frequency back
    assert all(int(read(cap)) == info.maximum for cap in caps)


def test_a_negative_trim_does_not_hold_a_small_request_at_zero_for_good() -> None:
    """Workers that over-deliver wind the trim negative; a request smaller than it stops every
    worker, and nothing measures the trim again. It decays until a worker starts."""
    workers = FakeWorkers(efficiency=1.5)
    allocator = PowerAllocator(4, WATTS, add_hold_s=0.0)
    loop = PowerLoop(
        workers, allocator, DutyCycler(workers, period_s=1.0), watts_per_busy_core=WATTS
    )
    period = 0
    for period in range(20):  # a large request: the trim learns the workers over-deliver
        loop.step(90.0, float(period))
        workers.duty = loop.allocation.duty
        workers.run(1.0)
    assert loop.trim_w < -5.0
    started = []
    for period in range(20, 40):  # now a request smaller than the trim
        loop.step(4.0, float(period))
        started.append(workers.active)
        workers.duty = loop.allocation.duty
        workers.run(1.0)
    assert any(started[:10]), started


def test_a_worker_held_back_does_not_wind_the_trim_up() -> None:
    """While the allocator holds an added worker back, the shortfall is the hold's: the loop
    must not learn it, or the heat overshoots by as much once the worker starts."""
    workers = FakeWorkers(efficiency=1.0)
    allocator = PowerAllocator(4, WATTS, add_hold_s=3.0)
    loop = PowerLoop(
        workers, allocator, DutyCycler(workers, period_s=1.0), watts_per_busy_core=WATTS
    )
    measured = []
    for period in range(12):
        sample = loop.step(20.0 if period < 4 else 40.0, float(period))  # 1 worker, then 2
        measured.append(round(sample.measured_w, 2))
        workers.duty = loop.allocation.duty
        workers.run(1.0)
    assert 25.0 in measured[5:8], f"the second worker was not held back: {measured}"
    assert max(measured[5:]) <= 40.5, f"overshoot after the hold: {measured}"
    assert measured[-1] == pytest.approx(40.0, abs=0.5)


class ScriptedMeter:
    """A heat meter that reads what the test says."""

    estimated = True
    source = "the test"

    def __init__(self) -> None:
        self.watts: float | None = None

    def read(self, now_s: float, freq_fraction: float | None) -> float | None:
        return self.watts


def test_with_frequency_scaling_a_held_add_still_lets_the_trim_learn() -> None:
    """With a frequency cap, a held add still gives what was asked (the one worker runs
    faster): a shortfall then is the model's, and the trim must learn it."""
    workers = FakeWorkers(efficiency=1.0)
    allocator = PowerAllocator(
        4, WATTS, frequency_settable=True, min_freq_fraction=0.5, add_hold_s=1000.0
    )
    meter = ScriptedMeter()
    loop = PowerLoop(
        workers, allocator, DutyCycler(workers), watts_per_busy_core=WATTS, meter=meter
    )
    loop.step(6.0, 0.0)  # one worker
    meter.watts = 6.0
    loop.step(13.0, 1.0)  # two wanted at the lowest frequency: the add is held
    assert loop.allocation.workers == 1 and allocator.workers == 1
    meter.watts = 10.0  # the one worker, at its higher frequency, makes 3 W less than modelled
    loop.step(13.0, 2.0)
    assert loop.trim_w > 1.0, f"the model's shortfall was not learnt: trim {loop.trim_w}"
