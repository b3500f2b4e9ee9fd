"""Weather series: hourly files, interpolation, wrap-around, clear errors, the packaged year."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import pytest

from heater_physics.weather import WeatherFileError, WeatherSeries, default_weather

HOUR = 3600.0
HEADER = "hour_of_year,outdoor_temp_c,ghi_w_m2,wind_m_s"


def write(tmp_path: Path, text: str, name: str = "town.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def four_hours(tmp_path: Path) -> WeatherSeries:
    rows = ["0,0.0,0,1", "1,10.0,0,1", "2,20.0,0,1", "3,-10.0,0,1"]
    return WeatherSeries.from_csv(write(tmp_path, "\n".join(["# a comment", HEADER, *rows])))


def test_greensboro_is_a_full_year_with_a_cold_january() -> None:
    series = default_weather()
    assert series.hours == 8760
    january = [series.outdoor_c(hour * HOUR) for hour in range(31 * 24)]
    july = [series.outdoor_c((181 * 24 + hour) * HOUR) for hour in range(31 * 24)]
    assert sum(january) / len(january) < 8.0, "January in Greensboro should be cold"
    assert sum(july) / len(july) > 20.0, "July in Greensboro should be warm"


def test_greensboro_wraps_from_the_last_hour_to_the_first() -> None:
    series = default_weather()
    first, last = series.outdoor_c(0.0), series.outdoor_c(8759 * HOUR)
    assert (first, last) == (10.0, 2.2)  # the file's first and last rows
    assert series.outdoor_c(8759.5 * HOUR) == pytest.approx((first + last) / 2)
    assert series.outdoor_c(8760 * HOUR) == pytest.approx(first)
    assert series.outdoor_c(-0.5 * HOUR) == pytest.approx((first + last) / 2)


def test_interpolates_linearly_between_hours(four_hours: WeatherSeries) -> None:
    assert four_hours.outdoor_c(0.0) == 0.0
    assert four_hours.outdoor_c(0.5 * HOUR) == pytest.approx(5.0)
    assert four_hours.outdoor_c(1.25 * HOUR) == pytest.approx(12.5)
    assert four_hours.outdoor_c(2.5 * HOUR) == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(3.5, -5.0), (4.0, 0.0), (4.5, 5.0), (-0.5, -5.0), (-4.0, 0.0), (4 * 1000 + 1.0, 10.0)],
)
def test_wraps_around_the_end_in_both_directions(
    four_hours: WeatherSeries, hours: float, expected: float
) -> None:
    assert four_hours.outdoor_c(hours * HOUR) == pytest.approx(expected)


def test_tiny_negative_time_does_not_fall_off_the_end(four_hours: WeatherSeries) -> None:
    assert four_hours.outdoor_c(-1e-300) == pytest.approx(0.0)


def test_non_finite_time_is_rejected(four_hours: WeatherSeries) -> None:
    with pytest.raises(ValueError, match="finite"):
        four_hours.outdoor_c(math.nan)


def test_constant_is_the_same_at_any_time() -> None:
    series = WeatherSeries.constant(-3.5)
    assert {series.outdoor_c(t) for t in (0.0, 1234.5, -1e7, 1e9)} == {-3.5}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([HEADER, "0,1.0,0,1", "1,abc,0,1"], "line 3: outdoor_temp_c 'abc' is not a number"),
        (["#c", "#c", HEADER, "0,1.0,0,1", "x,2.0,0,1"], "line 5: hour_of_year 'x' is not a"),
        ([HEADER, "0,1.0,0,1", "2,1.0,0,1"], "line 3: hour_of_year '2' is out of order"),
        ([HEADER, "0,nan,0,1"], "line 2: outdoor_temp_c 'nan' is not finite"),
        ([HEADER, "0,150,0,1"], "line 2: outdoor_temp_c '150' is outside -90..60"),
        ([HEADER, "0,1.0,0"], "line 2: 3 fields, the header has 4"),
        (["# only", "hour_of_year,temp,ghi"], "line 2: header has no column 'outdoor_temp_c'"),
        ([HEADER], "no data rows"),
        (["# nothing but comments"], "empty file"),
        ([], "empty file"),
    ],
)
def test_bad_files_name_the_file_line_column_and_value(
    tmp_path: Path, lines: list[str], expected: str
) -> None:
    path = write(tmp_path, "\n".join(lines), name="greensboro.csv")
    with pytest.raises(WeatherFileError) as info:
        WeatherSeries.from_csv(path)
    assert "greensboro.csv" in str(info.value)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_utf8_file_is_a_weather_file_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\n0,1.0,0,1 \xb0C\n".encode("latin-1"))
    with pytest.raises(WeatherFileError, match=r"latin1\.csv: not UTF-8"):
        WeatherSeries.from_csv(path)


def test_the_packaged_year_reads_like_the_same_file_given_as_a_path(tmp_path: Path) -> None:
    text = (resources.files("heater_physics") / "data" / "greensboro_hourly.csv").read_text("utf-8")
    copied = write(tmp_path, text, name="my_town.csv")
    mine, packaged = WeatherSeries.from_csv(copied), default_weather()
    assert mine.hours == packaged.hours == 8760
    times = [hour * HOUR for hour in range(0, 8760, 97)]
    assert [mine.outdoor_c(t) for t in times] == [packaged.outdoor_c(t) for t in times]
    assert default_weather() is packaged, "the packaged year is parsed once"
