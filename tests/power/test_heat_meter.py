"""The heat the agent makes: RAPL where readable, else the CPU time of all its processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.compute.scheduler import JobScheduler
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.store import JobStore
from boiler_agent.daemon.power_stage import PowerStage
from boiler_agent.power.heat_meter import (
    CpuTimeMeter,
    HeatMeter,
    MeterKind,
    RaplHeatMeter,
    build_heat_meter,
)

Tree = Callable[[str], Path]


class Counter:
    """CPU seconds that a test advances by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def test_the_model_counts_every_process_of_the_agent_and_the_idle_floor() -> None:
    workers, supervisor = Counter(), Counter()
    meter = CpuTimeMeter([workers, supervisor], watts_per_busy_core=100.0, idle_w=12.0)
    assert meter.read(0.0, None) is None  # the first read only primes
    workers.seconds += 1.8  # two workers, 90 % of a core each, over one second
    supervisor.seconds += 0.1  # the supervisor's 10 % is heat too
    assert meter.read(1.0, None) == pytest.approx(12.0 + 190.0)
    assert meter.estimated


def test_the_model_scales_with_the_square_of_the_frequency() -> None:
    workers = Counter()
    meter = CpuTimeMeter([workers], watts_per_busy_core=100.0)
    meter.read(0.0, None)
    workers.seconds += 2.0
    assert meter.read(1.0, 0.5) == pytest.approx(50.0)


def test_auto_takes_rapl_where_readable_and_the_model_elsewhere(
    sysfs: Tree, tmp_path: Path
) -> None:
    def meter(kind: MeterKind, root: Path) -> HeatMeter:
        return build_heat_meter(
            kind, busy_seconds=[Counter()], watts_per_busy_core=10.0, idle_w=0.0, sysfs_root=root
        )

    desktop = sysfs("intel_desktop")
    with_rapl = meter("auto", desktop)
    assert isinstance(with_rapl, RaplHeatMeter) and not with_rapl.estimated
    assert isinstance(meter("rapl", tmp_path), CpuTimeMeter)  # nothing to read: the model
    assert isinstance(meter("model", desktop), CpuTimeMeter)


def test_the_power_stage_counts_the_supervisor_only_with_real_workers(tmp_path: Path) -> None:
    now = [0.0]
    pool = SimulatedPool(2, clock=lambda: now[0], sleep=lambda s: None)
    scheduler = JobScheduler(JobStore(tmp_path / "jobs.sqlite"), pool, checkpoint_dir=tmp_path)
    supervisor = Counter()
    stage = PowerStage(
        scheduler,
        2,
        period_s=1.0,
        watts_per_core=None,
        frequency=None,
        rated_power_w=500.0,
        own_busy_seconds=supervisor,
    )
    stage.loop.step(0.0, 0.0)
    supervisor.seconds += 0.5
    sample = stage.loop.step(0.0, 1.0)
    assert sample.measured_w == pytest.approx(125.0), "half a core of supervisor at 250 W/core"
    scheduler.store.close()
