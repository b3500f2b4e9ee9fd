"""Outdoor temperature from an hourly weather year, interpolated and wrapped; one year ships."""

from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path

from heater_physics.units import HOUR_S

HOUR_COLUMN = "hour_of_year"
TEMP_COLUMN = "outdoor_temp_c"
# Colder or hotter than anything measured on Earth: the file is wrong, not the weather.
MIN_PLAUSIBLE_C = -90.0
MAX_PLAUSIBLE_C = 60.0
# The typical year that ships in the package (see data/PROVENANCE.md).
DEFAULT_WEATHER_FILE = "greensboro_hourly.csv"


class WeatherFileError(ValueError):
    """A weather file that cannot be used; the message names the file, line, column and value."""


class WeatherSeries:
    """Hourly outdoor temperatures, repeated forever: the year after the last hour is the first.

    Simulated time counts seconds since 1 January 00:00 of the weather year. Files are hourly
    CSVs: `#` lines are comments, a header names the columns, rows are hours 0, 1, 2, … in
    order, with at least `hour_of_year` and `outdoor_temp_c`.
    """

    def __init__(self, hourly_c: tuple[float, ...]) -> None:
        if not hourly_c:
            raise ValueError("a weather series needs at least one hourly temperature")
        self._hourly_c = hourly_c

    @classmethod
    def constant(cls, temp_c: float) -> WeatherSeries:
        if not math.isfinite(temp_c):
            raise ValueError(f"constant outdoor temperature must be finite, got {temp_c}")
        return cls((float(temp_c),))

    @classmethod
    def from_csv(cls, path: Path) -> WeatherSeries:
        """Load a file; rows must be hours 0, 1, 2, … in order. Raises WeatherFileError."""
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise WeatherFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str) -> WeatherSeries:
        """Parse a file's text; `source` names it in every WeatherFileError."""
        header: list[str] | None = None
        hour_col = temp_col = 0
        temps: list[float] = []
        for line_no, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = [field.strip() for field in line.split(",")]
            if header is None:
                header = fields
                for column in (HOUR_COLUMN, TEMP_COLUMN):
                    if column not in header:
                        raise WeatherFileError(
                            f"{source} line {line_no}: header has no column {column!r}"
                            f" (found {', '.join(header)})"
                        )
                hour_col, temp_col = header.index(HOUR_COLUMN), header.index(TEMP_COLUMN)
                continue
            if len(fields) != len(header):
                raise WeatherFileError(
                    f"{source} line {line_no}: {len(fields)} fields, the header has {len(header)}"
                )
            hour = _number(source, line_no, HOUR_COLUMN, fields[hour_col])
            if hour != len(temps):
                raise WeatherFileError(
                    f"{source} line {line_no}: {HOUR_COLUMN} {fields[hour_col]!r} is out of order,"
                    f" expected {len(temps)}"
                )
            temp = _number(source, line_no, TEMP_COLUMN, fields[temp_col])
            if not MIN_PLAUSIBLE_C <= temp <= MAX_PLAUSIBLE_C:
                raise WeatherFileError(
                    f"{source} line {line_no}: {TEMP_COLUMN} {fields[temp_col]!r} is outside"
                    f" {MIN_PLAUSIBLE_C:g}..{MAX_PLAUSIBLE_C:g} °C"
                )
            temps.append(temp)
        if header is None:
            raise WeatherFileError(f"{source}: empty file, expected a header line")
        if not temps:
            raise WeatherFileError(f"{source}: no data rows after the header")
        return cls(tuple(temps))

    @property
    def hours(self) -> int:
        """Length of the repeating period in hours (8760 for a weather year, 1 for a constant)."""
        return len(self._hourly_c)

    def outdoor_c(self, sim_time_s: float) -> float:
        """Outdoor temperature at `sim_time_s`, linear between hours; any finite time works."""
        if not math.isfinite(sim_time_s):
            raise ValueError(f"simulated time must be finite, got {sim_time_s}")
        count = len(self._hourly_c)
        position = (sim_time_s / HOUR_S) % count
        index = int(position)
        if index >= count:  # a tiny negative time can round up to exactly `count`
            index, position = 0, 0.0
        frac = position - index
        before = self._hourly_c[index]
        after = self._hourly_c[(index + 1) % count]
        return before + (after - before) * frac


def _number(source: str, line_no: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise WeatherFileError(
            f"{source} line {line_no}: {column} {text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise WeatherFileError(f"{source} line {line_no}: {column} {text!r} is not finite")
    return value


@functools.cache
def default_weather() -> WeatherSeries:
    """The typical year that ships in the package: Greensboro, NC (NREL TMY3 station 723170)."""
    resource = resources.files("heater_physics") / "data" / DEFAULT_WEATHER_FILE
    return WeatherSeries.from_text(resource.read_text(encoding="utf-8"), source=str(resource))
