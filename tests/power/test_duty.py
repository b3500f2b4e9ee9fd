"""Staggered duty cycling: the right share of time per worker, and a smooth total."""

from __future__ import annotations

import statistics

import pytest

from boiler_agent.power.duty import DutyCycler, lockstep_mask, running_mask

PERIOD = 2.0
TIMES = [i * 0.01 for i in range(2000)]  # ten periods, 10 ms apart


@pytest.mark.parametrize("duty", [0.1, 0.25, 0.5, 0.73, 0.9])
def test_each_worker_runs_its_share_of_the_time(duty: float) -> None:
    masks = [running_mask(4, duty, PERIOD, t) for t in TIMES]
    for worker in range(4):
        share = sum(mask[worker] for mask in masks) / len(masks)
        assert share == pytest.approx(duty, abs=0.011)


@pytest.mark.parametrize("duty", [0.25, 0.5, 0.6])
def test_staggered_total_is_far_smoother_than_lockstep(duty: float) -> None:
    staggered = [sum(running_mask(4, duty, PERIOD, t)) for t in TIMES]
    lockstep = [sum(lockstep_mask(4, duty, PERIOD, t)) for t in TIMES]
    assert statistics.mean(staggered) == pytest.approx(statistics.mean(lockstep), abs=0.05)
    assert max(staggered) - min(staggered) <= 1, "never more than one worker off the mean"
    assert statistics.pstdev(staggered) < 0.5 * statistics.pstdev(lockstep)


def test_full_and_zero_duty_need_no_switching() -> None:
    assert running_mask(3, 1.0, PERIOD, 0.7) == [True, True, True]
    assert running_mask(3, 0.0, PERIOD, 0.7) == [False, False, False]


class FakePool:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def pause(self, index: int) -> None:
        self.calls.append(("pause", index))

    def resume(self, index: int) -> None:
        self.calls.append(("resume", index))


def test_cycler_only_signals_changes_and_releases_everything() -> None:
    pool = FakePool()
    cycler = DutyCycler(pool, period_s=PERIOD)
    cycler.set_duty(0.5)
    cycler.tick([0, 1], 0.0)  # worker 0 in its window, worker 1 not
    assert pool.calls == [("pause", 1)]
    cycler.tick([0, 1], 0.1)
    assert pool.calls == [("pause", 1)], "no signal without a change"
    cycler.tick([0, 1], 1.1)  # the halves swap
    assert pool.calls[1:] == [("pause", 0), ("resume", 1)]
    cycler.tick([1], 1.2)  # worker 0 has no work any more: it is not left stopped
    assert pool.calls[3] == ("resume", 0)
    cycler.release()
    assert not cycler._paused


def test_the_cycler_asks_for_ticks_only_while_it_switches_workers() -> None:
    # The control loop sleeps until its next period unless this says the windows need it.
    cycler = DutyCycler(FakePool(), period_s=PERIOD)
    assert not cycler.cycling, "full duty: a tick a period keeps everyone running"
    cycler.set_duty(0.5)
    assert cycler.cycling
    cycler.tick([0, 1], 0.0)  # worker 1 paused
    cycler.set_duty(1.0)
    assert cycler.cycling, "a paused worker waits for its resume"
    cycler.tick([0, 1], 0.1)
    assert not cycler.cycling
    cycler.set_duty(0.0)
    assert not cycler.cycling, "no share to run: nothing to switch between periods"


def test_bad_duty_is_refused() -> None:
    with pytest.raises(ValueError, match="duty"):
        DutyCycler(FakePool()).set_duty(float("nan"))


def test_a_window_shorter_than_a_tick_is_stretched_not_skipped() -> None:
    """5 % of a 2 s period is 0.1 s: with ticks 0.5 s apart the window would fall between
    them and the worker never run. The period stretches so each window spans one tick."""
    pool = FakePool()
    cycler = DutyCycler(pool, period_s=PERIOD)
    cycler.set_duty(0.05)
    running = 0
    ticks = 400
    for tick in range(ticks):
        cycler.tick([0], 0.25 + tick * 0.5)  # never on a multiple of the period
        running += 0 not in cycler._paused
    assert running / ticks == pytest.approx(0.05, abs=0.01)


def test_the_period_in_force_says_how_far_it_stretched() -> None:
    cycler = DutyCycler(FakePool(), period_s=PERIOD)
    cycler.set_duty(0.01)
    for tick in range(3):
        cycler.tick([0], tick * 9.0)  # a loop turning every 9 s: a 0.02 s window would miss
    assert cycler.period_in_force_s == pytest.approx(9.0 / 0.01)
    cycler.set_duty(0.5)
    cycler.tick([0], 18.1)  # a window of half a period spans a 0.1 s turn: no stretch
    assert cycler.period_in_force_s == PERIOD


def test_a_duty_that_changes_every_tick_still_gets_its_windows() -> None:
    """A loop turning every 9 s and a small request whose duty the trim raises each period (the
    fleet benchmark's duties), so the stretched period changes each tick. Read from `now %
    period`, the phase jumped with the period and a worker could miss its window for minutes
    (the benchmark saw 0 W for 80 s: a false `no heat`). The phase now advances with the ticks:
    the long run below kept the old cycler off for 33 ticks in a row."""
    pool = FakePool()
    cycler = DutyCycler(pool, period_s=PERIOD)
    duties = [0.066, 0.149, 0.227, 0.306, 0.375, 0.45, 0.524, 0.548, 0.55, 0.56]
    ran_at = []
    for tick, duty in enumerate(duties):
        cycler.set_duty(duty)
        cycler.tick([1], 2574.0 + 9.0 * tick)
        if 1 not in cycler._paused:
            ran_at.append(tick)
    assert ran_at and ran_at[0] <= 3, ran_at
    # Over a long run of changing small duties, the worker runs about its share and is never
    # kept off longer than a window at the smallest duty takes to come round.
    cycler = DutyCycler(FakePool(), period_s=PERIOD)
    duties = [0.05 + 0.1 * ((tick * 7919) % 13) / 13 for tick in range(2000)]
    off, longest, ran = 0, 0, 0.0
    for tick, duty in enumerate(duties):
        cycler.set_duty(duty)
        cycler.tick([0], 9.0 * tick)
        if 0 in cycler._paused:
            off += 1
            longest = max(longest, off)
        else:
            off, ran = 0, ran + 1
    assert longest <= 20, f"kept off {longest} ticks at duties of 5 % and more"
    assert ran / len(duties) == pytest.approx(sum(duties) / len(duties), rel=0.1)


def test_work_starts_with_a_window_however_small_the_duty() -> None:
    """At 0.3 % duty and a loop turning every 9 s the stretched period is 50 minutes: a worker
    that started wherever the cycle happened to be could wait most of one before its first
    watt. The first worker to get work starts the cycle with its window."""
    for start in (0.0, 1234.5, 3000.0):
        pool = FakePool()
        cycler = DutyCycler(pool, period_s=PERIOD)
        cycler.set_duty(0.003)
        for tick in range(5):
            cycler.tick([], start + 9.0 * tick)  # nothing to run yet, the cycle turns on
        cycler.tick([0], start + 45.0)
        assert 0 not in cycler._paused, f"paused at its first tick (start {start})"
