"""Durations in seconds: the hour and the day, and `90s`, `30m`, `2h`, `1d` or `1h30m` parsed."""

from __future__ import annotations

import re

MINUTE_S = 60.0
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S

_UNITS = {"s": 1.0, "m": MINUTE_S, "h": HOUR_S, "d": DAY_S}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """Seconds in `text`; a bare number is seconds. Raises ValueError naming the text."""
    cleaned = text.strip().lower()
    try:
        return float(cleaned)
    except ValueError:
        pass
    parts = _PART.findall(cleaned)
    if not parts or "".join(number + unit for number, unit in parts) != cleaned:
        raise ValueError(f"duration {text!r} is not like 90s, 30m, 2h, 1d or 1h30m")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)
