"""Whether the wall clock can be believed: before the agent's build date it is plainly unset.

A heater without a battery-backed clock boots in 1970 and jumps to the present when NTP answers,
minutes later or never. Durations are measured on the monotonic clock; the wall clock only
stamps what people and the fleet read. Where a wall-clock reading must be compared with one
from the fleet (an `expires_at`) or with one stored before a restart (the outbox's rows), a
reading before BUILD_DATE says "the clock is not set", not "55 years ago".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

# A date this agent was certainly built after. Move it forward at a release, never past the
# release's own date: a heater whose clock reads earlier is treated as not knowing the time.
BUILD_DATE: Final = datetime(2025, 1, 1, tzinfo=UTC)
BUILD_DATE_S: Final = BUILD_DATE.timestamp()


def clock_is_set(wall_s: float) -> bool:
    """Whether a wall-clock reading (seconds since the epoch) can be a real date."""
    return wall_s >= BUILD_DATE_S
