"""Units of the physics' clock (simulated seconds since 1 January 00:00) and of its energy."""

from __future__ import annotations

HOUR_S = 3_600.0
DAY_S = 24 * HOUR_S
J_PER_KWH = 3.6e6
