"""From a watt target to actuator settings: workers (coarse), frequency, duty cycle (fine).

Pure: the target and the time in, an `Allocation` out. Coarse changes have hold times and go
fast one way only: fewer workers at once (cutting heat is always safe), more workers only
after the target has asked for them for `add_hold_s` (starting and stopping processes is what
makes fans pump). The fine knobs, frequency and duty, follow the target at every call.
Where frequency can be set, all workers run at a lower frequency before any is stopped: for the
same watts, many slow cores do more work than few fast ones (dynamic power grows faster than
frequency, roughly with its square).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_ADD_HOLD_S = 30.0
DEFAULT_MIN_FREQ_FRACTION = 0.4  # cpuinfo_min_freq is typically 30-50 % of the maximum


@dataclass(frozen=True)
class Allocation:
    workers: int  # processes that run
    duty: float  # share of time they run, staggered (1.0: always)
    freq_fraction: float | None  # of the maximum frequency; None when it cannot be set
    expected_w: float  # what this allocation should draw, above idle


class PowerAllocator:
    def __init__(
        self,
        max_workers: int,
        watts_per_worker: float,
        *,
        frequency_settable: bool = False,
        min_freq_fraction: float = DEFAULT_MIN_FREQ_FRACTION,
        add_hold_s: float = DEFAULT_ADD_HOLD_S,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if not (watts_per_worker > 0 and math.isfinite(watts_per_worker)):
            raise ValueError(f"watts_per_worker must be > 0, got {watts_per_worker}")
        if not 0 < min_freq_fraction <= 1:
            raise ValueError(f"min_freq_fraction must be in (0, 1], got {min_freq_fraction}")
        self.max_workers = max_workers
        self.watts_per_worker = watts_per_worker
        self.frequency_settable = frequency_settable
        self.min_freq_fraction = min_freq_fraction
        self.add_hold_s = add_hold_s
        self.workers = 0
        self.worker_switches = 0
        self._wanted_more_since: float | None = None

    @property
    def capacity_w(self) -> float:
        return self.max_workers * self.watts_per_worker

    def allocate(self, target_w: float, now_s: float) -> Allocation:
        target = min(max(0.0, target_w if math.isfinite(target_w) else 0.0), self.capacity_w)
        self._set_workers(self._workers_for(target), now_s)
        if self.workers == 0:
            return Allocation(0, 1.0, self._full_freq(), 0.0)
        per_worker = target / self.workers  # what each running worker should draw
        freq = None
        if self.frequency_settable:
            # Power per core ~ f^2: the frequency that gives per_worker, down to the minimum.
            freq = max(self.min_freq_fraction, math.sqrt(per_worker / self.watts_per_worker))
            freq = min(1.0, freq)
            per_worker_max = self.watts_per_worker * freq * freq
        else:
            per_worker_max = self.watts_per_worker
        duty = min(1.0, per_worker / per_worker_max)
        return Allocation(self.workers, duty, freq, self.workers * per_worker_max * duty)

    def _workers_for(self, target: float) -> int:
        if target <= 0:
            return 0
        if self.frequency_settable:
            # As many workers as can run at least at the lowest frequency.
            floor_w = self.watts_per_worker * self.min_freq_fraction**2
            return max(1, min(self.max_workers, math.floor(target / floor_w)))
        return min(self.max_workers, math.ceil(target / self.watts_per_worker - 1e-9))

    def _set_workers(self, wanted: int, now_s: float) -> None:
        if wanted < self.workers:  # fast to cut
            self.workers = wanted
            self.worker_switches += 1
            self._wanted_more_since = None
        elif wanted > self.workers:  # slow to add
            if self._wanted_more_since is None:
                self._wanted_more_since = now_s
            if self.workers == 0 or now_s - self._wanted_more_since >= self.add_hold_s:
                self.workers = wanted
                self.worker_switches += 1
                self._wanted_more_since = None
        else:
            self._wanted_more_since = None

    def _full_freq(self) -> float | None:
        return 1.0 if self.frequency_settable else None
