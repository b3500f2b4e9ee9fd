"""Outdoor temperature from an hourly weather year, interpolated and wrapped; one year ships."""

from __future__ import annotations

import functools
import math
import re
from importlib import resources
from pathlib import Path

from heater_physics.units import HOUR_S

HOUR_COLUMN = "hour_of_year"
TEMP_COLUMN = "outdoor_temp_c"
# Colder or hotter than anything measured on Earth: the file is wrong, not the weather.
MIN_PLAUSIBLE_C = -90.0
MAX_PLAUSIBLE_C = 60.0
# EnergyPlus EPW: "LOCATION,..." first, 8 header lines, data rows of 35 fields.
EPW_FIRST_FIELD = "LOCATION"
EPW_HEADER_LINES = 8
EPW_MIN_FIELDS = 7
EPW_DRY_BULB_FIELD = 6
# NREL TMY3 CSV: a station line (USAF number first), a header line, data rows.
TMY3_TEMP_COLUMN = "Dry-bulb (C)"
TMY3_TIME_COLUMN = "Time (HH:MM)"
_TMY3_STATION = re.compile(r"^\d{6},")
# The typical year that ships in the package (see data/PROVENANCE.md).
DEFAULT_WEATHER_FILE = "greensboro_hourly.csv"


class WeatherFileError(ValueError):
    """A weather file that cannot be used; the message names the file, line, column and value."""


class WeatherSeries:
    """Hourly outdoor temperatures, repeated forever: the year after the last hour is the first.

    Simulated time counts seconds since 1 January 00:00 of the weather year. Three file formats
    are read (`from_file`), told apart by their content: EnergyPlus EPW, NREL TMY3 CSV, and the
    package's own hourly CSV (`#` lines are comments, a header names the columns, rows are hours
    0, 1, 2, … in order, with at least `hour_of_year` and `outdoor_temp_c`).
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
    def from_file(cls, path: Path) -> WeatherSeries:
        """Load a weather file of any format this reads, told apart by its content: an
        EnergyPlus EPW file, an NREL TMY3 CSV, or the package's own hourly CSV. Raises
        WeatherFileError naming the file, the line and what was expected."""
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise WeatherFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
        return cls.from_any_text(text, source=str(path))

    from_csv = from_file  # the name it had when only the package's CSV was read

    @classmethod
    def from_any_text(cls, text: str, *, source: str) -> WeatherSeries:
        """A file's text in any format this reads (see `from_file`)."""
        lines = text.splitlines()
        first = next((line.strip() for line in lines if line.strip()), "")
        second = lines[1] if len(lines) > 1 else ""
        if first.startswith(EPW_FIRST_FIELD + ","):
            return cls(_epw_hours(lines, source))
        if TMY3_TEMP_COLUMN in second and _TMY3_STATION.match(first):
            return cls(_tmy3_hours(lines, source))
        if not first or first.startswith("#") or HOUR_COLUMN in first or TEMP_COLUMN in first:
            return cls.from_text(text, source=source)
        raise WeatherFileError(
            f"{source} line 1: not a weather file this reads ({first[:40]!r}): expected an "
            f"EnergyPlus EPW file (starting {EPW_FIRST_FIELD},...), an NREL TMY3 CSV (a station "
            f"line, then a header with {TMY3_TEMP_COLUMN!r}) or a CSV with the columns "
            f"{HOUR_COLUMN},{TEMP_COLUMN}"
        )

    @classmethod
    def from_text(cls, text: str, *, source: str) -> WeatherSeries:
        """Parse the package's hourly CSV; `source` names it in every WeatherFileError."""
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


def _epw_hours(lines: list[str], source: str) -> tuple[float, ...]:
    """EnergyPlus weather: 8 header lines, then one row per hour, dry bulb in field 7 (°C).
    The hour field counts 1-24 (hour ending); rows must follow each other hour by hour."""
    if len(lines) <= EPW_HEADER_LINES:
        raise WeatherFileError(f"{source}: an EPW file with no data rows after its 8 header lines")
    temps: list[float] = []
    for line_no, raw in enumerate(lines[EPW_HEADER_LINES:], start=EPW_HEADER_LINES + 1):
        if not raw.strip():
            continue
        fields = raw.split(",")
        if len(fields) < EPW_MIN_FIELDS:
            raise WeatherFileError(
                f"{source} line {line_no}: {len(fields)} fields, an EPW data row has 35"
            )
        hour = _number(source, line_no, "hour", fields[3])
        if not 1 <= hour <= 24 or hour != (len(temps) % 24) + 1:
            raise WeatherFileError(
                f"{source} line {line_no}: hour {fields[3]!r} is out of order, expected "
                f"{(len(temps) % 24) + 1}"
            )
        temps.append(_temperature(source, line_no, "dry bulb", fields[EPW_DRY_BULB_FIELD]))
    return tuple(temps)


def _tmy3_hours(lines: list[str], source: str) -> tuple[float, ...]:
    """NREL TMY3: a station line, a header, then one row per hour ('HH:MM' from 01:00 to
    24:00, hour ending), the temperature in the column named 'Dry-bulb (C)'."""
    header = [field.strip() for field in lines[1].split(",")]
    temp_col, time_col = header.index(TMY3_TEMP_COLUMN), header.index(TMY3_TIME_COLUMN)
    temps: list[float] = []
    for line_no, raw in enumerate(lines[2:], start=3):
        if not raw.strip():
            continue
        fields = raw.split(",")
        if len(fields) != len(header):
            raise WeatherFileError(
                f"{source} line {line_no}: {len(fields)} fields, the header has {len(header)}"
            )
        expected = f"{(len(temps) % 24) + 1:02d}:00"
        if fields[time_col].strip() != expected:
            raise WeatherFileError(
                f"{source} line {line_no}: {TMY3_TIME_COLUMN} {fields[time_col]!r} is out of "
                f"order, expected {expected}"
            )
        temps.append(_temperature(source, line_no, TMY3_TEMP_COLUMN, fields[temp_col]))
    if not temps:
        raise WeatherFileError(f"{source}: a TMY3 file with no data rows after its header")
    return tuple(temps)


def _temperature(source: str, line_no: int, column: str, text: str) -> float:
    value = _number(source, line_no, column, text)
    if not MIN_PLAUSIBLE_C <= value <= MAX_PLAUSIBLE_C:  # 99.9 (EPW), -9900 (TMY3): missing
        raise WeatherFileError(
            f"{source} line {line_no}: {column} {text.strip()!r} is outside "
            f"{MIN_PLAUSIBLE_C:g}..{MAX_PLAUSIBLE_C:g} °C (a missing value?)"
        )
    return value


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
