"""Wall-clock time as one run of the agent measures it: read once, then advanced monotonically.

Stored timestamps (the outbox's rows) must give true ages after a restart, so they are
wall-clock readings; but within a run the wall clock can step (NTP answering a heater that
booted in 1970, a wrong clock battery corrected) and a step must age nothing. A `RunClock`
reads the wall clock once, at its anchor, and counts from there on the monotonic clock. When
the wall clock has stepped since, `step()` says by how much and re-anchors on it, so that the
owner can shift what it stored during this run by the same amount.
"""

from __future__ import annotations

from collections.abc import Callable

# Beyond this, a difference between the wall clock and the anchored estimate is a step, not the
# slew NTP applies to both clocks (at most 0.5 ms a second).
WALL_STEP_S = 10.0


class RunClock:
    def __init__(
        self,
        wall: Callable[[], float],
        monotonic: Callable[[], float],
        *,
        step_s: float = WALL_STEP_S,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.step_s = step_s
        # One tuple, replaced whole: another thread reading now() sees one anchor or the other.
        self._anchor = (wall(), monotonic())

    def now(self) -> float:
        """Seconds since the epoch, as the anchor said plus the monotonic time since."""
        wall_at, mono_at = self._anchor
        return wall_at + (self._monotonic() - mono_at)

    def step(self) -> float:
        """How far the wall clock stepped since the anchor (0.0 within `step_s`)."""
        wall_at, mono_at = self._anchor
        stepped = self._wall() - (wall_at + (self._monotonic() - mono_at))
        return stepped if abs(stepped) > self.step_s else 0.0

    def follow(self, stepped: float) -> None:
        """Take a step `step()` reported: `now()` follows the wall clock from here on."""
        wall_at, mono_at = self._anchor
        self._anchor = (wall_at + stepped, mono_at)
