"""The allocator: watts to workers, frequency and duty; fast to cut, slow to add."""

from __future__ import annotations

import pytest

from boiler_agent.power.allocator import PowerAllocator


def test_fractional_target_is_met_with_duty_on_the_fewest_workers() -> None:
    allocator = PowerAllocator(4, 25.0)
    allocation = allocator.allocate(60.0, now_s=0.0)
    assert allocation.workers == 3 and allocation.freq_fraction is None
    assert allocation.duty == pytest.approx(0.8)
    assert allocation.expected_w == pytest.approx(60.0)


def test_with_frequency_many_slow_cores_come_before_few_fast_ones() -> None:
    allocator = PowerAllocator(4, 25.0, frequency_settable=True, min_freq_fraction=0.4)
    allocation = allocator.allocate(50.0, now_s=0.0)
    assert allocation.workers == 4, "all cores, each slower"
    assert allocation.freq_fraction is not None and allocation.freq_fraction < 1.0
    assert allocation.expected_w == pytest.approx(50.0)


def test_below_the_lowest_frequency_it_uses_fewer_workers_then_duty() -> None:
    allocator = PowerAllocator(4, 25.0, frequency_settable=True, min_freq_fraction=0.4)
    allocation = allocator.allocate(3.0, now_s=0.0)  # less than one core at 0.4^2 x 25 W = 4 W
    assert allocation.workers == 1 and allocation.freq_fraction == pytest.approx(0.4)
    assert allocation.expected_w == pytest.approx(3.0)
    assert allocation.duty < 1.0


def test_fast_to_cut_slow_to_add() -> None:
    allocator = PowerAllocator(4, 25.0, add_hold_s=30.0)
    assert allocator.allocate(100.0, 0.0).workers == 4  # from nothing: at once
    assert allocator.allocate(20.0, 1.0).workers == 1, "cutting heat is immediate"
    assert allocator.allocate(100.0, 2.0).workers == 1, "adding waits for the hold time"
    held = allocator.allocate(100.0, 20.0)
    assert held.workers == 1 and held.duty == 1.0, "meanwhile the fine knob saturates"
    assert allocator.allocate(100.0, 32.1).workers == 4
    assert allocator.worker_switches == 3


def test_a_dip_in_the_request_restarts_the_hold() -> None:
    allocator = PowerAllocator(4, 25.0, add_hold_s=30.0)
    allocator.allocate(25.0, 0.0)
    allocator.allocate(100.0, 10.0)
    allocator.allocate(25.0, 20.0)  # wanted fewer again
    assert allocator.allocate(100.0, 41.0).workers == 1, "hold counts from 41 s, not 10 s"


@pytest.mark.parametrize("target", [-5.0, float("nan"), 0.0])
def test_no_heat_means_no_workers(target: float) -> None:
    allocation = PowerAllocator(4, 25.0).allocate(target, 0.0)
    assert allocation.workers == 0 and allocation.expected_w == 0.0


def test_target_above_capacity_is_clamped() -> None:
    allocation = PowerAllocator(2, 25.0).allocate(1000.0, 0.0)
    assert (allocation.workers, allocation.duty, allocation.expected_w) == (2, 1.0, 50.0)


def test_bad_construction_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="watts_per_worker"):
        PowerAllocator(2, 0.0)
    with pytest.raises(ValueError, match="max_workers"):
        PowerAllocator(0, 10.0)
