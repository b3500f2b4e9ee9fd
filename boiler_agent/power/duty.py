"""Duty cycling of worker processes (SIGSTOP/SIGCONT), staggered so the total draw is smooth.

BOINC pauses every task together (on 1 s, off 3 s), and its users hear the fans pump and see
power spikes. Here each worker runs the same share of every period, but the workers' windows
are spread evenly across the period, so at any moment the number running stays within one of
`workers × duty`: the heater's total power hardly moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

DEFAULT_PERIOD_S = 2.0


def running_mask(workers: int, duty: float, period_s: float, now_s: float) -> list[bool]:
    """Which workers run at `now_s`: worker i runs during its own window of duty × period,
    starting i/workers of a period after worker 0's."""
    duty = min(1.0, max(0.0, duty))
    if duty >= 1.0:
        return [True] * workers
    if duty <= 0.0:
        return [False] * workers
    position = (now_s % period_s) / period_s
    return [((position - index / workers) % 1.0) < duty for index in range(workers)]


def lockstep_mask(workers: int, duty: float, period_s: float, now_s: float) -> list[bool]:
    """The baseline: every worker on and off together, as BOINC does."""
    running = ((now_s % period_s) / period_s) < min(1.0, max(0.0, duty))
    return [running] * workers


class Pausable(Protocol):
    """What duty cycling needs of a worker pool."""

    def pause(self, index: int) -> None: ...

    def resume(self, index: int) -> None: ...


class DutyCycler:
    """Applies a duty fraction to the first `workers` of a pool, one tick at a time."""

    def __init__(
        self,
        pool: Pausable,
        period_s: float = DEFAULT_PERIOD_S,
        mask: Callable[[int, float, float, float], list[bool]] = running_mask,
    ) -> None:
        if not (period_s > 0 and math.isfinite(period_s)):
            raise ValueError(f"duty period_s must be > 0, got {period_s}")
        self.pool = pool
        self.period_s = period_s
        self.mask = mask  # running_mask (staggered); lockstep_mask only as a baseline
        self.duty = 1.0
        self._paused: set[int] = set()
        self._last_tick_s: float | None = None
        self.period_in_force_s = period_s  # the period, stretched or not, of the last tick
        # Where in its period the cycle is, 0..1, advanced by each tick's share of the period in
        # force. Taken from `now % period` instead, a period that changes from tick to tick (a
        # stretched one follows the duty) would jump the phase about at random, and a worker
        # could miss its window for minutes: the fleet benchmark saw 0 W for 80 s at 9 % duty.
        self._phase = 0.0
        self._had_workers = False

    def set_duty(self, duty: float) -> None:
        if not math.isfinite(duty):
            raise ValueError(f"duty must be a number in 0..1, got {duty}")
        self.duty = min(1.0, max(0.0, duty))

    @property
    def cycling(self) -> bool:
        """Whether ticks between periods change anything: a share of the period to apply, or
        workers this cycler holds paused. At full duty or none a period's tick is enough."""
        return 0.0 < self.duty < 1.0 or bool(self._paused)

    def tick(self, indices: list[int], now_s: float) -> None:
        """Pause and resume the workers `indices` (those with work) to follow the plan at
        `now_s`; a worker that left the list is resumed, so no one stays stopped."""
        last = self._last_tick_s
        period = self._period_for(now_s)
        if last is None:
            self._phase = (now_s / period) % 1.0
        else:
            self._phase = (self._phase + max(0.0, now_s - last) / period) % 1.0
        if indices and not self._had_workers:
            # Work starts with the first worker's window, not wherever the cycle happens to
            # be: at a small duty the stretched period is minutes, and heat asked for would
            # wait up to one of them before the first watt (a false `no heat` in the fleet).
            self._phase = 0.0
        self._had_workers = bool(indices)
        # The masks read a time: this one is at the cycle's phase in a period that starts at 0.
        mask = self.mask(len(indices), self.duty, period, self._phase * period)
        for index in sorted(self._paused - set(indices)):
            self.pool.resume(index)
            self._paused.discard(index)
        for index, run in zip(indices, mask, strict=True):
            if run and index in self._paused:
                self.pool.resume(index)
                self._paused.discard(index)
            elif not run and index not in self._paused:
                self.pool.pause(index)
                self._paused.add(index)

    def release(self) -> None:
        """Resume every worker this cycler paused (before stopping or resizing the pool)."""
        for index in sorted(self._paused):
            self.pool.resume(index)
        self._paused.clear()

    def _period_for(self, now_s: float) -> float:
        """The period, stretched so that each worker's window lasts at least one tick: a
        window shorter than the time between ticks falls between them and the worker never
        runs (5 % of 2 s is 0.1 s, a tick of the control loop). Stretched, a worker runs one
        tick in every period: the same share, in longer, rarer pulses."""
        last, self._last_tick_s = self._last_tick_s, now_s
        tick_s = now_s - last if last is not None else 0.0
        if tick_s <= 0.0:  # a second tick at the same time: the period in force stands
            return self.period_in_force_s
        if 0.0 < self.duty < 1.0 and self.duty * self.period_s < tick_s:
            self.period_in_force_s = tick_s / self.duty
        else:
            self.period_in_force_s = self.period_s
        return self.period_in_force_s
