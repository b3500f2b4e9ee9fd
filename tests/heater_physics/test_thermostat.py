"""The wall thermostat: schedule by time of day, knob and remote overrides, next change."""

from __future__ import annotations

import math

import pytest

from heater_physics.plant import PlantKind
from heater_physics.thermostat import KNOB_RANGE_C, ScheduledThermostat, SetpointOrigin

H = 3600.0
DAY = 86400.0
ROOM_SCHEDULE = [(7.0, 19.0), (22.0, 16.0)]
SCHEDULE, KNOB, REMOTE = SetpointOrigin.SCHEDULE, SetpointOrigin.KNOB, SetpointOrigin.REMOTE


@pytest.fixture
def room() -> ScheduledThermostat:
    return ScheduledThermostat(ROOM_SCHEDULE)


@pytest.mark.parametrize(
    ("time_s", "expected"),
    [
        (3 * H, 16.0),  # before the first change, yesterday's last one holds
        (7 * H, 19.0),
        (7 * H - 1, 16.0),
        (12 * H, 19.0),
        (22 * H, 16.0),
        (5 * DAY + 8 * H, 19.0),
        (-1 * H, 16.0),  # 23:00 the day before
    ],
)
def test_schedule_follows_time_of_day(
    room: ScheduledThermostat, time_s: float, expected: float
) -> None:
    assert room.setpoint(time_s) == (expected, SCHEDULE)


def test_knob_holds_until_the_next_scheduled_change(room: ScheduledThermostat) -> None:
    room.turn_knob(22.0, 10 * H)
    assert room.setpoint(10 * H) == (22.0, KNOB)
    assert room.setpoint(22 * H - 1) == (22.0, KNOB)
    assert room.setpoint(22 * H) == (16.0, SCHEDULE)
    assert room.setpoint(DAY + 10 * H) == (19.0, SCHEDULE), "an expired knob must not come back"


def test_knob_turned_late_holds_past_midnight(room: ScheduledThermostat) -> None:
    room.turn_knob(20.5, 23 * H)
    assert room.setpoint(DAY + 6 * H) == (20.5, KNOB)
    assert room.setpoint(DAY + 7 * H) == (19.0, SCHEDULE)


def test_knob_on_a_flat_schedule_holds_for_good() -> None:
    boiler = ScheduledThermostat([(0.0, 55.0)], knob_range_c=KNOB_RANGE_C[PlantKind.TANK])
    boiler.turn_knob(60.0, 5 * H)
    assert boiler.setpoint(30 * DAY) == (60.0, KNOB)


@pytest.mark.parametrize("value", [4.9, 30.1, -40.0, math.nan, math.inf])
def test_knob_outside_its_range_is_refused_and_named(
    room: ScheduledThermostat, value: float
) -> None:
    with pytest.raises(ValueError, match=r"outside 5\.\.30 °C") as info:
        room.turn_knob(value, 10 * H)
    assert str(value) in str(info.value)
    assert room.setpoint(10 * H) == (19.0, SCHEDULE), "a refused knob must change nothing"


def test_knob_range_edges_are_accepted(room: ScheduledThermostat) -> None:
    room.turn_knob(5.0, 10 * H)
    assert room.setpoint(10 * H) == (5.0, KNOB)
    room.turn_knob(30.0, 10 * H)
    assert room.setpoint(10 * H) == (30.0, KNOB)


def test_remote_setpoint_holds_until_the_change_and_the_knob_replaces_it(
    room: ScheduledThermostat,
) -> None:
    room.set_remote(35.0, 8 * H)  # the MCU checked its hard limits, not the knob's range
    assert room.setpoint(9 * H) == (35.0, REMOTE)
    room.turn_knob(21.0, 9 * H)
    assert room.setpoint(9 * H) == (21.0, KNOB)
    room.set_remote(18.0, 21 * H)
    assert room.setpoint(22 * H) == (16.0, SCHEDULE)
    with pytest.raises(ValueError, match="finite"):
        room.set_remote(math.nan, 0.0)


@pytest.mark.parametrize(
    ("time_s", "expected"),
    [
        (6 * H, (1 * H, 19.0)),
        (7 * H, (15 * H, 16.0)),
        (21 * H, (1 * H, 16.0)),
        (23 * H, (8 * H, 19.0)),
        (3 * DAY + 23.5 * H, (7.5 * H, 19.0)),
    ],
)
def test_next_change_gives_seconds_from_now_and_setpoint(
    room: ScheduledThermostat, time_s: float, expected: tuple[float, float]
) -> None:
    upcoming = room.next_change(time_s)
    assert upcoming is not None
    assert upcoming[0] == pytest.approx(expected[0])
    assert upcoming[1] == expected[1]


def test_next_change_is_unchanged_by_an_override(room: ScheduledThermostat) -> None:
    room.turn_knob(21.0, 21 * H)  # as in PROTOCOL.md: KNOB 21 °C, next 16 °C in 3600 s
    assert room.setpoint(21 * H) == (21.0, KNOB)
    assert room.next_change(21 * H) == (3600.0, 16.0)


def test_flat_schedule_has_no_next_change() -> None:
    assert ScheduledThermostat([(0.0, 55.0)]).next_change(1234.0) is None
    assert ScheduledThermostat([(6.0, 20.0), (18.0, 20.0)]).next_change(0.0) is None


def test_entries_that_repeat_the_setpoint_are_not_changes() -> None:
    thermostat = ScheduledThermostat([(22.0, 16.0), (7.0, 19.0), (12.0, 19.0)])
    assert thermostat.schedule == ((7.0, 19.0), (22.0, 16.0))
    assert thermostat.next_change(8 * H) == (14 * H, 16.0)
    thermostat.turn_knob(23.0, 8 * H)
    assert thermostat.setpoint(13 * H) == (23.0, KNOB), "12:00 repeats 19 °C: not a change"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([], "at least one"),
        ([(24.0, 19.0)], "0 <= hour < 24"),
        ([(-1.0, 19.0)], "0 <= hour < 24"),
        ([(7.0, math.nan)], "finite setpoint"),
        ([(7.0, 19.0), (7.0, 16.0)], "same hour"),
    ],
)
def test_bad_schedules_are_refused(schedule: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduledThermostat(schedule)


def test_bad_knob_range_is_refused() -> None:
    with pytest.raises(ValueError, match="low < high"):
        ScheduledThermostat(ROOM_SCHEDULE, knob_range_c=(30.0, 5.0))
