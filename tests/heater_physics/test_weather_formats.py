"""`--weather` takes the formats users have, told apart by content: EnergyPlus EPW, NREL TMY3
CSV, and the package's hourly CSV. Fixtures are small files of real data in the real layouts
(tests/fixtures/weather/PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heater_physics.weather import WeatherFileError, WeatherSeries, default_weather

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "weather"
TMY3 = FIXTURES / "sand_point_tmy3_48h.csv"
EPW = FIXTURES / "greensboro_48h.epw"
HOUR = 3600.0


def test_a_tmy3_file_reads_its_dry_bulb_column_hour_by_hour() -> None:
    series = WeatherSeries.from_file(TMY3)
    assert series.hours == 48
    # Rows 1-2 of Sand Point's year: 4.0 and 4.0 °C at 01:00 and 02:00 (hour ending).
    assert series.outdoor_c(0.0) == 4.0 and series.outdoor_c(HOUR) == 4.0


def test_an_epw_file_reads_field_seven_and_matches_the_packaged_year() -> None:
    series = WeatherSeries.from_file(EPW)
    packaged = default_weather()
    assert series.hours == 48
    # The same station's TMY3 rows as the packaged Greensboro year: the same temperatures.
    assert [series.outdoor_c(h * HOUR) for h in range(48)] == [
        packaged.outdoor_c(h * HOUR) for h in range(48)
    ]


@pytest.mark.parametrize(
    ("source", "edit", "message"),
    [
        (TMY3, lambda t: t.replace("01/01/1997,02:00", "01/01/1997,03:00", 1), r"line 4: Time"),
        (TMY3, lambda t: t.replace(",4.0,E,9,3.0", ",-9900,E,9,3.0", 1), r"line 3: Dry-bulb"),
        (EPW, lambda t: t.replace("1988,1,1,2,60", "1988,1,1,5,60", 1), r"line 10: hour '5'"),
        (EPW, lambda t: t.replace(",10.0,6.1,77,", ",99.9,6.1,77,", 1), r"line 9: dry bulb '99.9'"),
    ],
)
def test_a_bad_row_is_named_by_file_line_and_what_was_expected(
    tmp_path: Path, source: Path, edit: object, message: str
) -> None:
    broken = tmp_path / source.name
    broken.write_text(edit(source.read_text(encoding="utf-8")), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(WeatherFileError, match=message) as info:
        WeatherSeries.from_file(broken)
    assert str(broken) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_file_of_no_known_format_says_which_formats_it_expected(tmp_path: Path) -> None:
    path = tmp_path / "weather.txt"
    path.write_text("date,temp\n2024-01-01,3.0\n", encoding="utf-8")
    with pytest.raises(WeatherFileError) as info:
        WeatherSeries.from_file(path)
    text = str(info.value)
    assert f"{path} line 1" in text and "EPW" in text and "TMY3" in text
    assert "hour_of_year" in text and "\n" not in text
